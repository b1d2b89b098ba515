"""Denoise waveforms and files with a spectrogram model (float, pruned or quantized alike)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .audio_io import SAMPLE_RATE
from .dsp import FrontEnd, analyse, enhance_db, normalise, synthesise
from .errors import ChvoiceError
from .models.unet import inference_layout


class Denoiser:
    """Wraps a tile model ([B,1,F,T] normalised dB -> same) into waveform -> waveform."""

    def __init__(self, model: nn.Module, fe: FrontEnd = FrontEnd(), device: str | torch.device = "cpu",
                 batch_size: int = 16, name: str = "model"):
        self.device = torch.device(device)
        self.model = inference_layout(model, self.device)
        self.fe = fe
        self.batch_size = batch_size
        self.name = name

    @torch.no_grad()
    def tiles(self, db: torch.Tensor) -> torch.Tensor:
        """Denoise dB tiles [B, 1, F, T] -> [B, 1, F, T] (per-tile normalisation around the model)."""
        x, mean, std = normalise(db.to(self.device))
        y = self.model(x)
        return (y.float() * std + mean).to(db.device)

    @torch.no_grad()
    def __call__(self, x: np.ndarray) -> np.ndarray:
        """x: [N] float at 16 kHz -> denoised [N] (same length)."""
        wav = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        db, phase = analyse(wav, self.fe)
        out_db = enhance_db(db, self.tiles, self.fe, self.batch_size)
        return synthesise(out_db, phase, self.fe, len(x)).numpy()


    def long(self, x: np.ndarray, on_progress=None, inplace: bool = False) -> np.ndarray:
        """Like __call__ (same output up to float rounding) in memory bounded by one batch of tiles:
        for files of any length. x: [N] float at 16 kHz, N > 127."""
        from .longform import enhance_long
        if 1 + len(x) // self.fe.hop <= self.fe.tile_frames:   # one tile (padded): nothing to chunk
            return self(x)
        return enhance_long(np.ascontiguousarray(x, dtype=np.float32), self.tiles, self.fe, self.batch_size,
                            on_progress, inplace=inplace)


def denoise_file(denoiser: Denoiser, src: str | os.PathLike, dst: str | os.PathLike, progress: bool = False,
                 label: str | os.PathLike | None = None) -> Path:
    """Read any supported audio file (any rate, any channels), denoise at 16 kHz in mono, and write dst
    atomically at the input's sample rate. Read, resampled, denoised and written in blocks: memory does not
    grow with the file beyond its 16 kHz mono signal in and out."""
    from tqdm import tqdm

    from .audio_io import atomic_path
    from .longform import read_mono_16k, scan, write_blocks
    scan(src)
    x, sr, _ = read_mono_16k(src)
    with tqdm(total=100, desc=Path(src).name, unit="%", disable=not progress, leave=False) as bar:
        def tick(f: float) -> None:
            bar.update(round(100 * f) - bar.n)
        y = denoiser.long(x, tick, inplace=True)     # x is ours: no second signal-sized buffer
    if not np.isfinite(np.sum(y, dtype=np.float64)):   # NaN/inf propagate; no N-sized mask
        raise ChvoiceError(f"{src}: the model produced non-finite audio")
    with atomic_path(dst) as tmp:
        write_blocks(tmp, y, sr, label=label or dst)
    return Path(dst)
