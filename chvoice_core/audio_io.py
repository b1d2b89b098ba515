"""Reading, validating, resampling and atomically writing audio.

soundfile does the I/O (torchaudio.load/save need torchcodec + FFmpeg); torchaudio.functional resamples.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from .errors import ChvoiceError

SAMPLE_RATE = 16_000
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")


def check_audio(x: np.ndarray, name: str) -> None:
    """Refuse empty, non-finite or all-silent audio with a clear message. x: [N] or [N, C]."""
    if x.size == 0:
        raise ChvoiceError(f"{name}: audio has zero length")
    if not np.all(np.isfinite(x)):
        raise ChvoiceError(f"{name}: audio contains NaN or inf samples")
    if not np.any(x != 0):
        raise ChvoiceError(f"{name}: audio is all silent")


def read_audio(path: str | os.PathLike, target_sr: int | None = SAMPLE_RATE, validate: bool = True
               ) -> tuple[np.ndarray, int]:
    """Read any soundfile-supported file, mix down to mono and resample.

    Returns (x [N] float32, original_sample_rate). With target_sr=None the audio keeps its rate.
    """
    path = Path(path)
    if not path.exists():
        raise ChvoiceError(f"{path}: no such file")
    if path.is_dir():
        raise ChvoiceError(f"{path}: is a folder, not an audio file")
    if path.suffix.lower() not in AUDIO_EXTENSIONS:
        raise ChvoiceError(f"{path}: unsupported extension {path.suffix or '(none)'}; "
                           f"use one of {', '.join(AUDIO_EXTENSIONS)}")
    if path.stat().st_size == 0:
        raise ChvoiceError(f"{path}: file is empty")
    try:
        x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises LibsndfileError, RuntimeError, TypeError...
        raise ChvoiceError(f"{path}: not a readable audio file ({e.__class__.__name__})") from None
    if validate:
        check_audio(x, str(path))
    mono = x.mean(axis=1)
    if target_sr is not None and sr != target_sr:
        mono = resample(mono, sr, target_sr)
    return mono.astype(np.float32), sr


def resample(x: np.ndarray, orig_sr: int, new_sr: int) -> np.ndarray:
    """Band-limited resampling (torchaudio sinc interpolation). x: [N] -> [N * new_sr / orig_sr]."""
    if orig_sr == new_sr:
        return x
    y = AF.resample(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), orig_sr, new_sr)
    return y.numpy()


@contextmanager
def atomic_path(dest: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `dest`; move it over `dest` only if the block succeeds."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=suffix or dest.suffix, dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, dest)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_audio(path: str | os.PathLike, x: np.ndarray, sr: int = SAMPLE_RATE) -> None:
    """Write x [N] (or [N, C]) atomically; the format follows the extension (wav/flac/ogg/mp3)."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in AUDIO_EXTENSIONS:
        raise ChvoiceError(f"{path}: unsupported output extension {ext or '(none)'}")
    fmt = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".mp3": "MP3"}[ext]
    subtype = {"WAV": "PCM_16", "FLAC": "PCM_16", "OGG": "VORBIS", "MP3": "MPEG_LAYER_III"}[fmt]
    y = np.clip(np.asarray(x, dtype=np.float32), -1.0, 1.0)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), y, sr, format=fmt, subtype=subtype)


def list_audio_files(root: str | os.PathLike) -> list[Path]:
    """All audio files below root, sorted, so every listing is deterministic."""
    root = Path(root)
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
