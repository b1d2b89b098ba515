"""Denoise waveforms and files with a spectrogram model (float, pruned or quantized alike)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .audio_io import SAMPLE_RATE, atomic_path, resample
from .dsp import FrontEnd, normalise
from .errors import ChvoiceError
from .families import family_of
from .longform import read_mono_16k, scan, write_blocks
from .models.unet import front_end, fuse_for_inference, inference_layout


class Denoiser:
    """Wraps a tile model ([B,1,F,T] normalised dB -> same; phase-aware: [B,5,F,T] -> [B,3,F,T]) into
    waveform -> waveform."""

    def __init__(self, model: nn.Module, fe: FrontEnd | None = None, device: str | torch.device = "cpu",
                 batch_size: int = 16, name: str = "model"):
        self.device = torch.device(device)
        self.source = model                   # as loaded (unfused): what a streaming session builds on
        self.fe = fe or front_end(model)      # the STFT the model was trained on unless told otherwise
        self.family = family_of(model)       # how it is run: families.FAMILIES
        if self.device.type == "cpu":
            # conv + BatchNorm + ReLU folded into one conv for every float model, as int8 models are folded by
            # their quantization: fp32 and int8 rows then run the same graph shape (exact up to float rounding)
            model = fuse_for_inference(model.eval())
        self.model = inference_layout(model, self.device)
        self.batch_size = batch_size
        self.name = name

    @torch.no_grad()
    def tiles(self, db: torch.Tensor) -> torch.Tensor:
        """Denoise dB tiles [B, 1, F, T] -> [B, 1, F, T] (per-tile normalisation around the model). Phase-aware
        models: [B, 5, F, T] (dB, phase cues) -> [B, 3, F, T] (dB, rotation): channels past the dB pass through."""
        t = db.to(self.device)
        x, mean, std = normalise(t[:, :1])
        y = self.model(torch.cat([x, t[:, 1:]], dim=1)).float()
        return torch.cat([y[:, :1] * std + mean, y[:, 1:]], dim=1).to(db.device)

    @torch.no_grad()
    def run(self, x: np.ndarray, on_progress=None, inplace: bool = False) -> np.ndarray:
        """The engine: x [N] float at 16 kHz -> denoised [N], in memory bounded by one batch of tiles (or chunk of
        frames) for the tile and causal families. The one path from audio to audio: `enhance`, `denoise_file`
        (`chvoice denoise`), the web app, `evaluate` and the benchmark's timed call all run it.
        inplace=True may write the output over x."""
        return self.family.run(self, x, on_progress, inplace)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """`run(x)`: x [N] float at 16 kHz -> denoised [N]."""
        return self.run(x)

    def enhance(self, audio: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
        """Denoise audio of any length at any rate: [N] (or [C, N], channels apart) at `sr` -> the same shape at
        `sr`. The model works at 16 kHz (`run`)."""
        x = np.asarray(audio, dtype=np.float32)
        if x.ndim == 2:
            return np.stack([self.enhance(c, sr) for c in x])
        if x.ndim != 1 or not len(x):
            raise ChvoiceError(f"audio of shape {x.shape}: give [N] or [channels, N] samples")
        if not np.isfinite(x).all():
            raise ChvoiceError("audio holds NaN or infinite samples")
        y = resample(x, sr, SAMPLE_RATE)
        if len(y) <= self.fe.n_fft:     # shorter than one frame: nothing to denoise
            return x.copy()
        out = resample(self.run(y), SAMPLE_RATE, sr)[: len(x)]
        return np.pad(out, (0, len(x) - len(out))).astype(np.float32)     # a rate ratio may round one short

    def stream(self, mode: str | None = None):
        """A streaming session (stream.StreamingDenoiser: process(block) -> block, flush(), reset(); its state is
        its own) in a live mode of the model's family (None: its default; see families.FAMILIES)."""
        return self.family.streamer(self.source, mode, self.fe)


def denoise_to(denoiser: Denoiser, src: str | os.PathLike, out: str | os.PathLike, on_progress=None,
               label: str | os.PathLike | None = None, checked: bool = False) -> None:
    """The one file pipeline: check src (in blocks; skipped when the caller already did: `checked`), read it
    mono at 16 kHz in blocks, `denoiser.run`, refuse non-finite output, write `out` (not atomically: the caller
    stages it) at the input's rate, in blocks. Memory: the 16 kHz mono signal, once. Errors name `label`."""
    if not checked:
        scan(src)
    x, sr, _ = read_mono_16k(src)
    y = denoiser.run(x, on_progress, inplace=True)     # x is ours: no second signal-sized buffer
    if not np.isfinite(np.sum(y, dtype=np.float64)):   # NaN/inf propagate; no N-sized mask
        raise ChvoiceError(f"{src}: the model produced non-finite audio")
    write_blocks(out, y, sr, label=label or out)


def denoise_file(denoiser: Denoiser, src: str | os.PathLike, dst: str | os.PathLike, on_progress=None,
                 label: str | os.PathLike | None = None) -> Path:
    """Read any supported audio file (any rate, any channels), denoise at 16 kHz in mono, and write dst
    atomically at the input's sample rate (`denoise_to`). Returns dst."""
    with atomic_path(dst) as tmp:
        denoise_to(denoiser, src, tmp, on_progress, label=label or dst)
    return Path(dst)
