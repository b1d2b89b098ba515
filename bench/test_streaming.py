"""Live mode: per-call compute of the streaming engine on the full-scale architectures, against the time a
call may take (the audio of one step), and the quality cost of live mode against offline (tiled) processing
on the same utterances, for each low-latency mode (all 31.75 ms; they trade model calls for lookahead)."""
from __future__ import annotations

import numpy as np
import pytest

from bench._info import base_info, footprint_info, timing_info, variant_info
from chvoice_core.scoring import Enhancer
from chvoice_core.stream import StreamConfig, StreamingDenoiser

LIVE_CANDIDATES = ("normal", "normal-kd", "normal-kd-int8", "normal-kd-prune-int8", "normal-kd-prune-qat")
# every candidate runs the default mode; the other modes on the teacher and the smallest student only
MODES = {"low-latency": LIVE_CANDIDATES, "low-latency-hq": ("normal", "normal-kd-prune-int8"),
         "no-lookahead": ("normal", "normal-kd-prune-int8")}
QUALITY_UTTERANCES = 30
PRIMING_CALLS = 4


def pytest_generate_tests(metafunc):
    if "live_variant" in metafunc.fixturenames:
        selected = metafunc.config._chvoice_settings.variants
        cases = [(v, m) for m, vs in MODES.items() for v in vs if v in selected]
        metafunc.parametrize("live_variant,live_mode", cases, ids=[f"{v}-{m}" for v, m in cases])


@pytest.mark.benchmark(group="streaming")
def test_streaming(benchmark, zoo, build, scorer, settings, live_variant, live_mode):
    if settings.device != "cpu":
        pytest.skip("the live engine runs on the CPU")
    profile = settings.profiles[0]
    build(live_variant, profile)
    model, meta = zoo.full_scale(live_variant, profile)
    cfg = StreamConfig.mode(live_mode)
    engine = StreamingDenoiser(model, cfg)
    step_samples = cfg.step_frames * engine.fe.hop
    block = np.resize(zoo.testset(profile)[0].mixture.noisy, step_samples).astype(np.float32)
    for _ in range(PRIMING_CALLS):   # a call costs the same whatever the context holds: a few warm it up
        engine.process(block)
    rounds, calls = settings.rounds
    benchmark.pedantic(engine.process, args=(block,), rounds=rounds * calls, iterations=1)
    timing = timing_info(benchmark.stats.stats.data, calls)

    # quality cost of live mode: the budget-scale model streamed vs the same model offline (scored, cached,
    # in the scorer's workers)
    entry = build(live_variant, profile)
    items = zoo.testset(profile)[:QUALITY_UTTERANCES]
    pairs = [(it.mixture.noisy, it.mixture.clean) for it in items]
    live_scores = [s["si_sdr"] for s in scorer.score(Enhancer.stream(entry.path, live_mode), pairs, which=("si_sdr",))]
    offline_scores = [s["si_sdr"] for s in scorer.score(Enhancer.artifact(entry.path), pairs, which=("si_sdr",))]
    noisy_scores = [s["si_sdr"] for s in scorer.score(Enhancer.identity(), pairs, which=("si_sdr",))]
    benchmark.extra_info.update(
        variant_info(live_variant), **base_info("streaming", settings, profile, 1, step_samples / engine.fe.sample_rate),
        **footprint_info(meta), architecture="full-scale", mode=live_mode, step_frames=cfg.step_frames,
        lookahead_frames=cfg.lookahead_frames, context_frames=cfg.context_frames,
        algorithmic_latency_ms=engine.algorithmic_latency_ms, call_budget_ms=engine.call_budget_ms,
        keeps_up=bool(timing["p99_ms"] < engine.call_budget_ms), **timing,
        live_si_sdr=float(np.mean(live_scores)), offline_si_sdr=float(np.mean(offline_scores)),
        noisy_si_sdr=float(np.mean(noisy_scores)), live_quality_utterances=len(items))
