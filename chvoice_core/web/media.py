"""Media handling for the web app: content sniffing, and ffmpeg (from the imageio-ffmpeg wheel) to split and
re-mux video. ffmpeg is always called with an argument list, never through a shell."""
from __future__ import annotations

import subprocess
from pathlib import Path

from ..errors import ChvoiceError

# (magic bytes at offset, kind, extension)
_SIGNATURES = [
    (0, b"RIFF", 8, b"WAVE", "audio", ".wav"),
    (0, b"fLaC", None, None, "audio", ".flac"),
    (0, b"OggS", None, None, "audio", ".ogg"),
    (0, b"ID3", None, None, "audio", ".mp3"),
    (4, b"ftyp", None, None, "video", ".mp4"),
    (0, b"\x1a\x45\xdf\xa3", None, None, "video", ".mkv"),
]


def sniff(head: bytes) -> tuple[str, str] | None:
    """(kind, extension) from a file's first bytes, or None when it is not a type we accept."""
    for off, magic, off2, magic2, kind, ext in _SIGNATURES:
        if head[off:off + len(magic)] == magic and (magic2 is None or head[off2:off2 + len(magic2)] == magic2):
            return kind, ext
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0:   # MPEG audio frame sync (mp3 without ID3)
        return "audio", ".mp3"
    return None


def ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as e:  # ImportError, or the wheel's binary missing
        raise ChvoiceError(f"video needs ffmpeg from the imageio-ffmpeg package: {e}") from None


def _run(args: list[str], what: str) -> None:
    r = subprocess.run(args, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["?"])[-1]
        raise ChvoiceError(f"{what} failed: {last}")


def extract_audio(video: Path, wav: Path) -> None:
    """Video -> 16 kHz mono WAV."""
    _run([ffmpeg_exe(), "-nostdin", "-y", "-i", str(video), "-vn", "-ac", "1", "-ar", "16000", "-f", "wav", str(wav)],
         "extracting the audio track")


def has_audio_stream(video: Path) -> bool:
    r = subprocess.run([ffmpeg_exe(), "-nostdin", "-i", str(video)], capture_output=True, text=True, timeout=60)
    return "Audio:" in r.stderr


def remux(video: Path, audio: Path, out: Path) -> None:
    """Keep the picture as it is, replace the sound with `audio`."""
    _run([ffmpeg_exe(), "-nostdin", "-y", "-i", str(video), "-i", str(audio), "-map", "0:v:0", "-map", "1:a:0",
          "-c:v", "copy", "-c:a", "aac", "-shortest", "-movflags", "+faststart", str(out)], "re-muxing the video")
