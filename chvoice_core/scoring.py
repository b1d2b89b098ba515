"""Parallel, cached per-utterance scoring for the benchmarks.

Scores depend only on (estimate, clean reference), so they are cached by a digest of both; a warm run
re-times enhancement but does not recompute PESQ/STOI. Workers are separate processes (PESQ and STOI
are single-threaded C/numpy)."""
from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from .audio_io import atomic_path
from .metrics import score

BENCH_METRICS = ("rms_db", "si_sdr", "pesq_wb", "stoi")


def _score_one(args: tuple[np.ndarray, np.ndarray, tuple[str, ...]]) -> dict[str, float]:
    est, ref, which = args
    return score(est, ref, which=which)


def _digest(est: np.ndarray, ref: np.ndarray, which: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    h.update(",".join(which).encode())
    h.update(np.ascontiguousarray(est, np.float32).tobytes())
    h.update(np.ascontiguousarray(ref, np.float32).tobytes())
    return h.hexdigest()


class Scorer:
    """score_many([(estimate, reference), ...]) -> list of metric dicts, in order."""

    def __init__(self, cache_dir: str | os.PathLike | None, workers: int = 2, which: tuple[str, ...] = BENCH_METRICS):
        self.which = which
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) if workers > 1 else None

    def _cache_file(self, key: str) -> Path | None:
        return self.cache_dir / key[:2] / f"{key}.json" if self.cache_dir else None

    def score_many(self, pairs: list[tuple[np.ndarray, np.ndarray]]) -> list[dict[str, float]]:
        keys = [_digest(e, r, self.which) for e, r in pairs]
        out: list[dict | None] = [None] * len(pairs)
        todo = []
        for i, k in enumerate(keys):
            f = self._cache_file(k)
            if f is not None and f.is_file():
                try:
                    out[i] = json.loads(f.read_text())
                    continue
                except (OSError, ValueError):
                    pass   # a damaged cache file is recomputed
            todo.append(i)
        jobs = [(pairs[i][0], pairs[i][1], self.which) for i in todo]
        results = list(self._pool.map(_score_one, jobs, chunksize=4)) if self._pool else [_score_one(j) for j in jobs]
        for i, r in zip(todo, results):
            out[i] = r
            f = self._cache_file(keys[i])
            if f is not None:
                f.parent.mkdir(parents=True, exist_ok=True)
                with atomic_path(f) as tmp:
                    tmp.write_text(json.dumps(r))
        return out  # type: ignore[return-value]

    def map(self, fn, *iterables) -> list:
        """Run a picklable function over items in the worker processes (in order)."""
        if self._pool is None:
            return list(map(fn, *iterables))
        return list(self._pool.map(fn, *iterables, chunksize=2))

    @property
    def workers(self) -> int:
        return self._pool._max_workers if self._pool else 1

    def close(self) -> None:
        if self._pool:
            self._pool.shutdown()
