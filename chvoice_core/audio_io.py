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


def wav_declared_frames(path: str | os.PathLike) -> tuple[int, int] | None:
    """(frames the WAV header declares, frames the file holds), from the RIFF chunks; None for other files,
    unreadable headers or streaming headers (size 0 / 0xFFFFFFFF). libsndfile silently trusts the file
    size, so a truncated download or copy would otherwise pass unnoticed."""
    import struct
    path = Path(path)
    if path.suffix.lower() != ".wav":
        return None
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        block = None
        while True:
            ch = f.read(8)
            if len(ch) < 8:
                return None
            cid, n = ch[:4], struct.unpack("<I", ch[4:])[0]
            if cid == b"fmt ":
                fmt = f.read(n + (n & 1))
                if len(fmt) < 16:
                    return None
                channels, bits = struct.unpack("<H", fmt[2:4])[0], struct.unpack("<H", fmt[14:16])[0]
                block = max(1, channels * ((bits + 7) // 8))
            elif cid == b"data":
                if block is None or n in (0, 0xFFFFFFFF):
                    return None
                held = size - f.tell()
                return n // block, max(0, held) // block
            else:
                f.seek(n + (n & 1), 1)


def check_wav_length(path: Path, frames_read: int) -> None:
    """Refuse a WAV whose header promises more audio than the file holds (a truncated file)."""
    try:
        d = wav_declared_frames(path)
    except OSError:
        return
    if d is not None and d[0] > d[1] and d[1] <= frames_read:
        raise ChvoiceError(f"{path}: truncated file: its header declares {d[0]} frames but it holds {d[1]} "
                           f"(re-copy or re-export it)")


CANCEL_RATIO = 1e-6   # a downmix 60 dB below its channels' energy counts as cancelled


def cancels(x: np.ndarray, mono: np.ndarray) -> bool:
    """True when channels that carry sound mix to (near) silence: anti-phase stereo. x [N, C], mono [N]."""
    e_ch = float(np.mean(np.square(x, dtype=np.float64)))
    e_mono = float(np.mean(np.square(mono, dtype=np.float64)))
    return e_ch > 0 and e_mono < CANCEL_RATIO * e_ch


def probe_audio(path: str | os.PathLike) -> "sf._SoundFileInfo":
    """Check a path is a readable, complete audio file without reading its samples; returns its header info."""
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
        info = sf.info(str(path))
    except Exception as e:  # soundfile raises LibsndfileError, RuntimeError, TypeError...
        raise ChvoiceError(f"{path}: not a readable audio file ({e.__class__.__name__})") from None
    if info.frames == 0:
        raise ChvoiceError(f"{path}: audio has zero length")
    check_wav_length(path, info.frames)
    return info


def read_audio(path: str | os.PathLike, target_sr: int | None = SAMPLE_RATE, validate: bool = True
               ) -> tuple[np.ndarray, int]:
    """Read any soundfile-supported file, mix down to mono and resample.

    Returns (x [N] float32, original_sample_rate). With target_sr=None the audio keeps its rate.
    """
    path = Path(path)
    probe_audio(path)
    try:
        x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises LibsndfileError, RuntimeError, TypeError...
        raise ChvoiceError(f"{path}: not a readable audio file ({e.__class__.__name__})") from None
    if validate:
        check_audio(x, str(path))
    mono = x.mean(axis=1)
    if validate and x.shape[1] > 1 and cancels(x, mono):
        raise ChvoiceError(f"{path}: audio is silent after mixing its {x.shape[1]} channels to mono "
                           f"(the channels cancel: one is the other inverted)")
    if target_sr is not None and sr != target_sr:
        mono = resample(mono, sr, target_sr)
    return mono.astype(np.float32), sr


def resample(x: np.ndarray, orig_sr: int, new_sr: int) -> np.ndarray:
    """Band-limited resampling (torchaudio sinc interpolation). x: [N] -> [N * new_sr / orig_sr]."""
    if orig_sr == new_sr:
        return x
    y = AF.resample(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), orig_sr, new_sr)
    return y.numpy()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def target_mode(dest: Path) -> int:
    """The mode a written file should get: that of the file it replaces, else 0666 less the umask (what
    open() would give); mkstemp's 0600 would otherwise hide outputs from the user's group."""
    try:
        return dest.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def io_error(path: Path, e: OSError) -> ChvoiceError:
    """One clear line for a filesystem failure (no traceback, no errno noise)."""
    import errno
    why = {errno.ENOSPC: "no space left on the device", errno.EROFS: "read-only file system",
           errno.EACCES: "permission denied", errno.EPERM: "operation not permitted",
           errno.EISDIR: "is a folder", errno.ENOTDIR: "a parent of it is not a folder",
           errno.ENOENT: "no such folder", errno.EDQUOT: "disk quota exceeded",
           errno.EEXIST: "a parent of it is a file, not a folder"}.get(e.errno, e.strerror or str(e))
    return ChvoiceError(f"{path}: cannot write ({why})")


@contextmanager
def atomic_path(dest: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `dest`; move it over `dest` only if the block succeeds. Filesystem
    failures become one ChvoiceError; the result honours the umask (or the replaced file's mode)."""
    dest = Path(dest)
    if dest.is_dir():
        raise ChvoiceError(f"{dest}: cannot write (is a folder)")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=suffix or dest.suffix, dir=dest.parent)
        os.close(fd)
    except OSError as e:
        raise io_error(dest, e) from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        try:
            os.chmod(tmp_path, target_mode(dest))
            os.replace(tmp_path, dest)
        except OSError as e:
            raise io_error(dest, e) from None
    except OSError as e:
        raise io_error(dest, e) from None
    finally:
        if tmp_path.exists():
            try:
                tmp_path.unlink()
            except OSError:
                pass


def output_format(path: Path) -> tuple[str, str]:
    """(soundfile format, subtype) chvoice writes for an output path, from its extension."""
    ext = path.suffix.lower()
    if ext not in AUDIO_EXTENSIONS:
        raise ChvoiceError(f"{path}: unsupported output extension {ext or '(none)'}")
    fmt = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".mp3": "MP3"}[ext]
    return fmt, {"WAV": "PCM_16", "FLAC": "PCM_16", "OGG": "VORBIS", "MP3": "MPEG_LAYER_III"}[fmt]


def write_audio(path: str | os.PathLike, x: np.ndarray, sr: int = SAMPLE_RATE) -> None:
    """Write x [N] (or [N, C]) atomically; the format follows the extension (wav/flac/ogg/mp3)."""
    path = Path(path)
    fmt, subtype = output_format(path)
    y = np.clip(np.asarray(x, dtype=np.float32), -1.0, 1.0)
    with atomic_path(path) as tmp:
        try:
            sf.write(str(tmp), y, sr, format=fmt, subtype=subtype)
        except sf.LibsndfileError as e:   # e.g. disk full while writing
            raise ChvoiceError(f"{path}: cannot write ({e.error_string if hasattr(e, 'error_string') else e})") from None


def list_audio_files(root: str | os.PathLike) -> list[Path]:
    """All audio files below root, sorted, so every listing is deterministic."""
    root = Path(root)
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
