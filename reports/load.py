"""Read a saved pytest-benchmark run of the chvoice suite into tidy pandas tables."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from chvoice_core.benchrows import Entry, Footprint, FullScale, Latency, Quality, SchemaError, Streaming, Throughput, read


class ReportError(Exception):
    """Bad input to the report generator: printed as one line, non-zero exit."""


@dataclass
class RealTrack:
    """The real track: one row per model in `rows` (what it is), per item in `quality`, per (model, threads) in
    `latency`. Variants are 'real:<row>', 'peer:<name>' and 'noisy'; the profile column reads 'real'."""

    rows: pd.DataFrame
    quality: pd.DataFrame
    latency: pd.DataFrame


def _real_track(entries: list[tuple[dict, Entry]]) -> RealTrack | None:
    rows, qual, lat = [], [], []
    for _, e in entries:
        if e.track != "real":
            continue
        base = {k: getattr(e, k) for k in ("variant", "role", "real_parent", "parent", "recipe_string", "artifact",
                                           "params", "macs", "size_bytes", "quant", "int8_layers", "causal", "width",
                                           "training", "peer", "native_rate")}
        if isinstance(e, Quality):
            rows.append(base)
            parts = e.parts or [None] * len(e.utterance_ids)
            for i, uid in enumerate(e.utterance_ids):
                qual.append({"variant": e.variant, "profile": "real", "id": uid, "speaker": e.speakers[i],
                             "recording": e.recordings[i], "part": parts[i],
                             **{k: _num(v[i]) for k, v in e.metrics.items()}})
        elif isinstance(e, Latency):
            rows.append(base)
            lat.append({**base, "threads": e.threads, "ms_per_s": _num(e.ms_per_s), "rtf": _num(e.rtf),
                        "model_ms_per_tile": _num(e.model_ms_per_tile), "macs_per_s": _num(e.macs_per_s),
                        "peak_forward_bytes": _num(e.peak_forward_bytes),
                        "resample_ms_per_s": _num(e.resample_ms_per_s), "samples_ms": e.samples_ms,
                        "calls_per_round": e.calls_per_round, "timing": e.timing, "round_ms": e.round_ms,
                        "profile": "real"})
    if not rows:          # every quality and latency benchmark adds its row
        return None
    return RealTrack(pd.DataFrame(rows), pd.DataFrame(qual), pd.DataFrame(lat))


@dataclass
class Run:
    path: Path
    raw: dict
    latency: pd.DataFrame      # one row per (variant, profile): end-to-end timing of the artifact the quality row scored
    full_scale: pd.DataFrame   # one row per (variant, profile): model call of the untrained full-width architecture
    quality: pd.DataFrame      # one row per (variant, profile, utterance)
    footprint: pd.DataFrame    # one row per (variant, profile)
    throughput: pd.DataFrame
    rows: pd.DataFrame         # one row per quality benchmark (variant, profile): metadata incl. loss history
    streaming: pd.DataFrame    # one row per (variant, live mode): live engine timing and quality
    real: "RealTrack | None" = None   # the real track (shipped models on the repo's real recordings), if run

    @property
    def settings(self) -> dict:
        return self.raw["machine_info"].get("chvoice", {})

    @property
    def profiles(self) -> list[str]:
        order = ["weighted", "equal", "no-reverb"]
        found = set(self.quality.get("profile", [])) | set(self.latency.get("profile", []))
        return [p for p in order if p in found] + sorted(found - set(order))


def newest_run(root: str | os.PathLike = ".benchmarks") -> Path:
    """The most recent autosaved run (pytest-benchmark: .benchmarks/<machine>/<NNNN>_<commit>_<date>.json)."""
    root = Path(root)
    runs = sorted(root.glob("*/*.json"), key=lambda p: (p.stat().st_mtime, p.name)) if root.is_dir() else []
    if not runs:
        raise ReportError(f"no benchmark runs under {root}/ (run `pytest bench --benchmark-autosave` first, "
                          f"or pass --run PATH)")
    return runs[-1]


def load_run(path: str | os.PathLike) -> Run:
    path = Path(path)
    if not path.is_file():
        raise ReportError(f"{path}: no such file")
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ReportError(f"{path}: not a JSON file ({err.__class__.__name__})") from None
    if not isinstance(raw, dict) or "benchmarks" not in raw or "machine_info" not in raw:
        raise ReportError(f"{path}: not a pytest-benchmark run (no 'benchmarks' / 'machine_info')")
    if "chvoice" not in raw["machine_info"]:
        raise ReportError(f"{path}: a pytest-benchmark run from another suite (no chvoice machine_info); "
                          f"run `pytest bench --benchmark-autosave` to make one")
    try:
        entries = [(b, read(b.get("extra_info", {}), b.get("name", "?"))) for b in raw["benchmarks"]]
    except SchemaError as err:
        raise ReportError(f"{path}: {err}") from None
    lat, full, qual, fp, thr, rows, live = [], [], [], [], [], [], []
    real = _real_track(entries)
    for b, e in entries:
        if e.track == "real":
            continue
        base = {k: getattr(e, k) for k in ("variant", "profile", "model_label", "compression", "in_report", "parent",
                                           "device", "threads", "batch", "audio_seconds_per_call")}
        base["recipe"] = e.recipe_string or " -> ".join(e.recipe) or "-"
        base["int8_recipe"] = e.int8_recipe
        base["dynamic_quant"] = e.dynamic_quant
        if isinstance(e, (Latency, FullScale)):
            row = {**base, "group": b["group"], "best_round_ms": e.best_round_ms, "p50_ms": e.p50_ms,
                   "p90_ms": e.p90_ms, "p99_ms": e.p99_ms, "samples_ms": e.samples_ms, "params": e.params,
                   "macs": e.macs, "size_bytes": e.size_bytes, "int8_layers": e.int8_layers,
                   "calls_per_round": e.calls_per_round, "shared": e.profile is None, "artifact": e.artifact,
                   "ms_per_s": _num(getattr(e, "ms_per_s", None)), "rtf": _num(getattr(e, "rtf", None)),
                   "model_ms_per_tile": _num(getattr(e, "model_ms_per_tile", None)),
                   "architecture": e.architecture}
            # one measurement that stands for several profiles (same architecture) becomes a row per profile
            for p in ([e.profile] if e.profile is not None else e.profiles or [None]):
                (lat if isinstance(e, Latency) else full).append({**row, "profile": p})
        elif isinstance(e, Quality):
            rows.append({**base, "group": b["group"], "loss_history": e.loss_history or [],
                         "width": e.width, "stage_steps": e.stage_steps, "teacher_steps": e.teacher_steps,
                         "data": e.data, "artifact": e.artifact, "examples": e.examples, "params": e.params,
                         "macs": e.macs, "size_bytes": e.size_bytes, "int8_layers": e.int8_layers,
                         "enhance_seconds": b["stats"]["min"]})
            for i, uid in enumerate(e.utterance_ids):
                qual.append({"variant": e.variant, "profile": e.profile, "id": uid, "noise": e.noise_kinds[i],
                             "speaker": e.speakers[i], "recording": e.recordings[i],
                             **{m: _num(v[i]) for m, v in e.metrics.items()}})
        elif isinstance(e, Footprint):
            fp.append({**base, "params": e.params, "macs": e.macs, "size_bytes": e.size_bytes,
                       "int8_layers": e.int8_layers, "full_params": e.full_params, "full_macs": e.full_macs,
                       "full_size_bytes": e.full_size_bytes, "full_peak_forward_bytes": e.full_peak_forward_bytes,
                       "load_ms": b["stats"]["min"] * 1000})
        elif isinstance(e, Streaming):
            live.append({**base, "mode": e.mode, "step_frames": e.step_frames, "lookahead_frames": e.lookahead_frames,
                         "algorithmic_latency_ms": e.algorithmic_latency_ms, "call_budget_ms": e.call_budget_ms,
                         "p50_ms": e.p50_ms, "p99_ms": e.p99_ms, "keeps_up": e.keeps_up,
                         "noisy_si_sdr": _num(e.noisy_si_sdr), "offline_si_sdr": _num(e.offline_si_sdr),
                         "live_si_sdr": _num(e.live_si_sdr), "n_utterances": e.live_quality_utterances,
                         "noisy_pesq_wb": _num(e.noisy_pesq_wb), "offline_pesq_wb": _num(e.offline_pesq_wb),
                         "live_pesq_wb": _num(e.live_pesq_wb), "engine": e.engine, "artifact": e.artifact,
                         "architecture": e.architecture})
        elif isinstance(e, Throughput):
            thr.append({**base, "tiles_per_second": e.tiles_per_second, "realtime_factor": e.realtime_factor})
    if not lat and not qual and not full and real is None:
        raise ReportError(f"{path}: the run holds no latency or quality benchmarks")
    cols_q = ["variant", "profile", "id", "noise", "rms_db", "si_sdr", "pesq_wb", "stoi"]
    return Run(path, raw, pd.DataFrame(lat), pd.DataFrame(full), pd.DataFrame(qual, columns=None if qual else cols_q),
               pd.DataFrame(fp), pd.DataFrame(thr), pd.DataFrame(rows), pd.DataFrame(live), real)


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def variant_order(run: Run) -> list[str]:
    """The variant table's order, then peers, then anything else; the noisy reference first."""
    from chvoice_core.compress.recipes import VARIANTS
    seen = set(run.quality.get("variant", pd.Series(dtype=str))) | set(run.latency.get("variant", pd.Series(dtype=str)))
    ordered = (["noisy"] if "noisy" in seen else []) + [v for v in VARIANTS if v in seen]
    return ordered + sorted(seen - set(ordered))


def finite_mean(x) -> float:
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    return float(x.mean()) if len(x) else float("nan")
