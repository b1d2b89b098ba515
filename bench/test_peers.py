"""Peer denoisers on the same utterances and the same timing protocol, behind the same interface."""
from __future__ import annotations

import numpy as np
import pytest

from bench._info import SAMPLE_RATE, TILE_SECONDS, base_info, timing_info
from bench.test_quality import _record
from chvoice_core.baselines import PEERS, run_peer


def _peer(name):
    ok, why = PEERS[name].available()
    if not ok:
        pytest.skip(f"peer {name}: {why}")
    return PEERS[name]()


def _peer_info(name):
    return {"variant": f"peer:{name}", "peer": name, "recipe": [], "model_label": "Peer", "compression": name,
            "in_report": False, "parent": None}


@pytest.mark.benchmark(group="peers")
def test_peer_quality(benchmark, zoo, scorer, settings, peer, profile):
    _peer(peer)
    items = zoo.testset(profile)
    noisy = [it.mixture.noisy for it in items]
    # peers are single-threaded C/numpy code: the test set is shared between the scorer's worker processes
    outputs = benchmark.pedantic(lambda: scorer.map(run_peer, [peer] * len(noisy), noisy), rounds=1, iterations=1)
    seconds = sum(len(x) for x in noisy) / SAMPLE_RATE
    _record(benchmark, items, outputs, scorer, {**_peer_info(peer), **base_info("quality", settings, profile, 1, seconds),
                                                "enhance_workers": scorer.workers}, settings)


@pytest.mark.benchmark(group="peers")
def test_peer_latency(benchmark, zoo, settings, peer):
    """ms per 1.02 s of audio, one thread: the same unit as a U-Net tile."""
    p = _peer(peer)
    x = zoo.testset(settings.profiles[0])[0].mixture.noisy
    x = np.resize(x, int(TILE_SECONDS * SAMPLE_RATE)).astype(np.float32)
    rounds, calls = settings.rounds
    p(x)
    benchmark.pedantic(p, args=(x,), rounds=rounds * calls, iterations=1)
    benchmark.extra_info.update(_peer_info(peer), **base_info("latency", settings, settings.profiles[0], 1, TILE_SECONDS),
                                **timing_info(benchmark.stats.stats.data, calls))
