"""The model families: what differs between the kinds of U-Net a checkpoint can hold, declared in one place.

A model's family is read off its spec (a time-causal U-Net, a phase-aware head, or neither) and says how the model
is run: its engine (offline, any length) and the live modes it streams in. The spec-level facts the compression
steps need (the graph a kind exports to, whether its output is dB alone) are one layer down, in `models.kinds`;
the graph column below is theirs. (The input standardisation, per tile or with fixed constants, is the network's
own: `models.unet.normaliser_for`.)

| family | engine (`run`) | live modes | graph | output |
|---|---|---|---|---|
| tile | 128-frame tiles, cross-faded, in chunks | rolling context (low-latency, ...) | tile | dB |
| phase | tiles with phase cues in, the file whole | none (offline only) | none | dB + phase rotation |
| causal | frame by frame, state carried (= its stream) | causal (one hop per call) | streaming step | dB |
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
from torch import nn

from .causal_stream import CausalStreamingDenoiser, frame_offline
from .dsp import FrontEnd, enhance_db, phase_features, rotate_phase, stft, synthesise, to_db
from .errors import ChvoiceError
from .longform import enhance_long
from .models import kinds
from .models.unet import front_end
from .stream import LIVE_MODES, StreamingDenoiser

if TYPE_CHECKING:
    from .enhance import Denoiser

Tensor = torch.Tensor
Progress = Callable[[float], None] | None


def _tiles(den: "Denoiser", x: np.ndarray, on_progress: Progress = None, inplace: bool = False) -> np.ndarray:
    """128-frame tiles cross-faded, chunk by chunk: bounded memory for any length (longform.enhance_long)."""
    return enhance_long(np.ascontiguousarray(x, dtype=np.float32), den.tiles, den.fe, den.batch_size, on_progress,
                        inplace=inplace)


def _phase(den: "Denoiser", x: np.ndarray, on_progress: Progress = None, inplace: bool = False) -> np.ndarray:
    """Tiles with phase cues in, the whole file at once (not chunked: memory grows with the file)."""
    spec = stft(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), den.fe)
    phase = torch.angle(spec)
    stack = torch.cat([to_db(spec.abs(), den.fe).unsqueeze(0), phase_features(spec, den.fe)])
    out = enhance_db(stack, den.tiles, den.fe, den.batch_size)
    y = synthesise(out[0], rotate_phase(phase, out[1:]), den.fe, len(x)).numpy()
    if on_progress is not None:
        on_progress(1.0)
    return y


def _frames(den: "Denoiser", x: np.ndarray, on_progress: Progress = None, inplace: bool = False) -> np.ndarray:
    """Frame by frame with the state carried, in chunks of frames (= the model's stream)."""
    return frame_offline(den.model, x, den.fe, den.device, on_progress=on_progress)


def _rolling(model: nn.Module, mode: str, fe: FrontEnd | None, backend: str) -> StreamingDenoiser:
    return StreamingDenoiser(model, LIVE_MODES[mode], fe)


def _frame_by_frame(model: nn.Module, mode: str, fe: FrontEnd | None, backend: str) -> StreamingDenoiser:
    return CausalStreamingDenoiser(model, 1, fe, backend)


@dataclass(frozen=True)
class Family:
    name: str
    run: Callable[..., np.ndarray]                # (denoiser, x [N], on_progress, inplace) -> [N]: the engine
    live_modes: tuple[str, ...]                   # the modes it streams in, the default first; () offline only
    magnitude_only: bool = True                   # its output is dB alone (dB-tile losses, quantization, teachers)
    _streamer: Callable[..., StreamingDenoiser] | None = None
    why_not_live: str = ""

    def live_mode(self, mode: str | None) -> str:
        """The mode to stream in (None: the family's default); a mode the family does not stream in is a
        ChvoiceError that says which it does."""
        if not self.live_modes:
            raise ChvoiceError(self.why_not_live)
        mode = mode or self.live_modes[0]
        if mode not in self.live_modes:
            check_live_mode(mode)
            raise ChvoiceError(f"mode {mode} does not stream a {self.name} model; it streams in "
                               f"{', '.join(self.live_modes)}")
        return mode

    def streamer(self, model: nn.Module, mode: str | None = None, fe: FrontEnd | None = None,
                 backend: str = "auto") -> StreamingDenoiser:
        """The live engine of `mode` (None: the family's default) for `model`."""
        mode = self.live_mode(mode)
        return self._streamer(model, mode, fe or front_end(model), backend)


FAMILIES: dict[str, Family] = {
    "tile": Family("tile", _tiles, tuple(LIVE_MODES), _streamer=_rolling),
    "phase": Family("phase", _phase, (), magnitude_only=kinds.MAGNITUDE_ONLY["phase"],
                    why_not_live="a phase-aware model runs offline only (chvoice denoise); live mode streams "
                                 "magnitude models"),
    "causal": Family("causal", _frames, ("causal",), _streamer=_frame_by_frame),
}
LIVE_MODE_NAMES: tuple[str, ...] = tuple(m for f in FAMILIES.values() for m in f.live_modes)


def check_live_mode(mode: str) -> None:
    """ChvoiceError unless `mode` is a live mode of some family (checked before any model loads)."""
    if mode not in LIVE_MODE_NAMES:
        raise ChvoiceError(f"unknown live mode {mode!r}; use {', '.join(LIVE_MODE_NAMES)}")


def family_of(model: nn.Module) -> Family:
    """The family of a float, fused, int8 or exported model (anything that carries its spec or its pads)."""
    return FAMILIES[kinds.kind_of(model)]


def make_streamer(model: nn.Module, mode: str | None = None, fe: FrontEnd | None = None,
                  backend: str = "auto") -> StreamingDenoiser:
    """The live engine of a named mode for `model`, as its family streams it: mode None is the family's default
    (causal models: frame by frame, one hop a call, on `backend`; others: low-latency over a rolling context).
    A mode the model's family does not stream in is a ChvoiceError."""
    return family_of(model).streamer(model, mode, fe, backend)
