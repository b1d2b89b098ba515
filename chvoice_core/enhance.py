"""Denoise waveforms and files with a spectrogram model (float, pruned or quantized alike)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .audio_io import SAMPLE_RATE, read_audio, resample, write_audio
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


def denoise_file(denoiser: Denoiser, src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Read any supported audio file (any rate, any channels), denoise at 16 kHz in mono, and write dst
    atomically at the input's sample rate."""
    x, sr = read_audio(src, target_sr=SAMPLE_RATE)
    y = denoiser(x)
    if sr != SAMPLE_RATE:
        y = resample(y, SAMPLE_RATE, sr)
    if not np.all(np.isfinite(y)):
        raise ChvoiceError(f"{src}: the model produced non-finite audio")
    write_audio(dst, y, sr)
    return Path(dst)
