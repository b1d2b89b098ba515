"""Peer denoisers on the same utterances and the same timing protocol, behind the same interface."""
from __future__ import annotations

import pytest

from bench._info import base_info, timing_info
from chvoice_core.benchrows import record
from bench.test_quality import record_quality, timed_enhance
from chvoice_core.baselines import PEERS
from chvoice_core.scoring import Enhancer
from chvoice_core.timing import e2e_clip, e2e_info, end_to_end


def make_peer(name, persistent=False):
    ok, why = PEERS[name].available()
    if not ok:
        pytest.skip(f"peer {name}: {why}")
    return PEERS[name](persistent=persistent)


def peer_info(name):
    return {"variant": f"peer:{name}", "peer": name, "recipe": [], "model_label": "Peer", "compression": name,
            "in_report": False, "parent": None, "artifact": Enhancer.peer(name).key.split("/", 1)[1].rsplit("/", 1)[0]}


@pytest.mark.benchmark(group="peers")
def test_peer_quality(benchmark, zoo, scorer, settings, peer, profile):
    p = make_peer(peer)
    items = zoo.testset(profile)
    outputs, timing = timed_enhance(benchmark, p, items)
    record_quality(benchmark, items, Enhancer.peer(peer), outputs, scorer,
           {**peer_info(peer), **base_info("quality", settings, profile, 1, timing["timed_audio_seconds"]), **timing},
           settings)


@pytest.mark.benchmark(group="latency")
def test_peer_latency(benchmark, zoo, settings, peer):
    """End to end through the same helper as the U-Nets (chvoice_core.timing): the peer's whole path on 16 kHz
    audio (its resampling and frame loop; its delay search is outside the timed call), per second of audio.
    Peers have no per-profile model, so they are timed once (profile None: the figure stands for every profile).
    The peer keeps its state between calls, as when streaming: per-file set-up (DeepFilterNet3 loads its model,
    0.35 s) is not timed."""
    p = make_peer(peer, persistent=True)
    clip = e2e_clip(zoo.testset(settings.profiles[0])[0].mixture.noisy)
    rounds, calls = settings.rounds
    call = end_to_end(p.process, clip)
    call()
    benchmark.pedantic(call, rounds=rounds * calls, iterations=1)
    record(benchmark, **peer_info(peer), **base_info("latency", settings, None, 1, len(clip) / 16000),
                                state="persistent", architecture="peer",
                                **e2e_info(benchmark.stats.stats.data, len(clip) / 16000),
                                **timing_info(benchmark.stats.stats.data, calls))
