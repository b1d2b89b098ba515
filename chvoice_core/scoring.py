"""Parallel, cached per-utterance scoring for the benchmarks.

A score depends only on what produced the estimate and on the (noisy, clean) pair, so it is cached under a
digest of (enhancer content key, noisy, clean, metrics). An `Enhancer` is a picklable recipe (a model
artifact on disk, a streaming engine, a peer, or the identity) that a worker process rebuilds once; on a
cache miss the worker enhances and scores the utterance itself, so a cold run spreads both over the workers
and a warm run reads scores without enhancing anything. Timing is never cached: the benchmarks time their
own calls every run. Workers run one thread each (parallel.one_thread_worker).
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable

import numpy as np

from .audio_io import atomic_path
from .baselines import PEERS, run_peer
from .compress.artifact import load_artifact
from .enhance import Denoiser
from .families import make_streamer
from .metrics import score_pair
from .models.io import file_digest
from .parallel import one_thread_worker
from .stream import LIVE_MODES
from .version import CODE_VERSION

# "pause": the noisy input's and the estimate's energy in the reference's pauses per band (metrics.pause_energies,
# pooled by the report); "dnsmos": DNSMOS of the estimate (0.35 s an item: the real track only)
BENCH_METRICS = ("rms_db", "si_sdr", "pesq_wb", "stoi", "pause")


@dataclass(frozen=True)
class Enhancer:
    """How a worker turns a noisy utterance [N] into an estimate [N]; `key` names its exact content
    (artifact digest, peer package version) plus the code version, so a changed model is never a cache hit."""

    kind: str            # identity | artifact | stream | peer
    ref: str = ""        # artifact path, or peer name
    key: str = ""
    mode: str = ""       # stream mode (low-latency, ...)

    @staticmethod
    def identity() -> "Enhancer":
        return Enhancer("identity", key=f"identity/{CODE_VERSION}")

    @staticmethod
    def artifact(path: str | os.PathLike) -> "Enhancer":
        """Offline (tiled) enhancement with the model saved at path."""
        return Enhancer("artifact", str(path), f"artifact/{file_digest(path)}/{CODE_VERSION}")

    @staticmethod
    def stream(path: str | os.PathLike, mode: str) -> "Enhancer":
        """The live engine in `mode` over the model saved at path, fed in blocks of one model call."""
        # the key names a rolling-context engine's settings, not just the mode's name; the frame-by-frame engine
        # (mode causal) takes one hop a call and its lookahead from the file
        c = LIVE_MODES.get(mode)
        settings = f"-k{c.step_frames}-c{c.context_frames}-la{c.lookahead_frames}" if c else "-k1"
        return Enhancer("stream", str(path), f"stream/{mode}{settings}/{file_digest(path)}/{CODE_VERSION}", mode)

    @staticmethod
    def peer(name: str) -> "Enhancer":
        pkg = PEERS[name].package
        try:
            version = metadata.version(pkg.replace("_", "-"))
        except metadata.PackageNotFoundError:
            version = "unknown"
        return Enhancer("peer", name, f"peer/{name}/{version}/{CODE_VERSION}")

    def build(self) -> Callable[[np.ndarray], np.ndarray]:
        if self.kind == "identity":
            return lambda x: x
        if self.kind == "peer":
            return lambda x: run_peer(self.ref, x)
        model, _ = load_artifact(self.ref)
        if self.kind == "artifact":
            return Denoiser(model)
        if self.kind == "stream":
            return make_streamer(model, self.mode, backend="torch").denoise   # ONNX Runtime gives the same samples
        raise ValueError(f"unknown enhancer kind {self.kind!r}")


_BUILT: dict[Enhancer, Callable] = {}   # per worker process: the last few enhancers, built once


def _enhancer(e: Enhancer) -> Callable[[np.ndarray], np.ndarray]:
    if e not in _BUILT:
        if len(_BUILT) >= 4:
            _BUILT.pop(next(iter(_BUILT)))
        _BUILT[e] = e.build()
    return _BUILT[e]


def _worker_init() -> None:
    import torch
    one_thread_worker()
    torch.set_flush_denormal(True)   # as in the benchmarks' timed calls, so estimates match theirs


def _job(args: tuple) -> dict[str, float]:
    """(estimate or None, enhancer, noisy, clean, metrics) -> scores; enhances first when no estimate."""
    est, enhancer, noisy, clean, which = args
    if est is None:
        est = _enhancer(enhancer)(noisy)
    return score_pair(est, noisy, clean, which)


def _digest(key: str, noisy: np.ndarray, clean: np.ndarray, which: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    h.update(f"{key}|{','.join(which)}|".encode())
    h.update(np.ascontiguousarray(noisy, np.float32).tobytes())
    h.update(np.ascontiguousarray(clean, np.float32).tobytes())
    return h.hexdigest()


class Scorer:
    """score(enhancer, [(noisy, clean), ...]) -> list of metric dicts, in order."""

    def __init__(self, cache_dir: str | os.PathLike | None, workers: int = 2, which: tuple[str, ...] = BENCH_METRICS):
        self.which = which
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._pool = (ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_worker_init)
                      if workers > 1 else None)

    def _cache_file(self, key: str) -> Path | None:
        return self.cache_dir / key[:2] / f"{key}.json" if self.cache_dir else None

    def _cached(self, key: str) -> dict | None:
        f = self._cache_file(key)
        if f is None or not f.is_file():
            return None
        try:
            return json.loads(f.read_text())
        except (OSError, ValueError):
            return None   # a damaged cache file is recomputed

    def score(self, enhancer: Enhancer, pairs: list[tuple[np.ndarray, np.ndarray]],
              known: dict[int, np.ndarray] | None = None, which: tuple[str, ...] | None = None) -> list[dict[str, float]]:
        """Scores of enhancer's estimates for (noisy, clean) pairs. `known` holds estimates already computed
        (by the timed call) by index; the rest are enhanced in the workers unless their scores are cached."""
        which = which or self.which
        known = known or {}
        keys = [_digest(enhancer.key, n, c, which) for n, c in pairs]
        out: list[dict | None] = [self._cached(k) for k in keys]
        todo = [i for i, o in enumerate(out) if o is None]
        jobs = [(known.get(i), enhancer, pairs[i][0], pairs[i][1], which) for i in todo]
        results = list(self._pool.map(_job, jobs, chunksize=2)) if self._pool else [_job(j) for j in jobs]
        for i, r in zip(todo, results):
            out[i] = r
            f = self._cache_file(keys[i])
            if f is not None:
                f.parent.mkdir(parents=True, exist_ok=True)
                with atomic_path(f) as tmp:
                    tmp.write_text(json.dumps(r))
        return out  # type: ignore[return-value]

    @property
    def workers(self) -> int:
        return self._pool._max_workers if self._pool else 1

    def close(self) -> None:
        if self._pool:
            self._pool.shutdown()
