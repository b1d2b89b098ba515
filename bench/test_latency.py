"""Speed, in two clearly separate groups.

`latency` (the figures the report divides): the very artifact each quality row scored (same file digest),
timed end to end through `chvoice_core.timing` on a 4 s clip, batch 1, --threads: ms of compute per second of
audio and the real-time factor, with model-only ms per 1.02 s tile as a second column. QAT rows time their own
int8 model. Peers are timed through the same helper (test_peers.py).

`full-scale` (architecture cost, never divided by a trained model's quality): the report's full-width
architectures (64/32) with the variant's pruning ratios and quantization, untrained, model call on one tile;
the report's protocol (3 rounds x N calls, best round) plus per-call percentiles. A case is a distinct
full-scale architecture: recipes that do not prune share one twin across profiles (profile None)."""
from __future__ import annotations

import pytest
import torch

from bench._info import TILE_SECONDS, base_info, footprint_info, timing_info, variant_info
from chvoice_core.benchrows import record
from chvoice_core.enhance import Denoiser
from chvoice_core.timing import artifact_digest, e2e_clip, e2e_info, end_to_end, model_call, user_call


def _timed(model, x, device):
    def call():
        with torch.inference_mode():
            model(x)
        if device == "cuda":
            torch.cuda.synchronize()   # inside the timed call: CUDA launches are asynchronous
    return call


def _twin_on(zoo, build, settings, variant, profile):
    build(variant, profile)
    model, meta = zoo.full_scale(variant, profile)
    if settings.device == "cuda":
        if meta.get("quant"):
            pytest.skip(f"{variant}: int8 (FX, fbgemm/x86) kernels run on the CPU only")
        model = model.cuda()
    return model, meta


@pytest.mark.benchmark(group="latency")
def test_latency(benchmark, zoo, build, settings, variant, profile):
    """End to end, on the artifact the quality row of (variant, profile) scored."""
    entry = build(variant, profile)
    if settings.device == "cuda" and entry.meta.get("quant"):
        pytest.skip(f"{variant}: int8 (FX, fbgemm/x86) kernels run on the CPU only")
    den = Denoiser(entry.model.to(settings.device), device=settings.device)
    clip = e2e_clip(zoo.testset(profile)[0].mixture.noisy)
    rounds, calls = settings.rounds
    call = end_to_end(user_call(den), clip)
    call()      # lazy initialisation (oneDNN primitives, int8 weight packing) outside the timed calls
    benchmark.pedantic(call, rounds=rounds * calls, iterations=1, warmup_rounds=1)
    tile = zoo.calibration(profile, 8)[:1].to(settings.device)
    record(benchmark, **variant_info(settings.variant(variant)), **base_info("latency", settings, profile, 1, len(clip) / 16000),
                                **footprint_info(entry.meta), architecture="budget-scale",
                                artifact=artifact_digest(entry.path),
                                widths=list(entry.config.conv_widths()),
                                **e2e_info(benchmark.stats.stats.data, len(clip) / 16000),
                                **model_call(den.model, tile),
                                **timing_info(benchmark.stats.stats.data, calls))


@pytest.mark.benchmark(group="full-scale")
def test_full_scale_latency(benchmark, zoo, build, settings, variant, latency_profile):
    profile = settings.profiles[0] if latency_profile == "all" else latency_profile
    model, meta = _twin_on(zoo, build, settings, variant, profile)
    x = zoo.calibration(profile, 8)[:1].to(settings.device)
    rounds, calls = settings.full_scale_rounds
    call = _timed(model, x, settings.device)
    call()     # first call: lazy initialisation, outside the timed rounds
    benchmark.pedantic(call, rounds=rounds * calls, iterations=1, warmup_rounds=1)
    record(benchmark, **variant_info(settings.variant(variant)),
                                **base_info("full-scale", settings, None if latency_profile == "all" else profile, 1,
                                            TILE_SECONDS),
                                **footprint_info(meta), architecture="full-scale",
                                widths=list(meta["config"].conv_widths()),
                                **timing_info(benchmark.stats.stats.data, calls))


@pytest.mark.benchmark(group="full-scale")
def test_throughput(benchmark, zoo, build, settings, variant):
    profile = settings.profiles[0]
    model, meta = _twin_on(zoo, build, settings, variant, profile)
    batch = 8
    x = zoo.calibration(profile, 8)[:batch].to(settings.device)
    call = _timed(model, x, settings.device)
    call()     # warm-up outside the timed call
    benchmark.pedantic(call, rounds=1, iterations=1)
    best = min(benchmark.stats.stats.data)
    record(benchmark, **variant_info(settings.variant(variant)), **base_info("throughput", settings, profile, batch,
                                                                     batch * TILE_SECONDS),
                                **footprint_info(meta), architecture="full-scale",
                                tiles_per_second=batch / best, realtime_factor=batch * TILE_SECONDS / best)
