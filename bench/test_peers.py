"""Peer denoisers on the same utterances and the same timing protocol, behind the same interface."""
from __future__ import annotations

import numpy as np
import pytest

from bench._info import SAMPLE_RATE, TILE_SECONDS, base_info, timing_info
from bench.test_quality import record, timed_enhance
from chvoice_core.baselines import PEERS
from chvoice_core.scoring import Enhancer


def _peer(name, persistent=False):
    ok, why = PEERS[name].available()
    if not ok:
        pytest.skip(f"peer {name}: {why}")
    return PEERS[name](persistent=persistent)


def _peer_info(name):
    return {"variant": f"peer:{name}", "peer": name, "recipe": [], "model_label": "Peer", "compression": name,
            "in_report": False, "parent": None}


@pytest.mark.benchmark(group="peers")
def test_peer_quality(benchmark, zoo, scorer, settings, peer, profile):
    p = _peer(peer)
    items = zoo.testset(profile)
    outputs, timing = timed_enhance(benchmark, p, items)
    record(benchmark, items, Enhancer.peer(peer), outputs, scorer,
           {**_peer_info(peer), **base_info("quality", settings, profile, 1, timing["timed_audio_seconds"]), **timing},
           settings)


@pytest.mark.benchmark(group="peers")
def test_peer_latency(benchmark, zoo, settings, peer):
    """ms per 1.02 s of audio, one thread: the same unit as a U-Net tile. Peers have no per-profile model,
    so they are timed once (profile None: the figure stands for every profile). The peer keeps its state
    between calls, as when streaming: per-file set-up (DeepFilterNet3 loads its model, 0.35 s) is not timed."""
    p = _peer(peer, persistent=True)
    x = zoo.testset(settings.profiles[0])[0].mixture.noisy
    x = np.resize(x, int(TILE_SECONDS * SAMPLE_RATE)).astype(np.float32)
    rounds, calls = settings.rounds
    p(x)
    benchmark.pedantic(p, args=(x,), rounds=rounds * calls, iterations=1)
    benchmark.extra_info.update(_peer_info(peer), **base_info("latency", settings, None, 1, TILE_SECONDS),
                                state="persistent", **timing_info(benchmark.stats.stats.data, calls))
