"""The benchmark row: what one entry of a saved run holds in its `extra_info`, one dataclass per kind.

The suite writes every entry through `record` (a missing or unknown field is a TypeError in the benchmark that
wrote it) and the report reads every entry through `read` (a field the report needs that the run lacks is one
`SchemaError` naming it), so a renamed key fails on both sides instead of becoming NaN in a table.
Required fields have no default; a default marks a field that some rows cannot have (a peer has no parameter
count, the noisy input no artifact)."""
from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

TRACKS = ("proxy", "real")


class SchemaError(ValueError):
    """An entry that does not match its kind's row: names the benchmark and the fields."""


@dataclass(kw_only=True)
class Entry:
    """Every entry: what was measured (kind, the model it describes) and how (device, threads, batch, audio)."""
    track: str                       # "proxy" (the report's proxy tables) or "real" (testsets/real)
    kind: str
    variant: str                     # a registry id, 'real:<row>', 'peer:<name>' or 'noisy'
    profile: str | None              # None: one measurement stands for every profile in `profiles`
    profiles: list[str]
    device: str
    threads: int
    batch: int
    audio_seconds_per_call: float
    budget: str
    data: str
    model_label: str
    compression: str
    in_report: bool
    parent: str | None
    recipe: list[str] = field(default_factory=list)   # the compression steps' names ([] for a parent, a peer)
    # the chain as the registry describes it (compress.registry.describe)
    recipe_string: str | None = None
    int8_recipe: bool = False
    dynamic_quant: bool = False
    reshapes: bool = False
    user_recipe: bool = False
    teacher: str | None = None
    # the artifact: footprint of the model the row describes (None for a peer or the input)
    artifact: str | None = None      # first 16 hex digits of the model file's SHA-256, or a peer's identity
    architecture: str | None = None  # budget-scale | full-scale | shipped | peer
    params: int | None = None
    macs: int | None = None
    size_bytes: int | None = None
    quant: str | None = None
    int8_layers: int | None = None
    int8_layer_names: list[str] = field(default_factory=list)
    widths: list[int] | None = None
    # the real track's description of a row (compress.real / realzoo)
    real_row: str | None = None
    role: str | None = None          # parent | child | in-run | peer | noisy
    real_parent: str | None = None
    causal: bool | None = None
    width: int | None = None
    training: dict | None = None
    peer: str | None = None
    native_rate: int | None = None


@dataclass(kw_only=True)
class Timed(Entry):
    """Percentiles of per-call times (bench._info.timing_info)."""
    p50_ms: float
    p90_ms: float
    p99_ms: float
    best_round_ms: float
    calls_per_round: int
    samples_ms: list[float]


@dataclass(kw_only=True)
class Latency(Timed):
    """End to end on a clip: ms of compute per second of audio (timing.e2e_info)."""
    e2e_audio_seconds: float
    ms_per_s: float
    ms_per_s_p90: float
    rtf: float
    e2e_calls: int
    model_ms_per_tile: float | None = None     # model-only time of one tile (U-Nets only)
    macs_per_s: float | None = None
    peak_forward_bytes: int | None = None
    state: str | None = None                   # a peer's: 'persistent' between calls
    resample_ms_per_s: float | None = None     # a peer's 16 kHz <-> native rate resampling, timed alone
    timing: str | None = None                  # the real track's protocol: 'interleaved' rounds or 'sequential'
    round_ms: list[float] | None = None        # interleaved: mean ms per call in each round (rounds shared by rows)


@dataclass(kw_only=True)
class FullScale(Timed):
    """A model call of the untrained full-width twin on one tile."""


@dataclass(kw_only=True)
class Streaming(Timed):
    """The live engine per call, and its quality against the offline path on the same utterances."""
    mode: str
    step_frames: int
    lookahead_frames: int
    context_frames: int | None
    algorithmic_latency_ms: float
    call_budget_ms: float
    engine: str
    keeps_up: bool
    live_si_sdr: float
    offline_si_sdr: float
    noisy_si_sdr: float
    live_pesq_wb: float
    offline_pesq_wb: float
    noisy_pesq_wb: float
    live_quality_utterances: int


@dataclass(kw_only=True)
class Quality(Entry):
    """Scores per item of a test set (lists in item order) and the timed enhancement of its first items."""
    utterance_ids: list[str]
    recordings: list[str]
    speakers: list[str]
    noise_kinds: list[str | None]
    snr_db: list[float | None]
    metrics: dict[str, list[float]]
    means: dict[str, float]
    n_utterances: int
    timed_utterances: int
    timed_audio_seconds: float
    realtime_factor: float
    nan_counts: dict[str, int] | None = None
    parts: list[str | None] | None = None       # the real set's part of each item
    loss_history: list | None = None
    stage_steps: int | None = None
    teacher_steps: int | None = None
    pretrained_teacher: bool | None = None
    examples: dict = field(default_factory=dict)  # the report's example clips, by noise kind


@dataclass(kw_only=True)
class Footprint(Entry):
    """The artifact's size and loading time, and its full-width twin's."""
    float_convs: int
    full_params: int
    full_macs: int
    full_size_bytes: int
    full_int8_layers: int
    full_peak_forward_bytes: int
    build_seconds: float | None
    prune_log: list


@dataclass(kw_only=True)
class Throughput(Entry):
    """Batched model calls of the full-width twin."""
    tiles_per_second: float
    realtime_factor: float


KINDS: dict[str, type[Entry]] = {"latency": Latency, "full-scale": FullScale, "streaming": Streaming,
                                 "quality": Quality, "footprint": Footprint, "throughput": Throughput}


def required(cls: type[Entry]) -> set[str]:
    """The fields of a row that have no default: every entry of that kind must carry them."""
    return {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}


def row(**values: Any) -> dict:
    """A checked entry: the row of values['kind'] built from exactly these fields, as a JSON-ready dict.
    TypeError on a missing or unknown field (the benchmark that wrote it fails, naming it)."""
    kind = values.get("kind")
    if kind not in KINDS:
        raise TypeError(f"benchmark row: unknown kind {kind!r} (known: {', '.join(KINDS)})")
    if values.get("track") not in TRACKS:
        raise TypeError(f"benchmark row: track {values.get('track')!r} is not one of {TRACKS}")
    return asdict(KINDS[kind](**values))


def record(benchmark, **values: Any) -> None:
    """Write one checked row into a pytest-benchmark fixture's extra_info."""
    benchmark.extra_info.update(row(**values))


def read(extra_info: dict, name: str = "?") -> Entry:
    """The row of one saved entry. SchemaError when its kind is unknown or a required field is missing (a run
    written by an older suite, or a renamed key); fields the report does not know are ignored."""
    kind = extra_info.get("kind")
    if kind not in KINDS:
        raise SchemaError(f"benchmark {name}: unknown kind {kind!r} (not a chvoice suite entry, or an older one)")
    cls = KINDS[kind]
    missing = sorted(required(cls) - set(extra_info))
    if missing:
        raise SchemaError(f"benchmark {name}: a {kind} entry without {', '.join(missing)} (written by an older "
                          f"suite? rerun `pytest bench --benchmark-autosave`)")
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in extra_info.items() if k in known})
