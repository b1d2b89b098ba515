"""Fixtures of the benchmark suite: settings from the root conftest's options, the model zoo, the scorer."""
from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from threadpoolctl import threadpool_limits

from chvoice_core.baselines import PEERS
from chvoice_core.budgets import Budget, get_budget
from chvoice_core.compress.recipes import VARIANTS, Variant, get_variant, load_recipes, report_variants
from chvoice_core.compress.steps import reshapes
from chvoice_core.data import PROFILES, DataConfig
from chvoice_core.data.profiles import REPORT_PROFILES
from chvoice_core.data.sources import default_cache_dir
from chvoice_core.errors import ChvoiceError
from chvoice_core.machine import cpu_facts
from chvoice_core.scoring import Scorer
from chvoice_core.version import CODE_VERSION
from chvoice_core.zoo import Zoo

TRACKS = ("real", "proxy")
DEFAULT_PROXY_VARIANTS = tuple(report_variants()) + ("normal-int8",)
REAL_TRACK_MODULES = ("test_real.py",)   # every other benchmark module is the proxy track
PROXY_PEER_MODULES = ("test_peers.py",)  # the proxy track's peers, run with --proxy-peers


@dataclass(frozen=True)
class Settings:
    device: str
    budget: Budget
    data: DataConfig
    threads: int
    profiles: tuple[str, ...]
    variants: tuple[str, ...]
    cache_dir: Path
    recipes: tuple[Variant, ...] = ()      # user recipes (--recipes FILE), benchmarked beside the table
    tracks: tuple[str, ...] = TRACKS

    def variant(self, variant_id: str) -> Variant:
        return get_variant(variant_id, self.recipes)

    @property
    def rounds(self) -> tuple[int, int]:
        """(rounds, calls per round) of the latency protocol: the report's 3 x 30 at the paper budget."""
        return {"smoke": (3, 2), "quick": (3, 10)}.get(self.budget.name, (3, 30))

    @property
    def full_scale_rounds(self) -> tuple[int, int]:
        """The full-scale group's protocol: untrained full-width twins (60 cases of ~100 ms calls); the default
        `quick` run takes 3 x 5 calls of each to stay within its 20-minute budget, `paper` the report's 3 x 30."""
        return {"smoke": (3, 2), "quick": (3, 5)}.get(self.budget.name, (3, 30))


def _names(value: str | None, known: dict, what: str) -> tuple[str, ...]:
    if not value:
        return tuple(known)
    names = tuple(v.strip() for v in value.split(",") if v.strip())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise pytest.UsageError(f"unknown {what} {', '.join(unknown)}; known: {', '.join(known)}")
    return names


def _settings(config) -> Settings:
    device = config.getoption("--device")
    if device not in ("cpu", "cuda"):
        raise pytest.UsageError(f"--device {device!r}: use cpu or cuda")
    try:
        budget = get_budget(config.getoption("--budget"))
        data = DataConfig(data_root=config.getoption("--data-root"))
        data.resolved()
    except ChvoiceError as e:
        raise pytest.UsageError(str(e)) from None
    threads = config.getoption("--threads")
    if threads < 1:
        raise pytest.UsageError("--threads must be at least 1")
    cache = Path(os.environ.get("CHVOICE_CACHE", default_cache_dir()))
    report_profiles = {p: PROFILES[p] for p in REPORT_PROFILES}   # `general` serves the shipped model, not the table
    recipes: tuple[Variant, ...] = ()
    if config.getoption("--recipes"):
        try:
            recipes = tuple(load_recipes(config.getoption("--recipes")))
        except ChvoiceError as e:
            raise pytest.UsageError(str(e)) from None
    chosen = config.getoption("--variants")
    # the default proxy track: the report's Table 2 rows and static int8 of its teacher; `all` takes the whole table
    # (QAT, PT2E, ONNX Runtime, the causal rows), which the real track's shipped models no longer need for a fit in
    # the main job's 20 minutes
    variants = (DEFAULT_PROXY_VARIANTS if not chosen else tuple(VARIANTS) if chosen == "all"
                else _names(chosen, VARIANTS, "variant"))
    tracks = _names(config.getoption("--tracks"), {t: t for t in TRACKS}, "track")
    return Settings(device, budget, data, threads, _names(config.getoption("--profiles"), report_profiles, "profile"),
                    variants + tuple(r.id for r in recipes), cache, recipes, tracks)


def pytest_collection_modifyitems(config, items):
    """Deselect the benchmarks of the tracks not asked for (--tracks), and the proxy track's peers unless
    --proxy-peers: the real track runs the peers on real recordings, where a reader compares against them, and
    DeepFilterNet3 and RNNoise on 300 synthetic mixtures cost minutes of the main job's 20."""
    tracks = config._chvoice_settings.tracks
    proxy_peers = config.getoption("--proxy-peers")
    keep, drop = [], []
    for it in items:
        track = "real" if it.path.name in REAL_TRACK_MODULES else "proxy"
        wanted = track in tracks and (proxy_peers or it.path.name not in PROXY_PEER_MODULES)
        (keep if wanted else drop).append(it)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_configure(config):
    config._chvoice_settings = _settings(config)
    # inductor's compiled kernels (the PT2E int8 rows) live with the run's other caches: a cold run (an empty
    # CHVOICE_CACHE) then compiles them as a fresh machine would, and a warm run reuses them. Its default,
    # /tmp/torchinductor_<user>, outlived `rm -rf` of the cache and made "cold" runs warm for those rows.
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(config._chvoice_settings.cache_dir / "inductor"))


def pytest_report_header(config):
    s = config._chvoice_settings
    lines = [f"chvoice: tracks={','.join(s.tracks)} budget={s.budget.name} device={s.device} threads={s.threads} "
             f"data={s.data.label} "
             f"profiles={','.join(s.profiles)} variants={len(s.variants)} cache={s.cache_dir}"]
    if s.device == "cuda" and not torch.cuda.is_available():
        lines.append("chvoice: --device cuda requested but no CUDA device is available: CUDA benchmarks will be SKIPPED")
    return lines


def profile_dependent_architecture(v: Variant) -> bool:
    """Pruning picks different filters for each profile's model; every other recipe keeps the architecture,
    so its full-scale twin (hence its latency) is the same for every profile."""
    return reshapes(v.steps)


def pytest_generate_tests(metafunc):
    s = metafunc.config._chvoice_settings
    if "latency_profile" in metafunc.fixturenames:      # full-scale architecture cost
        # one latency case per distinct full-scale architecture: per profile only where pruning made them differ
        cases = [(v, p) for v in s.variants
                 for p in (s.profiles if profile_dependent_architecture(s.variant(v)) else ("all",))]
        metafunc.parametrize("variant,latency_profile", cases,
                             ids=[v if p == "all" else f"{v}-{p}" for v, p in cases])
        return
    if "variant" in metafunc.fixturenames:
        metafunc.parametrize("variant", s.variants)
    if "profile" in metafunc.fixturenames:
        metafunc.parametrize("profile", s.profiles)
    if "peer" in metafunc.fixturenames:
        metafunc.parametrize("peer", list(PEERS))


def pytest_benchmark_update_machine_info(config, machine_info):
    s = config._chvoice_settings
    machine_info["torch"] = torch.__version__
    machine_info["cuda"] = torch.version.cuda if torch.cuda.is_available() else None
    machine_info["cuda_device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    machine_info["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    machine_info["quantized_engines"] = list(torch.backends.quantized.supported_engines)
    machine_info["cpu_count"] = os.cpu_count()
    machine_info["platform"] = platform.platform()
    machine_info["chvoice"] = {"tracks": list(s.tracks), "budget": s.budget.name, "device": s.device, "threads": s.threads,
                               "data": s.data.label, "code_version": CODE_VERSION, "cpu": cpu_facts(),
                               "pretrained": _pretrained_teachers(s)}


def _pretrained_teachers(s: Settings) -> list[dict]:
    """Which teachers this run took from the package rather than training them (and how they were trained)."""
    zoo = Zoo(s.budget, s.data, cache_dir=s.cache_dir / "bench", progress=False)
    out = []
    for arch in sorted({s.variant(v).arch for v in s.variants if not s.variant(v).teacher}):
        for p in s.profiles:
            found = zoo.pretrained_parent(arch, p)
            if found is not None:
                m = found[1]
                out.append({"arch": arch, "profile": p, "train_steps": m.get("train_steps"),
                            "batch_size": m.get("batch_size"), "loss": m.get("loss"), "data": m.get("data")})
    return out


@pytest.fixture(scope="session")
def settings(request) -> Settings:
    s = request.config._chvoice_settings
    if s.device == "cuda" and not torch.cuda.is_available():
        pytest.skip("--device cuda requested, but torch.cuda.is_available() is False on this machine")
    return s


@pytest.fixture(scope="session")
def zoo(settings) -> Zoo:
    return Zoo(settings.budget, settings.data, cache_dir=settings.cache_dir / "bench", device=settings.device,
               progress=True, extra_variants=settings.recipes)


@pytest.fixture(scope="session")
def zoo_real(settings) -> Zoo:
    """Calibration tiles for the real track's in-run children: training-side audio of the run's data (built-in
    unless --data-root), the shipped models' `general` profile."""
    return Zoo(get_budget("real"), settings.data, cache_dir=settings.cache_dir / "bench", device="cpu", progress=False)


@pytest.fixture(scope="session")
def scorer(settings):
    s = Scorer(settings.cache_dir / "bench" / "scores", workers=2)
    yield s
    s.close()


@pytest.fixture(autouse=True)
def _timing_environment(settings):
    torch.set_num_threads(settings.threads)
    torch.set_flush_denormal(True)     # CPU convs can slow 5-50x on denormals
    with threadpool_limits(settings.threads):   # numpy/scipy (peers) obey --threads too
        yield


@pytest.fixture(scope="session")
def build(request, zoo, settings):
    """build(variant, profile) -> zoo Entry. The first call builds every selected (variant, profile) in two
    single-threaded worker processes; output capture is off so build progress shows."""
    capman = request.config.pluginmanager.getplugin("capturemanager")
    state = {"prebuilt": False}

    def _build(variant: str, profile: str):
        with capman.global_and_fixture_disabled():
            if not state["prebuilt"]:
                state["prebuilt"] = True
                print(f"\nchvoice: building the model zoo ({len(settings.variants)} variants x "
                      f"{len(settings.profiles)} profiles, budget {settings.budget.name}) - cached entries are reused",
                      flush=True)
                zoo.prebuild(list(settings.variants), list(settings.profiles), workers=2,
                             log=lambda line: print(line, flush=True))
            return zoo.entry(variant, profile)
    return _build
