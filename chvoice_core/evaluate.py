"""Score a denoiser (or the unprocessed input) on test items: one row per utterance."""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np
import pandas as pd
from tqdm import tqdm

from .data.testset import TestItem
from .metrics import METRICS, dnsmos, score

EnhanceFn = Callable[[np.ndarray], np.ndarray]


def evaluate_items(items: Iterable[TestItem], enhance: EnhanceFn | None, which: tuple[str, ...] = METRICS,
                   progress: bool = False) -> pd.DataFrame:
    """enhance=None scores the noisy input itself (the reference row of every table)."""
    rows = []
    items = list(items)
    for it in tqdm(items, desc="score", disable=not progress):
        est = it.mixture.noisy if enhance is None else enhance(it.mixture.noisy)
        rows.append({"id": it.id, "kind": it.mixture.kind,
                     "snr_db": it.mixture.snr_db, **score(est, it.mixture.clean, which=which)})
    return pd.DataFrame(rows)


def evaluate_pairs(pairs: Iterable[tuple[str, np.ndarray, np.ndarray]], enhance: EnhanceFn | None,
                   which: tuple[str, ...] = METRICS, progress: bool = False) -> pd.DataFrame:
    """(name, noisy [N], clean [N]) triples -> one row per file."""
    rows = []
    for name, noisy, clean in tqdm(list(pairs), desc="score", disable=not progress):
        est = noisy if enhance is None else enhance(noisy)
        rows.append({"id": name, **score(est, clean, which=which)})
    return pd.DataFrame(rows)


def evaluate_unpaired(files: Iterable[tuple[str, np.ndarray]], enhance: EnhanceFn | None,
                      progress: bool = False) -> pd.DataFrame:
    """Recordings without a clean reference: (name, audio [N]) -> one row of DNSMOS scores per file."""
    rows = []
    for name, x in tqdm(list(files), desc="dnsmos", disable=not progress):
        est = x if enhance is None else enhance(x)
        rows.append({"id": name, **dnsmos(est)})
    return pd.DataFrame(rows)
