"""Score a denoiser (or the unprocessed input) on noisy/clean pairs or on recordings alone: one row per file."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd
from tqdm import tqdm

from .audio_io import list_audio_files, read_audio
from .errors import ChvoiceError
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


def paired_folders(noisy_dir: str | os.PathLike, clean_dir: str | os.PathLike) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Paired folders (same relative names, any audio format) -> (name, noisy [N], clean [N]) at 16 kHz; one
    clear error when they do not pair up."""
    nd, cd = Path(noisy_dir), Path(clean_dir)
    for d in (nd, cd):
        if not d.is_dir():
            raise ChvoiceError(f"{d}: no such folder")
    noisy = {f.relative_to(nd).with_suffix("").as_posix(): f for f in list_audio_files(nd)}
    clean = {f.relative_to(cd).with_suffix("").as_posix(): f for f in list_audio_files(cd)}
    if not noisy:
        raise ChvoiceError(f"{nd}: no audio files")
    missing, extra = sorted(set(noisy) - set(clean)), sorted(set(clean) - set(noisy))
    if missing or extra:
        sample = (missing or extra)[:3]
        raise ChvoiceError(f"noisy and clean folders do not pair up: {len(missing)} noisy file(s) without a clean "
                           f"twin, {len(extra)} clean file(s) without a noisy twin (e.g. {', '.join(sample)})")
    pairs = []
    for name in sorted(noisy):
        x, _ = read_audio(noisy[name])
        y, _ = read_audio(clean[name])
        if abs(len(x) - len(y)) > 1:
            raise ChvoiceError(f"{name}: noisy and clean lengths differ ({len(x)} vs {len(y)} samples at 16 kHz)")
        n = min(len(x), len(y))
        pairs.append((name, x[:n], y[:n]))
    return pairs
