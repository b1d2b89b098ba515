"""Denoise files of any length in bounded memory, with the same output as denoising them in one piece.

The one-piece path (`Denoiser.__call__`) holds the whole file's STFT, dB magnitude, phase and tiles: a 30-minute
file peaked at 2.9 GB. Here the file is read and resampled in blocks, the STFT is computed per chunk of tiles
(frames are independent given their samples), tiles are cross-faded into an accumulator exactly as
`dsp.merge_tiles` does (`dsp.OverlapAdd`), and frames whose every tile is done are resynthesised by the same
overlap-add and written out.
Memory then holds one chunk of tiles plus one 16 kHz mono signal buffer, which the output overwrites as
chunks finish (4 bytes per 16 kHz sample: 0.23 GB per hour of audio), whatever the input's rate and channels.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from .audio_io import CANCEL_RATIO, SAMPLE_RATE, io_error, output_format, probe_audio
from .dsp import FrontEnd, OverlapAdd, frame_spectra, frame_waves, regain, tile_starts, tile_weight, to_db
from .errors import ChvoiceError

Tensor = torch.Tensor
BLOCK_SECONDS = 30.0


# ------------------------------------------------------------------ reading and resampling in blocks

def scan(path: str | os.PathLike, block_frames: int = 1 << 20) -> sf._SoundFileInfo:
    """Validate a file in blocks (finite, not silent, not silent after downmix) without reading it whole."""
    path = Path(path)
    info = probe_audio(path)
    e_ch = e_mono = 0.0
    any_sound = False
    with sf.SoundFile(str(path)) as f:
        for block in f.blocks(blocksize=block_frames, dtype="float32", always_2d=True):
            if not np.all(np.isfinite(block)):
                raise ChvoiceError(f"{path}: audio contains NaN or inf samples")
            any_sound = any_sound or bool(np.any(block != 0))
            e_ch += float(np.sum(np.square(block, dtype=np.float64))) / block.shape[1]
            e_mono += float(np.sum(np.square(block.mean(axis=1), dtype=np.float64)))
    if not any_sound:
        raise ChvoiceError(f"{path}: audio is all silent")
    if info.channels > 1 and e_mono < CANCEL_RATIO * e_ch:
        raise ChvoiceError(f"{path}: audio is silent after mixing its {info.channels} channels to mono "
                           f"(the channels cancel: one is the other inverted)")
    return info


def _resample_params(orig: int, new: int) -> tuple[int, int, int]:
    """(orig, new) reduced by their gcd and the sinc kernel's half width in input samples, as in
    torchaudio.functional.resample (lowpass_filter_width 6, rolloff 0.99)."""
    g = math.gcd(orig, new)
    o, n = orig // g, new // g
    width = math.ceil(6 * o / (min(o, n) * 0.99))
    return o, n, width


def resample_blocks(blocks: Iterator[np.ndarray], total: int, orig: int, new: int, block_groups: int = 4000
                    ) -> Iterator[np.ndarray]:
    """Resample a stream of mono blocks (concatenated length `total`) exactly as one call of
    torchaudio.functional.resample on the whole signal would (up to float rounding): each output block is
    computed from its input with a whole number of resampling periods of real context on each side."""
    if orig == new:
        yield from blocks
        return
    o, n, width = _resample_params(orig, new)
    ctx = o * math.ceil((width + o) / o)             # context in input samples, a whole number of periods
    out_total = math.ceil(n * total / o)
    buf = np.zeros(0, np.float32)
    buf_start = 0                                    # input index of buf[0]
    g = 0                                            # next output group (n output samples per group)
    n_groups = math.ceil(out_total / n)
    src = iter(blocks)
    exhausted = False
    while g < n_groups:
        need_end = min(total, (g + block_groups) * o + ctx)
        while not exhausted and buf_start + len(buf) < need_end:
            try:
                buf = np.concatenate([buf, next(src)])
            except StopIteration:
                exhausted = True
        g1 = min(n_groups, g + block_groups)
        a = g * o - ctx                              # slice start (may be negative: zeros, as torchaudio pads)
        b = g1 * o + ctx
        seg = np.zeros(b - a, np.float32)
        lo, hi = max(a, buf_start), min(b, buf_start + len(buf), total)
        if hi > lo:
            seg[lo - a:hi - a] = buf[lo - buf_start:hi - buf_start]
        y = AF.resample(torch.from_numpy(seg), orig, new).numpy()
        skip = (ctx // o) * n
        y = y[skip: skip + (g1 - g) * n]
        y = y[: max(0, out_total - g * n)]
        yield y.astype(np.float32)
        g = g1
        drop = max(0, g * o - ctx - buf_start)       # input no longer needed
        buf, buf_start = buf[drop:], buf_start + drop


def read_mono_16k(path: str | os.PathLike, block_seconds: float = BLOCK_SECONDS) -> tuple[np.ndarray, int, int]:
    """-> (x [N] float32 at 16 kHz, original rate, channels), reading and resampling in blocks."""
    with sf.SoundFile(str(path)) as f:
        sr, ch, frames = f.samplerate, f.channels, f.frames
        blocks = (blk.mean(axis=1).astype(np.float32)
                  for blk in f.blocks(blocksize=int(block_seconds * sr), dtype="float32", always_2d=True))
        # filled in place: a list of parts plus their concatenation would hold the signal twice
        out = np.empty(frames if sr == SAMPLE_RATE else math.ceil(SAMPLE_RATE * frames / sr), np.float32)
        at = 0
        for part in resample_blocks(blocks, frames, sr, SAMPLE_RATE):
            out[at:at + len(part)] = part
            at += len(part)
    return out[:at], sr, ch


# ------------------------------------------------------------------ chunked STFT -> tiles -> overlap-add

def _reflect(x: np.ndarray, a: int, b: int, pad: int) -> np.ndarray:
    """Samples [a, b) of x padded by `pad` on both sides as dsp.stft pads: reflected (torch's 'reflect': edges not
    repeated), or zeros when x is too short to reflect (len(x) <= pad)."""
    idx = np.arange(a, b) - pad
    n = len(x)
    if n <= pad:
        out = np.zeros(b - a, np.float32)
        inside = (idx >= 0) & (idx < n)
        out[inside] = x[idx[inside]]
        return out
    idx = np.where(idx < 0, -idx, idx)
    idx = np.where(idx >= n, 2 * (n - 1) - idx, idx)
    return x[idx]


def enhance_long(x: np.ndarray, tiles_fn: Callable[[Tensor], Tensor], fe: FrontEnd = FrontEnd(),
                 batch_size: int = 16, on_progress: Callable[[float], None] | None = None,
                 inplace: bool = False) -> np.ndarray:
    """Denoise x [N] (16 kHz) chunk by chunk; equals dsp.enhance_db + dsp.regain on the whole signal up to
    float rounding. tiles_fn: dB tiles [B, 1, F, T] -> [B, 1, F, T]. A signal shorter than a tile is one tile,
    padded at the floor level as dsp.split_tiles pads it.
    inplace=True writes the output over x: samples are emitted only once no later chunk reads them (the
    next chunk starts exactly where the emitted samples end), so a long file needs one signal buffer, not two."""
    n, hop, nfft, tf = len(x), fe.hop, fe.n_fft, fe.tile_frames
    pad = nfft // 2
    n_frames = 1 + n // hop
    starts = tile_starts(n_frames, fe)
    w_tile, win64 = tile_weight(fe), fe.window().double()
    frames_ola = OverlapAdd((fe.n_bins,), dtype=torch.float32, eps=0.0)     # tiles -> dB frames
    samples_ola = OverlapAdd()                                              # frames -> padded samples
    y = x if inplace else np.zeros(n, np.float32)

    def emit(upto_frame: int) -> None:
        """Resynthesise frames [frames_ola.start, upto_frame) and write every sample no later frame touches."""
        f0 = frames_ola.start
        if upto_frame <= f0:
            return
        db = frames_ola.emit(upto_frame)
        k = upto_frame - f0
        spec = regain(noisy_spec[:, :k], noisy_db[:, :k], db)
        samples_ola.add_strided(f0 * hop, hop, frame_waves(spec, fe), win64 ** 2)
        lo = samples_ola.start
        final = upto_frame * hop if upto_frame < n_frames else (upto_frame - 1) * hop + nfft
        seg = samples_ola.emit(final)                                       # padded samples [lo, final)
        a, b = max(lo, pad), min(final, pad + n)
        if b > a:
            y[a - pad:b - pad] = seg[a - lo:b - lo].float().numpy()

    for c0 in range(0, len(starts), batch_size):
        chunk = starts[c0:c0 + batch_size]
        f0, f1 = chunk[0], min(chunk[-1] + tf, n_frames)
        spec = frame_spectra(torch.from_numpy(_reflect(x, f0 * hop, (f1 - 1) * hop + nfft, pad)), fe)
        db = to_db(spec.abs(), fe)
        padded = torch.nn.functional.pad(db, (0, chunk[-1] + tf - f0 - db.shape[-1]), value=fe.floor_db)
        tiles = torch.stack([padded[:, s - f0:s - f0 + tf] for s in chunk]).unsqueeze(1)
        out = tiles_fn(tiles)
        # the noisy frames emit() reads: each chunk starts where the last emit stopped (f0 == frames_ola.start)
        noisy_spec, noisy_db = spec, db
        for i, s in enumerate(chunk):
            frames_ola.add(s, out[i, 0] * w_tile, w_tile)
        emit(starts[c0 + batch_size] if c0 + batch_size < len(starts) else n_frames)
        if on_progress:
            on_progress(min(1.0, (c0 + len(chunk)) / len(starts)))
    return y


def _write_failure(label: Path, folder: Path, e: Exception) -> ChvoiceError:
    """libsndfile reports a full disk as 'System error.': name the cause when the folder has no room left."""
    try:
        st = os.statvfs(folder)
        if st.f_bavail * st.f_frsize < (1 << 20):
            return ChvoiceError(f"{label}: cannot write (no space left on the device)")
    except OSError:
        pass
    if isinstance(e, OSError):
        return io_error(label, e)
    return ChvoiceError(f"{label}: cannot write ({str(e).strip() or e.__class__.__name__})")


def write_blocks(path: str | os.PathLike, y: np.ndarray, sr: int, block: int = 1 << 20,
                 resample_from: int = SAMPLE_RATE, label: str | os.PathLike | None = None) -> None:
    """Write y (at resample_from Hz) to path at sr Hz, resampling in blocks; format from the extension.
    Errors name `label` (the user's destination) rather than a temporary path."""
    path = Path(path)
    shown = Path(label) if label is not None else path
    fmt, subtype = output_format(path)
    blocks = (y[i:i + block] for i in range(0, len(y), block))
    try:
        with sf.SoundFile(str(path), "w", samplerate=sr, channels=1, format=fmt, subtype=subtype) as f:
            for b in resample_blocks(blocks, len(y), resample_from, sr):
                f.write(np.clip(b, -1.0, 1.0))
    except (OSError, sf.LibsndfileError) as e:
        raise _write_failure(shown, path.parent, e) from None
