"""Score a denoiser (or the unprocessed input) on noisy/clean pairs or on recordings alone: one row per file."""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np
import pandas as pd
from tqdm import tqdm

from .metrics import METRICS, dnsmos, pooled_pause_attenuation, score_pair

EnhanceFn = Callable[[np.ndarray], np.ndarray]


def evaluate_pairs(pairs: Iterable[tuple[str, np.ndarray, np.ndarray]], enhance: EnhanceFn | None,
                   which: tuple[str, ...] = METRICS, progress: bool = False, perceptual: bool = True) -> pd.DataFrame:
    """(name, noisy [N], clean [N]) triples -> one row per file: `which` against the clean reference and, with
    `perceptual`, DNSMOS of the output and the noisy input's and output's energy in the reference's pauses per
    band (metrics.pause_energies; `summary` pools them). enhance=None scores the noisy input itself."""
    rows = []
    for name, noisy, clean in tqdm(list(pairs), desc="score", disable=not progress):
        est = noisy if enhance is None else enhance(noisy)
        rows.append({"id": name, **score_pair(est, noisy, clean, which + (("dnsmos", "pause") if perceptual else ()))})
    return pd.DataFrame(rows)


def summary(df: pd.DataFrame) -> dict[str, float]:
    """Means of the per-file metrics and, when the rows hold pause energies, the pooled pause attenuation."""
    per_file = df[[c for c in df.columns if not c.startswith(("pause_in_", "pause_out_")) and c != "pause_frames"]]
    out = per_file.drop(columns=["id"]).mean(numeric_only=True).to_dict()
    if "pause_frames" in df:
        out["pause_frames"] = int(df["pause_frames"].sum())
        out.update(pooled_pause_attenuation(df))
    return out


def evaluate_unpaired(files: Iterable[tuple[str, np.ndarray]], enhance: EnhanceFn | None,
                      progress: bool = False) -> pd.DataFrame:
    """Recordings without a clean reference: (name, audio [N]) -> one row of DNSMOS scores per file."""
    rows = []
    for name, x in tqdm(list(files), desc="dnsmos", disable=not progress):
        est = x if enhance is None else enhance(x)
        rows.append({"id": name, **dnsmos(est)})
    return pd.DataFrame(rows)
