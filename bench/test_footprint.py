"""Footprint: parameters, MACs per 1.02 s tile, size on disk and peak forward memory, for the budget-scale
artifact and its full-scale twin. The timed part is loading the artifact from disk."""
from __future__ import annotations

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from bench._info import TILE_SECONDS, base_info, footprint_info, variant_info
from chvoice_core.benchrows import record
from chvoice_core.compress.artifact import load_artifact


def peak_forward_bytes(model, x) -> int:
    """Peak of torch-allocated CPU memory during one forward pass, replaying the profiler's per-op
    allocation deltas in time order (activations and workspaces; weights excluded)."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        with torch.inference_mode():
            model(x)
    cur = peak = 0
    for e in sorted(prof.events(), key=lambda e: e.time_range.start):
        cur += e.self_cpu_memory_usage
        peak = max(peak, cur)
    return int(peak)


@pytest.mark.benchmark(group="footprint")
def test_footprint(benchmark, zoo, build, settings, variant, profile):
    entry = build(variant, profile)
    benchmark.pedantic(load_artifact, args=(entry.path,), rounds=3, iterations=1)
    full, fmeta = zoo.full_scale(variant, profile)
    x = zoo.calibration(profile, 8)[:1]
    record(
        benchmark, **variant_info(settings.variant(variant)), **base_info("footprint", settings, profile, 1, TILE_SECONDS),
        **footprint_info(entry.meta), float_convs=len(entry.meta.get("float_convs", [])),
        full_params=int(fmeta["params"]), full_macs=int(fmeta["macs"]), full_size_bytes=int(fmeta["size_bytes"]),
        full_int8_layers=len(fmeta["int8_layers"]), full_peak_forward_bytes=peak_forward_bytes(full, x),
        build_seconds=entry.meta.get("build_seconds"), prune_log=entry.meta.get("prune_log", []))
