"""Spectrogram front end: STFT, dB magnitude + phase, 128x128 tiles, and overlap-add back to audio.

Parameters are the report's (torchaudio Spectrogram n_fft=254, hop=127): 128 bins, 128-frame tiles of
(128 - 1) * 127 = 16129 samples, i.e. ~1.01 s at 16 kHz.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

Tensor = torch.Tensor


@dataclass(frozen=True)
class FrontEnd:
    """STFT and tiling parameters. The defaults reproduce the report; a model carries its own n_fft and hop in its
    spec (UNetConfig), and models.unet.front_end(model) gives the FrontEnd to run it with."""

    sample_rate: int = 16_000
    n_fft: int = 254
    hop: int = 127
    tile_frames: int = 128
    tile_hop: int = 64          # frames between tile starts when tiling long audio (50 % overlap)
    amin: float = 1e-5          # magnitude floor: -100 dB, about the level of 16-bit quantisation noise

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def tile_samples(self) -> int:
        """Shortest waveform whose centred STFT has exactly tile_frames frames (1 + N // hop)."""
        return (self.tile_frames - 1) * self.hop

    @property
    def floor_db(self) -> float:
        return 20.0 * torch.log10(torch.tensor(self.amin)).item()

    def window(self, device: torch.device | str = "cpu") -> Tensor:
        return torch.hann_window(self.n_fft, device=device)


def frame_spectra(wav: Tensor, fe: FrontEnd) -> Tensor:
    """The package's one analysis: frame j = wav[..., j*hop : j*hop + n_fft] x window, its rfft. wav [..., L]
    (L >= n_fft) -> complex [..., F, k], k = 1 + (L - n_fft) // hop. Every engine frames its audio with it (the
    centred STFT below pads first; the long-file, causal and streaming engines pad as they need)."""
    frames = wav.unfold(-1, fe.n_fft, fe.hop) * fe.window(wav.device).to(wav.dtype)      # [..., k, n_fft]
    return torch.fft.rfft(frames, dim=-1).transpose(-1, -2)


def frame_waves(spec: Tensor, fe: FrontEnd) -> Tensor:
    """The package's one synthesis of frames: complex [..., F, k] -> windowed frames [..., k, n_fft], to be
    overlap-added with weight window^2 (`OverlapAdd.add_strided`, `istft`)."""
    real = spec.real.dtype
    return torch.fft.irfft(spec.transpose(-1, -2), n=fe.n_fft, dim=-1) * fe.window(spec.device).to(real)


def stft(x: Tensor, fe: FrontEnd) -> Tensor:
    """Centred complex STFT. x: [..., N] -> [..., F, T] with F = n_fft // 2 + 1, T = 1 + N // hop (torch.stft with
    center=True and reflect padding)."""
    # reflect padding needs more than n_fft/2 samples; tiny inputs are zero-padded instead
    pad = fe.n_fft // 2
    mode = "reflect" if x.shape[-1] > pad else "constant"
    flat = x.reshape(-1, 1, x.shape[-1])
    padded = torch.nn.functional.pad(flat, (pad, pad), mode=mode).reshape(*x.shape[:-1], -1)
    return frame_spectra(padded, fe)


def istft(spec: Tensor, fe: FrontEnd, length: int) -> Tensor:
    """Inverse of the centred STFT (windowed overlap-add). spec: [..., F, T] complex -> [..., length]."""
    frames = frame_waves(spec, fe)                                   # [..., T, n_fft]
    w = fe.window(spec.device).to(frames.dtype)
    pad = fe.n_fft // 2
    y = overlap_add(frames, fe.hop) / overlap_add((w * w).expand(frames.shape[-2], -1), fe.hop).clamp_min(1e-11)
    y = y[..., pad:pad + length]
    return torch.nn.functional.pad(y, (0, length - y.shape[-1]))


def to_db(mag: Tensor, fe: FrontEnd) -> Tensor:
    """Magnitude -> dB (20 log10), floored at fe.amin. Shape unchanged."""
    return 20.0 * torch.log10(mag.clamp_min(fe.amin))


def from_db(db: Tensor) -> Tensor:
    """dB -> magnitude. Shape unchanged."""
    return torch.pow(10.0, db / 20.0)


def analyse(x: Tensor, fe: FrontEnd) -> tuple[Tensor, Tensor]:
    """Waveform [..., N] -> (dB magnitude [..., F, T], phase [..., F, T])."""
    spec = stft(x, fe)
    return to_db(spec.abs(), fe), torch.angle(spec)


def synthesise(db: Tensor, phase: Tensor, fe: FrontEnd, length: int) -> Tensor:
    """dB magnitude and phase [..., F, T] -> waveform [..., length] (the noisy phase is reused)."""
    return istft(torch.polar(from_db(db), phase), fe, length)


def regain(spec: Tensor, db_in: Tensor, db_out: Tensor) -> Tensor:
    """The noisy STFT [..., F, T] brought to the denoised dB magnitude db_out, its phase kept: spec x 10^((out - in)
    / 20), with db_in = to_db(|spec|). Equals polar(from_db(db_out), angle(spec)) wherever |spec| >= fe.amin
    (-100 dB), without the angle, the exponential of the phase and the magnitude: a third of the front end's time."""
    # exp instead of pow(10, .) and a real gain on the (re, im) pairs instead of a complex product: 1.07 -> 0.39 ms
    # on a 4 s clip (one core), equal to float rounding (2e-7 relative)
    gain = torch.exp((db_out - db_in) * (math.log(10.0) / 20.0))
    return torch.view_as_complex(torch.view_as_real(spec) * gain.unsqueeze(-1))


def phase_features(spec: Tensor, fe: FrontEnd) -> Tensor:
    """Shift-invariant phase cues of a complex STFT [..., F, T] -> [..., 4, F, T] in [-1, 1]: cos and sin of each
    bin's phase advance over one hop less its nominal advance (the instantaneous-frequency deviation; none in the
    first frame), and of the phase step from the bin below (none in the lowest bin). The raw phase is no cue: it
    turns with the signal's position against the frame grid."""
    ph = torch.angle(spec)
    k = torch.arange(ph.shape[-2], device=ph.device, dtype=ph.dtype).unsqueeze(-1)
    d_t = torch.nn.functional.pad(ph[..., 1:] - ph[..., :-1] - 2 * math.pi * fe.hop / fe.n_fft * k, (1, 0))
    d_f = torch.nn.functional.pad(ph[..., 1:, :] - ph[..., :-1, :], (0, 0, 1, 0))
    return torch.stack([d_t.cos(), d_t.sin(), d_f.cos(), d_f.sin()], dim=-3)


def rotate_phase(phase: Tensor, rotation: Tensor) -> Tensor:
    """The noisy phase [..., F, T] turned by a phase-aware model's rotation output (a, b) [..., 2, F, T]: by
    atan2(b, 1 + a), so that (0, 0) keeps the noisy phase."""
    return phase + torch.atan2(rotation[..., 1, :, :], 1 + rotation[..., 0, :, :])


def normalise(tiles: Tensor, eps: float = 1e-5) -> tuple[Tensor, Tensor, Tensor]:
    """Per-tile standardisation. tiles: [B, 1, F, T] -> (normalised, mean [B,1,1,1], std [B,1,1,1]).

    Per tile rather than per batch (as the original did) so that a tile's output never depends on
    which other tiles share its batch.
    """
    # two passes by hand: torch's one-pass std kernel takes ~0.85 ms on 5 tiles of 256 x 128 on one core, this
    # 0.07 (the same value to float rounding), a sixth of a small int8 child's front end
    flat = tiles.flatten(1)
    mean = flat.mean(1, keepdim=True)
    dev = flat - mean
    std = (dev.square().sum(1, keepdim=True) / max(1, flat.shape[1] - 1)).sqrt().clamp_min(eps)
    shape = (-1,) + (1,) * (tiles.dim() - 1)
    return (dev / std).view_as(tiles), mean.view(shape), std.view(shape)


# Fixed standardisation of the causal models: a tile's mean and std need its future. The mean and std of noisy
# dB spectrograms of the `general` profile (8 batches of 16 tiles; tile means span -58..-17 dB, so the models
# learn level invariance from the profile's -25..+5 dB gain range instead).
CAUSAL_MEAN_DB = -36.0
CAUSAL_STD_DB = 19.0


def normalise_fixed(tiles: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Causal standardisation with constants. tiles: [B, 1, F, T] -> (normalised, mean, std) like normalise."""
    mean = tiles.new_full((tiles.shape[0], 1, 1, 1), CAUSAL_MEAN_DB)
    std = tiles.new_full((tiles.shape[0], 1, 1, 1), CAUSAL_STD_DB)
    return (tiles - mean) / std, mean, std


def tile_starts(n_frames: int, fe: FrontEnd) -> list[int]:
    """Start frames of the tiles covering n_frames; the last tile is aligned to the end."""
    if n_frames <= fe.tile_frames:
        return [0]
    starts = list(range(0, n_frames - fe.tile_frames + 1, fe.tile_hop))
    if starts[-1] + fe.tile_frames < n_frames:
        starts.append(n_frames - fe.tile_frames)
    return starts


def split_tiles(db: Tensor, fe: FrontEnd) -> tuple[Tensor, list[int]]:
    """[F, T] dB spectrogram -> ([K, 1, F, tile_frames] tiles, starts); [C, F, T] (dB, then other
    channels) -> [K, C, F, tile_frames]. Short inputs are padded at the floor level (silence; zeros in the
    other channels)."""
    x = db if db.dim() == 3 else db.unsqueeze(0)
    n_frames = x.shape[-1]
    if n_frames < fe.tile_frames:
        pad = x.new_zeros(*x.shape[:-1], fe.tile_frames - n_frames)
        pad[0] = fe.floor_db
        x = torch.cat([x, pad], dim=-1)
    starts = tile_starts(n_frames, fe)
    tiles = torch.stack([x[..., s:s + fe.tile_frames] for s in starts])
    return tiles, starts


def overlap_add(segments: Tensor, hop: int) -> Tensor:
    """Sum of K segments [..., K, L] placed hop apart -> [..., (K - 1) * hop + L] (one fold, not K adds)."""
    *lead, k, n = segments.shape
    total = (k - 1) * hop + n
    cols = segments.reshape(-1, k, n).transpose(1, 2)                      # [B, L, K]
    out = torch.nn.functional.fold(cols, (1, total), (1, n), stride=(1, hop))
    return out.reshape(*lead, total)


class OverlapAdd:
    """The one weighted overlap-add of the package, fed in pieces and read out as it becomes final.

    Segments [..., L] are added at absolute positions along the last axis together with a weight [L]; a position's
    output is its sum of values over its sum of weights (0 where the weights sum to at most `eps`). Every engine
    uses it: tiles cross-faded into frames (`merge_tiles`, the long-file path), and windowed frames into samples
    (the long-file path, the causal models' offline path, the streaming engines; value = frame x window,
    weight = window^2). `emit(upto)` hands out positions [start, upto) and forgets them, so a stream's memory
    stays bounded; adding before the last emitted position is an error."""

    def __init__(self, lead: tuple[int, ...] = (), start: int = 0, dtype: torch.dtype = torch.float64,
                 device: torch.device | str = "cpu", eps: float = 1e-8, capacity: int = 0):
        self.start = start                       # absolute position of acc[..., 0]
        self.eps = eps
        self.acc = torch.zeros(*lead, capacity, dtype=dtype, device=device)
        self.wsum = torch.zeros(capacity, dtype=dtype, device=device)

    def _reserve(self, end: int) -> None:
        need = end - self.start
        cap = self.wsum.shape[0]
        if need > cap:                           # grow by doubling: adding K segments costs O(K), not O(K^2)
            new = max(need, 2 * cap)
            self.acc = torch.cat([self.acc, self.acc.new_zeros(*self.acc.shape[:-1], new - cap)], dim=-1)
            self.wsum = torch.cat([self.wsum, self.wsum.new_zeros(new - cap)])

    def add(self, pos: int, values: Tensor, weight: Tensor) -> None:
        """Add values [..., L] (already weighted) and weight [L] at absolute positions [pos, pos + L)."""
        if pos < self.start:
            raise ValueError(f"overlap-add: position {pos} was already emitted (up to {self.start})")
        n = values.shape[-1]
        self._reserve(pos + n)
        s = pos - self.start
        self.acc[..., s:s + n] += values.to(self.acc.dtype)
        self.wsum[s:s + n] += weight.to(self.wsum.dtype)

    def add_strided(self, pos: int, hop: int, values: Tensor, weight: Tensor) -> None:
        """Add K segments values [..., K, L] at positions pos, pos + hop, ..., each with weight [L] (one fold)."""
        k, n = values.shape[-2:]
        if k == 0:
            return
        self.add(pos, overlap_add(values.to(self.acc.dtype), hop),
                 overlap_add(weight.to(self.wsum.dtype).expand(k, n), hop))

    def emit(self, upto: int) -> Tensor:
        """The output at positions [start, upto) ([..., upto - start]); they are then forgotten."""
        n = upto - self.start
        if n <= 0:
            return self.acc[..., :0].clone()
        self._reserve(upto)
        w = self.wsum[:n]
        out = torch.where(w > self.eps, self.acc[..., :n] / w.clamp_min(self.eps), torch.zeros_like(w))
        self.acc = self.acc[..., n:].clone()
        self.wsum = self.wsum[n:].clone()
        self.start = upto
        return out


def tile_weight(fe: FrontEnd, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> Tensor:
    """The raised-cosine cross-fade [tile_frames] of overlapping tiles: tile edges, where the network sees least
    context, weigh least (never zero)."""
    return torch.hann_window(fe.tile_frames + 2, periodic=False, device=device, dtype=dtype)[1:-1]


def merge_tiles(tiles: Tensor, starts: list[int], n_frames: int, fe: FrontEnd) -> Tensor:
    """Overlap-add [K, 1, F, tile_frames] tiles back to [F, n_frames] ([K, C, ...] -> [C, F, n_frames]), each
    weighted by `tile_weight`."""
    k, c, n_bins, tf = tiles.shape
    w = tile_weight(fe, tiles.device, tiles.dtype)
    ola = OverlapAdd((c, n_bins), dtype=tiles.dtype, device=tiles.device, eps=0.0, capacity=max(n_frames, tf))
    for i, s in enumerate(starts):
        ola.add(s, tiles[i] * w, w)
    out = ola.emit(max(n_frames, tf))[..., :n_frames]
    return out[0] if c == 1 else out


TileFn = Callable[[Tensor], Tensor]


def enhance_db(db: Tensor, tile_fn: TileFn, fe: FrontEnd, batch_size: int = 16) -> Tensor:
    """Apply tile_fn ([B,1,F,T] dB -> [B,1,F,T] dB) over a whole [F, T] spectrogram of any length; or
    ([B,C,F,T] -> [B,C',F,T]) over a [C, F, T] stack (-> [C', F, T])."""
    tiles, starts = split_tiles(db, fe)
    outs = [tile_fn(tiles[i:i + batch_size]) for i in range(0, tiles.shape[0], batch_size)]
    return merge_tiles(torch.cat(outs), starts, db.shape[-1], fe)
