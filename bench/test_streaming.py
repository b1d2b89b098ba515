"""Live mode: per-call compute of the streaming engine against the time a call may take (the audio of one
step), and the quality cost of live mode against offline processing on the same utterances.

Zoo variants: each low-latency mode of the rolling-context engine (all 31.75 ms; they trade model calls for
lookahead), timed on the artifact whose live and offline quality the row reports. Shipped models: the causal
live model (`chvoice live`'s default: one hop per call, computing only the new frame) and the non-causal default
model in the low-latency mode, timed and scored the same way."""
from __future__ import annotations

import numpy as np
import pytest

from bench._info import base_info, footprint_info, timing_info, variant_info
from chvoice_core.benchrows import record
from chvoice_core.compress.artifact import load_artifact
from chvoice_core.scoring import Enhancer
from chvoice_core.families import make_streamer
from chvoice_core.causal_stream import CausalStreamingDenoiser
from chvoice_core.timing import artifact_digest

LIVE_CANDIDATES = ("normal", "normal-kd-int8", "normal-kd-prune-int8")
# every candidate runs the default mode; the other modes on the teacher and the smallest student only
MODES = {"low-latency": LIVE_CANDIDATES, "low-latency-hq": ("normal", "normal-kd-prune-int8"),
         "no-lookahead": ("normal", "normal-kd-prune-int8"),
         "causal": ("causal", "causal-int8", "causal-prune50-int8")}     # one hop per call, only the new frame
QUALITY_UTTERANCES = 12      # live vs offline on the same utterances: a paired difference, small spread
PRIMING_CALLS = 4
SHIPPED = {"shipped:live-causal": ("live", "causal"), "shipped:default-low-latency": ("default", "low-latency")}


def pytest_generate_tests(metafunc):
    if "live_variant" in metafunc.fixturenames:
        selected = metafunc.config._chvoice_settings.variants
        cases = [(v, m) for m, vs in MODES.items() for v in vs if v in selected]
        metafunc.parametrize("live_variant,live_mode", cases, ids=[f"{v}-{m}" for v, m in cases])
    if "shipped" in metafunc.fixturenames:
        metafunc.parametrize("shipped", list(SHIPPED))


def _time_engine(benchmark, engine, clip, settings) -> dict:
    step_samples = engine.cfg.step_frames * engine.fe.hop
    block = np.resize(clip, step_samples).astype(np.float32)
    engine.warm_up()
    for _ in range(PRIMING_CALLS):   # a call costs the same whatever the context holds: a few warm it up
        engine.process(block)
    rounds, calls = settings.rounds
    # a causal hop is cheap: time more of them, so that p99 rests on hundreds of calls
    n = rounds * calls * (10 if isinstance(engine, CausalStreamingDenoiser) else 1)
    benchmark.pedantic(engine.process, args=(block,), rounds=n, iterations=1)
    return timing_info(benchmark.stats.stats.data, n // rounds)


def _live_quality(scorer, path, mode, items) -> dict:
    pairs = [(it.mixture.noisy, it.mixture.clean) for it in items]
    which = ("si_sdr", "pesq_wb")
    live = scorer.score(Enhancer.stream(path, mode), pairs, which=which)
    off = scorer.score(Enhancer.artifact(path), pairs, which=which)
    noisy = scorer.score(Enhancer.identity(), pairs, which=which)
    mean = lambda rows, m: float(np.nanmean([r[m] for r in rows]))
    return {"live_si_sdr": mean(live, "si_sdr"), "offline_si_sdr": mean(off, "si_sdr"),
            "noisy_si_sdr": mean(noisy, "si_sdr"), "live_pesq_wb": mean(live, "pesq_wb"),
            "offline_pesq_wb": mean(off, "pesq_wb"), "noisy_pesq_wb": mean(noisy, "pesq_wb"),
            "live_quality_utterances": len(items)}


def _engine_info(engine, mode) -> dict:
    c = engine.cfg
    return {"mode": mode, "step_frames": c.step_frames, "lookahead_frames": c.lookahead_frames,
            "context_frames": c.context_frames, "algorithmic_latency_ms": engine.algorithmic_latency_ms,
            "call_budget_ms": engine.call_budget_ms, "engine": getattr(engine, "backend", "rolling context")}


@pytest.mark.benchmark(group="streaming")
def test_streaming(benchmark, zoo, build, scorer, settings, live_variant, live_mode):
    if settings.device != "cpu":
        pytest.skip("the live engine runs on the CPU")
    profile = settings.profiles[0]
    entry = build(live_variant, profile)
    engine = make_streamer(entry.model, live_mode)
    items = zoo.testset(profile)
    timing = _time_engine(benchmark, engine, items[0].mixture.noisy, settings)
    record(
        benchmark, **variant_info(settings.variant(live_variant)), **base_info("streaming", settings, profile, 1,
                                                engine.cfg.step_frames * engine.fe.hop / engine.fe.sample_rate),
        **footprint_info(entry.meta), architecture="budget-scale", artifact=artifact_digest(entry.path),
        **_engine_info(engine, live_mode), keeps_up=bool(timing["p99_ms"] < engine.call_budget_ms), **timing,
        **_live_quality(scorer, entry.path, live_mode, items[:QUALITY_UTTERANCES]))


@pytest.mark.benchmark(group="streaming")
def test_streaming_shipped(benchmark, zoo, scorer, settings, shipped):
    if settings.device != "cpu":
        pytest.skip("the live engine runs on the CPU")
    from chvoice_core.api import model_path
    from chvoice_core.errors import ChvoiceError
    name, mode = SHIPPED[shipped]
    try:
        path = model_path(name)      # the package's one resolver of shipped names
    except ChvoiceError as e:
        pytest.skip(str(e))
    model, meta = load_artifact(path)
    engine = make_streamer(model, mode)
    profile = settings.profiles[0]
    items = zoo.testset(profile)
    timing = _time_engine(benchmark, engine, items[0].mixture.noisy, settings)
    from chvoice_core.models.footprint import count_macs, count_params
    from chvoice_core.models.unet import UNet
    twin = UNet(meta["config"])
    record(
        benchmark, **{"variant": shipped, "recipe": [], "model_label": "Shipped", "compression": name, "in_report": False,
         "parent": None}, **base_info("streaming", settings, profile, 1,
                                      engine.cfg.step_frames * engine.fe.hop / engine.fe.sample_rate),
        params=count_params(twin), macs=count_macs(twin), size_bytes=meta["size_bytes"], quant=meta.get("quant"),
        architecture="shipped", artifact=artifact_digest(path), **_engine_info(engine, mode),
        keeps_up=bool(timing["p99_ms"] < engine.call_budget_ms), **timing,
        **_live_quality(scorer, path, mode, items[:QUALITY_UTTERANCES]))
