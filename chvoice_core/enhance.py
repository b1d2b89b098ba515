"""Denoise waveforms and files with a spectrogram model (float, pruned or quantized alike)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .audio_io import SAMPLE_RATE, resample
from .dsp import (FrontEnd, analyse, enhance_db, from_db, normalise, phase_features, rotate_phase, stft,
                  synthesise, to_db)
from .errors import ChvoiceError
from .models.unet import (causal_lookahead, front_end, fuse_for_inference, inference_layout, is_causal,
                          is_phase_aware, normaliser_for, set_streaming)


class Denoiser:
    """Wraps a tile model ([B,1,F,T] normalised dB -> same; phase-aware: [B,5,F,T] -> [B,3,F,T]) into
    waveform -> waveform."""

    def __init__(self, model: nn.Module, fe: FrontEnd | None = None, device: str | torch.device = "cpu",
                 batch_size: int = 16, name: str = "model"):
        self.device = torch.device(device)
        self.source = model                   # as loaded (unfused): what a streaming session builds on
        self.fe = fe or front_end(model)      # the STFT the model was trained on unless told otherwise
        self.causal = is_causal(model)
        self.phase = is_phase_aware(model)
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
        models: [B, 5, F, T] (dB, phase cues) -> [B, 3, F, T] (dB, rotation)."""
        t = db.to(self.device)
        x, mean, std = normalise(t[:, :1])
        y = self.model(torch.cat([x, t[:, 1:]], dim=1) if self.phase else x).float()
        out = y[:, :1] * std + mean
        return (torch.cat([out, y[:, 1:]], dim=1) if self.phase else out).to(db.device)

    @torch.no_grad()
    def __call__(self, x: np.ndarray) -> np.ndarray:
        """x: [N] float at 16 kHz -> denoised [N] (same length)."""
        if self.causal:
            return causal_offline(self.model, x, self.fe, self.device)
        wav = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        if self.phase:
            spec = stft(wav, self.fe)
            phase = torch.angle(spec)
            stack = torch.cat([to_db(spec.abs(), self.fe).unsqueeze(0), phase_features(spec, self.fe)])
            out = enhance_db(stack, self.tiles, self.fe, self.batch_size)
            return synthesise(out[0], rotate_phase(phase, out[1:]), self.fe, len(x)).numpy()
        db, phase = analyse(wav, self.fe)
        out_db = enhance_db(db, self.tiles, self.fe, self.batch_size)
        return synthesise(out_db, phase, self.fe, len(x)).numpy()


    def enhance(self, audio: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
        """Denoise audio of any length at any rate: [N] (or [C, N], channels apart) at `sr` -> the same shape at
        `sr`. Long input runs in memory bounded by one batch of tiles (`long`); the model works at 16 kHz."""
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
        out = resample(self.long(y), SAMPLE_RATE, sr)[: len(x)]
        return np.pad(out, (0, len(x) - len(out))).astype(np.float32)     # a rate ratio may round one short

    def stream(self, mode: str | None = None):
        """A streaming session (stream.StreamingDenoiser: process(block) -> block, flush(), reset(); its state is
        its own): causal models stream frame by frame, others over a rolling context (mode, see StreamConfig)."""
        from .stream import make_streamer
        return make_streamer(self.source, mode, self.fe)

    def long(self, x: np.ndarray, on_progress=None, inplace: bool = False) -> np.ndarray:
        """Like __call__ (same output up to float rounding) in memory bounded by one batch of tiles:
        for files of any length. x: [N] float at 16 kHz, N > 127."""
        from .longform import enhance_long
        if self.causal:     # frames are computed in chunks with carried state already
            return causal_offline(self.model, x, self.fe, self.device, on_progress=on_progress)
        if 1 + len(x) // self.fe.hop <= self.fe.tile_frames:   # one tile (padded): nothing to chunk
            return self(x)
        if self.phase:      # not chunked yet: the whole file in memory
            y = self(x)
            if on_progress is not None:
                on_progress(1.0)
            return y
        return enhance_long(np.ascontiguousarray(x, dtype=np.float32), self.tiles, self.fe, self.batch_size,
                            on_progress, inplace=inplace)


def causal_frame_count(n: int, fe: FrontEnd) -> int:
    """Frames whose window overlaps samples [0, n) when frame j spans [j*hop - n_fft/2, j*hop + n_fft/2)."""
    return (n + fe.n_fft // 2 - 1) // fe.hop + 1


@torch.no_grad()
def causal_offline(model: nn.Module, x: np.ndarray, fe: FrontEnd, device: torch.device | str = "cpu",
                   chunk_frames: int = 2048, on_progress=None) -> np.ndarray:
    """Denoise x [N] (16 kHz) with a causal model, framed exactly as the streaming engine frames a stream (zeros
    before the first and after the last sample, no reflection), so the two outputs agree. The model runs on
    chunks of `chunk_frames` frames with its pads' state carried between chunks: memory is bounded by a chunk
    and the result equals one call on the whole signal. Returns [N]."""
    n, half, hop = len(x), fe.n_fft // 2, fe.hop
    look = causal_lookahead(model)
    n_out = causal_frame_count(n, fe)
    n_in = n_out + look                          # the model's output lags its input by `look` frames
    padded = np.zeros(half + max(n, (n_in - 1) * hop + fe.n_fft), np.float32)
    padded[half:half + n] = x
    wav = torch.from_numpy(padded)
    window = fe.window()
    norm = normaliser_for(model)
    out_db, phases = [], []
    set_streaming(model, True)
    try:
        for s in range(0, n_in, chunk_frames):
            e = min(n_in, s + chunk_frames)
            frames = wav[s * hop:(e - 1) * hop + fe.n_fft].unfold(0, fe.n_fft, hop)      # [k, n_fft]
            spec = torch.fft.rfft(frames * window, dim=1).T                                 # [F, k]
            phases.append(torch.angle(spec[:, :max(0, min(e, n_out) - s)]))                # emitted frames only
            xin, mean, std = norm(to_db(spec.abs(), fe)[None, None].to(device))
            out_db.append((model(xin).float() * std + mean)[0, 0].cpu())
            if on_progress is not None:
                on_progress(e / n_in)
    finally:
        set_streaming(model, False)
    y_db = torch.cat(out_db, dim=1)[:, look:look + n_out]                              # [F, n_out]
    out = torch.fft.irfft(torch.polar(from_db(y_db), torch.cat(phases, dim=1)).T, n=fe.n_fft, dim=1) * window
    total = (n_out - 1) * hop + fe.n_fft
    fold = lambda v: torch.nn.functional.fold(v.T[None], (1, total), (1, fe.n_fft), stride=(1, hop))[0, 0, 0]
    acc = fold(out)
    env = fold((window ** 2).expand(n_out, -1).contiguous())
    y = torch.where(env > 1e-8, acc / env.clamp_min(1e-8), torch.zeros_like(acc))
    return y[half:half + n].numpy()


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
