"""The causal models' engines: a stream one hop at a time (`CausalStreamingDenoiser`, the default of `chvoice live`)
and the same framing over a whole signal (`frame_offline`). A session owns its state (`models.layers.StreamState`,
or the ONNX graph's state tensors); the model's streaming step (`CausalStep`: the fused model, or its ONNX graph in
one InferenceSession) is built once per model and shared by every session."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from . import onnx_step
from .compress.quantize import int8_layers
from .dsp import FrontEnd, OverlapAdd, frame_spectra, frame_waves, from_db, normalise_fixed, to_db
from .models.unet import (StreamState, causal_lookahead, front_end, fuse_for_inference, inference_layout,
                          stream_pads, streaming)
from .stream import StreamConfig, StreamingDenoiser, shared


class CausalStep:
    """One streaming hop of a causal model, prepared once per model and shared by every session: the fused model
    (torch) or its ONNX graph in one InferenceSession (onnxruntime). Stateless: a call takes a session's state
    and returns the new one. __call__: (x [1, 1, F, k] normalised dB, state) -> (y [1, 1, F, k], state)."""

    def __init__(self, model: nn.Module, n_bins: int, frames: int, backend: str, threads: int):
        self.backend = backend
        self.model = inference_layout(fuse_for_inference(model.eval()))
        self.ort = onnx_step.OrtStep(self.model, n_bins, frames, threads) if backend == "onnxruntime" else None

    def new_state(self) -> StreamState | list[np.ndarray]:
        """The state a stream starts from: the pads' past frames (torch) or the graph's state inputs (ORT)."""
        return self.ort.zero_states() if self.ort is not None else StreamState()

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, state):
        if self.ort is not None:
            return self.ort(x, state)
        with streaming(state):
            return self.model(x), state


def causal_step(model: nn.Module, n_bins: int, frames: int, backend: str = "auto") -> CausalStep:
    """The shared CausalStep of `model` (built on first use, under a lock: torch.onnx.export is not re-entrant).
    backend "auto": onnxruntime for float models when it is installed, else torch."""
    if not stream_pads(model):      # the engine carries the past in the model's pads
        raise ValueError("CausalStreamingDenoiser needs a causal model (UNetConfig(causal=True))")
    if backend == "auto":
        backend = "onnxruntime" if onnx_step.available() and not int8_layers(model) else "torch"
    if backend not in ("torch", "onnxruntime"):
        raise ValueError(f"unknown streaming backend {backend!r}; use auto, torch or onnxruntime")
    threads = torch.get_num_threads() if backend == "onnxruntime" else 0    # ONNX Runtime's own thread pool
    return shared(model, ("step", n_bins, frames, backend, threads),
                  lambda: CausalStep(model, n_bins, frames, backend, threads))


class CausalStreamingDenoiser(StreamingDenoiser):
    """The streaming engine for causal models: each call feeds only the `step_frames` new frames through the
    model, with every layer's past frames carried in this session's state; the model's own lookahead (its output
    lags its input by `lookahead` frames) is the engine's lookahead. The output equals `frame_offline` on the whole
    signal for any block size. Latency: (step_frames + lookahead) * hop + n_fft - hop samples."""

    def __init__(self, model: nn.Module, step_frames: int = 1, fe: FrontEnd | None = None, backend: str = "auto"):
        fe = fe or front_end(model)
        look = causal_lookahead(model)
        self.step = causal_step(model, fe.n_bins, step_frames, backend)
        self.backend = self.step.backend
        super().__init__(self.step.model, StreamConfig(step_frames, step_frames + look, lookahead_frames=look), fe)

    def describe(self) -> str:
        return f"causal ({self.backend})"

    def reset(self) -> None:
        super().reset()
        self.ctx_db = torch.zeros(0)          # no rolling context: the session's step state holds the past
        self.state = self.step.new_state()

    @torch.no_grad()
    def warm_up(self, calls: int = 3) -> None:
        x, _, _ = normalise_fixed(torch.full((1, 1, self.fe.n_bins, self.cfg.step_frames), self.fe.floor_db))
        scratch = self.step.new_state()       # the session's own state is not touched
        for _ in range(calls):
            _, scratch = self.step(x, scratch)

    @torch.no_grad()
    def _infer(self, db: torch.Tensor) -> torch.Tensor:
        x, mean, std = normalise_fixed(db[None, None])
        y, self.state = self.step(x, self.state)
        return (y.float() * std + mean)[0, 0]


def frame_count(n: int, fe: FrontEnd) -> int:
    """Frames whose window overlaps samples [0, n) when frame j spans [j*hop - n_fft/2, j*hop + n_fft/2)."""
    return (n + fe.n_fft // 2 - 1) // fe.hop + 1


@torch.no_grad()
def frame_offline(model: nn.Module, x: np.ndarray, fe: FrontEnd, device: torch.device | str = "cpu",
                  chunk_frames: int = 2048, on_progress=None) -> np.ndarray:
    """Denoise x [N] (16 kHz) with a causal model, framed exactly as the streaming engine frames a stream (zeros
    before the first and after the last sample, no reflection), so the two outputs agree. The model runs on
    chunks of `chunk_frames` frames with its pads' state carried between chunks: memory is bounded by a chunk
    and the result equals one call on the whole signal. Returns [N]."""
    n, half, hop = len(x), fe.n_fft // 2, fe.hop
    look = causal_lookahead(model)
    n_out = frame_count(n, fe)
    n_in = n_out + look                          # the model's output lags its input by `look` frames
    padded = np.zeros(half + max(n, (n_in - 1) * hop + fe.n_fft), np.float32)
    padded[half:half + n] = x
    wav = torch.from_numpy(padded)
    out_db, phases = [], []
    with streaming(StreamState()):       # this call's own state: the model may serve other calls meanwhile
        for s in range(0, n_in, chunk_frames):
            e = min(n_in, s + chunk_frames)
            spec = frame_spectra(wav[s * hop:(e - 1) * hop + fe.n_fft], fe)                 # [F, k]
            phases.append(torch.angle(spec[:, :max(0, min(e, n_out) - s)]))                # emitted frames only
            xin, mean, std = normalise_fixed(to_db(spec.abs(), fe)[None, None].to(device))
            out_db.append((model(xin).float() * std + mean)[0, 0].cpu())
            if on_progress is not None:
                on_progress(e / n_in)
    y_db = torch.cat(out_db, dim=1)[:, look:look + n_out]                              # [F, n_out]
    out = frame_waves(torch.polar(from_db(y_db), torch.cat(phases, dim=1)), fe)                   # [n_out, n_fft]
    ola = OverlapAdd()
    ola.add_strided(0, hop, out, fe.window() ** 2)
    return ola.emit((n_out - 1) * hop + fe.n_fft)[half:half + n].float().numpy()
