"""The U-Net's building blocks: double 3x3 conv blocks, down and up blocks, and the causal layout's streaming
pads (`StreamPad`: left padding in time that, inside `streaming(state)`, carries the previous call's last frames)."""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

import torch
from torch import nn

Tensor = torch.Tensor


class StreamState:
    """The past frames that every StreamPad of one stream carries from one call to the next. A session (a live
    stream, one offline pass over a file) owns it; the model never does, so one loaded model serves any number of
    streams and offline calls at once, from any threads."""

    def __init__(self) -> None:
        self.frames: dict[nn.Module, Tensor] = {}      # StreamPad -> its last `frames` input frames [B, C, F, frames]


_ACTIVE: ContextVar[StreamState | None] = ContextVar("chvoice_stream_state", default=None)


@contextmanager
def streaming(state: StreamState) -> Iterator[StreamState]:
    """Within the block, the calling thread's model calls carry `state` across calls (each thread and task has its
    own context: a stream in one thread never sees another's)."""
    token = _ACTIVE.set(state)
    try:
        yield state
    finally:
        _ACTIVE.reset(token)


class StreamPad(nn.Module):
    """Left zero-padding of `frames` time frames ([B, C, F, T] -> [B, C, F, T + frames]). Inside `streaming(state)`
    the padding is the previous call's last input frames (kept in `state`, not in the module) instead of zeros,
    so consecutive calls on consecutive frames compute what one call on all of them computes."""

    def __init__(self, frames: int, is_delay: bool = False):
        super().__init__()
        self.frames = frames
        self.is_delay = is_delay      # the output delay of a model with lookahead (not a conv's padding)

    def forward(self, x: Tensor) -> Tensor:
        state = _ACTIVE.get()
        if state is None:
            return nn.functional.pad(x, (self.frames, 0, 0, 0))
        past = state.frames.get(self)
        if past is None:
            past = torch.zeros_like(x[..., :1]).expand(-1, -1, -1, self.frames)
        x = torch.cat([past, x], dim=-1)
        state.frames[self] = x[..., x.shape[-1] - self.frames:]
        return x


class Delay(nn.Module):
    """Delays [B, C, F, T] by `frames` time frames (zeros first); streaming-aware like StreamPad."""

    def __init__(self, frames: int):
        super().__init__()
        self.pad = StreamPad(frames, is_delay=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.pad(x)[..., : x.shape[-1]] if self.pad.frames else x


def conv3x3(cin: int, cout: int, causal: bool, dilation: int) -> list[nn.Module]:
    """A 3x3 conv (same size out): centred, or causal in time ([StreamPad, conv]) with time dilation."""
    if not causal:
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False)]
    return [StreamPad(2 * dilation), nn.Conv2d(cin, cout, 3, padding=(1, 0), dilation=(1, dilation), bias=False)]


class DoubleConv(nn.Sequential):
    """(3x3 conv -> BN -> ReLU) x 2. [B, cin, H, W] -> [B, cout, H, W]."""

    def __init__(self, cin: int, cmid: int, cout: int, causal: bool = False, dilation: int = 1):
        super().__init__(
            *conv3x3(cin, cmid, causal, dilation), nn.BatchNorm2d(cmid), nn.ReLU(inplace=True),
            *conv3x3(cmid, cout, causal, dilation), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        )


def time_dilation(level: int, causal: bool) -> int:
    """Time dilation of a causal block at U-Net level `level` (0 = full resolution)."""
    return 2 ** min(level, 4) if causal else 1


class Down(nn.Sequential):
    """2x2 max-pool (2x1, frequency only, when causal) then DoubleConv. [B, cin, H, W] -> [B, cout, H/2, W/2]."""

    def __init__(self, cin: int, cmid: int, cout: int, causal: bool = False, dilation: int = 1):
        super().__init__(nn.MaxPool2d((2, 1) if causal else 2), DoubleConv(cin, cmid, cout, causal, dilation))


class Up(nn.Module):
    """Up-sample x2, concatenate the skip, DoubleConv. ([B, c1, H, W], [B, c2, 2H, 2W]) -> [B, cout, 2H, 2W].
    Causal: up-sampling along frequency only."""

    def __init__(self, c_low: int, c_skip: int, cmid: int, cout: int, bilinear: bool, causal: bool = False,
                 dilation: int = 1):
        super().__init__()
        scale = (2, 1) if causal else (2, 2)
        if bilinear:
            self.up = nn.Upsample(scale_factor=scale, mode="bilinear", align_corners=True)
        else:
            self.up = nn.ConvTranspose2d(c_low, c_low, scale, stride=scale)
        self.conv = DoubleConv(c_low + c_skip, cmid, cout, causal, dilation)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        return self.conv(torch.cat([skip, self.up(x)], dim=1))
