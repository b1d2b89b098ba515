"""Latency: ms per 1.02 s tile, on the report's full-scale architectures (widths 64 / 32), whatever the
budget; the report's protocol (3 rounds x N calls, best round) plus per-call percentiles.

A latency case is a distinct full-scale architecture: variants whose recipe does not prune have the same
twin for every profile and are timed once (profile None in extra_info, standing for all of `profiles`);
pruned variants are timed per profile."""
from __future__ import annotations

import pytest
import torch

from bench._info import TILE_SECONDS, base_info, footprint_info, timing_info, variant_info


def _timed(model, x, device):
    def call():
        with torch.inference_mode():
            model(x)
        if device == "cuda":
            torch.cuda.synchronize()   # inside the timed call: CUDA launches are asynchronous
    return call


def _model_on(zoo, build, settings, variant, profile):
    build(variant, profile)
    model, meta = zoo.full_scale(variant, profile)
    if settings.device == "cuda":
        if meta.get("quant"):
            pytest.skip(f"{variant}: int8 (FX, fbgemm/x86) kernels run on the CPU only")
        model = model.cuda()
    return model, meta


@pytest.mark.benchmark(group="latency")
def test_latency(benchmark, zoo, build, settings, variant, latency_profile):
    profile = settings.profiles[0] if latency_profile == "all" else latency_profile
    model, meta = _model_on(zoo, build, settings, variant, profile)
    x = zoo.calibration(profile, 8)[:1].to(settings.device)
    rounds, calls = settings.rounds
    call = _timed(model, x, settings.device)
    call()     # first call: lazy initialisation, outside the timed rounds
    benchmark.pedantic(call, rounds=rounds * calls, iterations=1, warmup_rounds=1)
    benchmark.extra_info.update(variant_info(variant),
                                **base_info("latency", settings, None if latency_profile == "all" else profile, 1,
                                            TILE_SECONDS),
                                **footprint_info(meta), architecture="full-scale",
                                widths=list(meta["config"].conv_widths()),
                                **timing_info(benchmark.stats.stats.data, calls))


@pytest.mark.benchmark(group="throughput")
def test_throughput(benchmark, zoo, build, settings, variant):
    profile = settings.profiles[0]
    model, meta = _model_on(zoo, build, settings, variant, profile)
    batch = 8
    x = zoo.calibration(profile, 8)[:batch].to(settings.device)
    call = _timed(model, x, settings.device)
    call()
    benchmark.pedantic(call, rounds=2, iterations=1)
    best = min(benchmark.stats.stats.data)
    benchmark.extra_info.update(variant_info(variant), **base_info("throughput", settings, profile, batch,
                                                                     batch * TILE_SECONDS),
                                **footprint_info(meta), architecture="full-scale",
                                tiles_per_second=batch / best, realtime_factor=batch * TILE_SECONDS / best)
