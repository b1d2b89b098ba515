"""The public API, re-exported by the package:

    import chvoice_core as cv
    d = cv.load()                       # the shipped default ("live", "default-float", a real child id, or a path)
    y = d.enhance(x, sr)                # any length and rate; long input in bounded memory
    s = cv.load("live").stream()        # a streaming session: s.process(block) -> block, s.flush()
    small = cv.compress("default", "distil(width=16)+int8", data_root="../shared/data", out="small.pt")
    scores = cv.evaluate(d, noisy_dir, clean_dir)    # per-file PESQ-WB, STOI, SI-SDR, DNSMOS, pause energies

The CLI, the web app, the benchmark suite and the report use this module or the layer right under it."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from .audio_io import atomic_path
from .budgets import get_budget
from .compress.artifact import load_artifact
from .compress.real import REAL_CHILDREN
from .compress.recipes import user_variant
from .data import DataConfig
from .data.sources import default_cache_dir
from .enhance import Denoiser
from .errors import ChvoiceError
from .evaluate import evaluate_pairs, paired_folders
from .metrics import METRICS
from .pretrained import SHIPPED, shipped_path
from .zoo import Zoo


def model_path(name_or_path: str | os.PathLike | None = None) -> Path:
    """A shipped model's file by name (default, default-float, live, or a shipped real child such as
    default-prune50), or a checkpoint path. None: the default."""
    name = "default" if name_or_path is None else str(name_or_path)
    if name in SHIPPED:
        return shipped_path(name)
    if name in REAL_CHILDREN:
        path = REAL_CHILDREN[name].path
    else:
        path = Path(name)
        if not path.is_file():
            known = ", ".join([*SHIPPED, *REAL_CHILDREN])
            raise ChvoiceError(f"{name}: no such model file or shipped model (shipped: {known})")
        return path
    if not path.is_file():
        raise ChvoiceError(f"shipped model {name!r} is not in this install ({path.name} missing)")
    return path


def load(name_or_path: str | os.PathLike | None = None, device: str = "cpu") -> Denoiser:
    """A Denoiser for a shipped model or a checkpoint (float, pruned, int8, ONNX Runtime, PT2E alike)."""
    path = model_path(name_or_path)
    model, meta = load_artifact(path)
    if meta.get("quant") and device != "cpu":
        raise ChvoiceError(f"{path}: int8 models run on the CPU only (got device {device})")
    return Denoiser(model.to(device), device=device, name=path.stem)


def compress(model: str | os.PathLike, recipe: str, out: str | os.PathLike, data_root: str | None = None,
             budget: str = "real", profile: str = "general", threads: int = 0) -> Path:
    """Apply a recipe (`distil(width=16)+prune(macs=0.5)+int8`, see compress.steps) to a float model (a shipped
    name or a checkpoint), training where a step trains on `data_root` (built-in data when None), and write the
    result to `out` (atomically). Intermediate models are cached and training resumes after an interruption."""
    import shutil

    out = Path(out)
    if out.suffix != ".pt":
        raise ChvoiceError(f"{out}: use a .pt file name")
    src = model_path(model)
    variant = user_variant(f"api-{src.stem}", recipe, teacher=str(src))
    zoo = Zoo(get_budget(budget), DataConfig(data_root=data_root), cache_dir=default_cache_dir(), progress=False,
              build_threads=threads, extra_variants=(variant,))
    entry = zoo.entry(variant.id, profile)
    with atomic_path(out) as tmp:
        shutil.copyfile(entry.path, tmp)
    return out


def evaluate(denoiser: Denoiser | None, noisy: str | os.PathLike, clean: str | os.PathLike,
             perceptual: bool = True) -> pd.DataFrame:
    """Score a denoiser (None: the noisy input) on paired folders (same file names): one row per file with
    PESQ-WB, STOI, ESTOI, SI-SDR, spectrogram RMS and, with `perceptual`, DNSMOS and the pause energies per band
    (evaluate.summary pools them)."""
    return evaluate_pairs(paired_folders(noisy, clean), None if denoiser is None else denoiser.enhance, METRICS,
                          perceptual=perceptual)
