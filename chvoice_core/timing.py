"""One end-to-end unit for every denoiser: compute per second of audio through the whole path a user runs.

A U-Net's path is `Denoiser.enhance` (`user_call`), whose engine `Denoiser.run` is what `chvoice denoise`, the web
app and `evaluate` run too: STFT, per-tile normalisation, every model call with the real tile overlap, cross-fade,
inverse STFT, chunk by chunk. A peer's path is `Peer.process`: its resampling to its own rate and back and
its frame loop. Both take 16 kHz audio [N] and return [N]; the peers' delay search (`Peer.__call__`, which
exists only so the benchmark can score aligned signals) is outside the timed path. Model-only time per tile is a
second, separate figure (`model_call`).
"""
from __future__ import annotations

import os
import time
from typing import Callable

import numpy as np
import torch

from .models.io import file_digest

SAMPLE_RATE = 16_000
E2E_SECONDS = 4.0        # the clip every end-to-end timing runs on: 4 s holds 7 overlapping tiles


def e2e_clip(x: np.ndarray, seconds: float = E2E_SECONDS) -> np.ndarray:
    """x repeated or cut to `seconds` of 16 kHz audio (float32 [seconds * 16000])."""
    return np.resize(np.asarray(x, np.float32), int(round(seconds * SAMPLE_RATE))).astype(np.float32)


def user_call(den) -> Callable[[np.ndarray], np.ndarray]:
    """What a user runs on 16 kHz audio, `load(...).enhance(x, 16000)`, for a Denoiser `den`: [N] -> [N]."""
    return lambda x: den.enhance(x, SAMPLE_RATE)


def end_to_end(fn: Callable[[np.ndarray], np.ndarray], clip: np.ndarray) -> Callable[[], np.ndarray]:
    """The timed call: the whole user path of a denoiser on one clip. fn: 16 kHz [N] -> [N]."""
    def call() -> np.ndarray:
        with torch.inference_mode():
            y = fn(clip)
        if len(y) != len(clip):
            raise ValueError(f"a denoiser returned {len(y)} samples for {len(clip)}")
        return y
    return call


def e2e_info(samples_s: list[float], audio_seconds: float) -> dict:
    """ms of compute per second of audio (median and p90 of the calls) and the real-time factor (audio seconds
    per compute second, from the median call)."""
    s = np.asarray(samples_s, dtype=float)
    p50 = float(np.percentile(s, 50))
    return {"e2e_audio_seconds": round(audio_seconds, 4), "ms_per_s": 1000 * p50 / audio_seconds,
            "ms_per_s_p90": 1000 * float(np.percentile(s, 90)) / audio_seconds,
            "rtf": audio_seconds / p50 if p50 > 0 else float("nan"), "e2e_calls": len(s)}


def call_times(fn: Callable[[], object], calls: int, warmup: int = 1) -> list[float]:
    """Seconds of each of `calls` timed calls of fn(), after `warmup` untimed ones (lazy initialisation, caches)."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return ts


def interleaved_times(calls: dict[str, Callable[[], object]], rounds: int, per_round: int = 1, seed: int = 0,
                      warmup: int = 1) -> dict[str, list[list[float]]]:
    """Seconds of every call, timed in interleaved rounds: each round runs every entry `per_round` times, the entries
    in a fresh random order, so the host's drift (clock, neighbours, thermal) falls on all of them alike and a ratio
    of two entries can be bootstrapped over rounds. -> name -> [round][call] seconds."""
    for fn in calls.values():
        for _ in range(warmup):
            fn()
    rng = np.random.default_rng(seed)
    names = list(calls)
    out: dict[str, list[list[float]]] = {n: [] for n in names}
    for _ in range(rounds):
        for i in rng.permutation(len(names)):
            out[names[i]].append(call_times(calls[names[i]], per_round, warmup=0))
    return out


def model_call(model: torch.nn.Module, tile: torch.Tensor, calls: int = 10) -> dict:
    """Model-only time of one [1, 1, F, T] tile (median of `calls`), the second column next to ms/s."""
    with torch.inference_mode():
        ts = call_times(lambda: model(tile), calls)
    return {"model_ms_per_tile": 1000 * float(np.median(ts))}


def artifact_digest(path: str | os.PathLike) -> str:
    """The first 16 hex digits of the SHA-256 of a model file: names the exact artifact a row describes."""
    return file_digest(path)
