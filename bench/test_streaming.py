"""Live mode: per-call compute of the streaming engine (one model call per 3 hops) on the full-scale
architectures, against the 23.8 ms a call may take, and the quality cost of low-latency mode against
offline (tiled) processing on the same utterances."""
from __future__ import annotations

import numpy as np
import pytest

from bench._info import base_info, footprint_info, timing_info, variant_info
from chvoice_core.scoring import Enhancer
from chvoice_core.stream import StreamConfig, StreamingDenoiser

LIVE_CANDIDATES = ("normal", "normal-kd", "normal-kd-int8", "normal-kd-prune-int8", "normal-kd-prune-qat")
QUALITY_UTTERANCES = 30
PRIMING_CALLS = 4


def pytest_generate_tests(metafunc):
    if "live_variant" in metafunc.fixturenames:
        chosen = [v for v in LIVE_CANDIDATES if v in metafunc.config._chvoice_settings.variants]
        metafunc.parametrize("live_variant", chosen)


@pytest.mark.benchmark(group="streaming")
def test_streaming(benchmark, zoo, build, scorer, settings, live_variant):
    if settings.device != "cpu":
        pytest.skip("the live engine runs on the CPU")
    profile = settings.profiles[0]
    build(live_variant, profile)
    model, meta = zoo.full_scale(live_variant, profile)
    cfg = StreamConfig.mode("low-latency")
    engine = StreamingDenoiser(model, cfg)
    block = np.resize(zoo.testset(profile)[0].mixture.noisy, cfg.step_frames * 127).astype(np.float32)
    for _ in range(PRIMING_CALLS):   # a call costs the same whatever the context holds: a few warm it up
        engine.process(block)
    rounds, calls = settings.rounds
    benchmark.pedantic(engine.process, args=(block,), rounds=rounds * calls, iterations=1)
    timing = timing_info(benchmark.stats.stats.data, calls)
    budget_ms = 1000 * cfg.step_frames * 127 / 16000

    # quality cost of live mode: the budget-scale model streamed vs the same model offline (scored, cached,
    # in the scorer's workers)
    entry = build(live_variant, profile)
    items = zoo.testset(profile)[:QUALITY_UTTERANCES]
    pairs = [(it.mixture.noisy, it.mixture.clean) for it in items]
    live_scores = [s["si_sdr"] for s in scorer.score(Enhancer.stream(entry.path, "low-latency"), pairs,
                                                     which=("si_sdr",))]
    offline_scores = [s["si_sdr"] for s in scorer.score(Enhancer.artifact(entry.path), pairs, which=("si_sdr",))]
    benchmark.extra_info.update(
        variant_info(live_variant), **base_info("streaming", settings, profile, 1, cfg.step_frames * 127 / 16000),
        **footprint_info(meta), architecture="full-scale", mode="low-latency",
        algorithmic_latency_ms=engine.algorithmic_latency_ms, call_budget_ms=budget_ms,
        keeps_up=bool(timing["p99_ms"] < budget_ms), **timing,
        live_si_sdr=float(np.mean(live_scores)), offline_si_sdr=float(np.mean(offline_scores)),
        live_quality_utterances=len(items))
