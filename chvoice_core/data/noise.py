"""Noise sources: ESC-50 (five categories), the report's per-category folders, built-in synthetic
stand-ins for the same categories, static (Gaussian) noise, and reverb (RevEcho echo trains or a
measured room impulse response)."""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import signal

from ..audio_io import SAMPLE_RATE, list_audio_files, read_audio
from ..errors import ChvoiceError

CATEGORIES = ("keyboard", "coughing", "clock-tick", "click", "wind")
ESC50_CATEGORY = {"keyboard_typing": "keyboard", "coughing": "coughing", "clock_tick": "clock-tick",
                  "mouse_click": "click", "wind": "wind"}
REPORT_FOLDER = {"keyboard-mono": "keyboard", "coughing-mono": "coughing", "clock-tick-mono": "clock-tick",
                 "click-mono": "click", "wind-mono": "wind"}


@dataclass(frozen=True)
class NoiseClip:
    id: str            # file stem (ESC-50 name) or generated id
    category: str
    audio: np.ndarray  # float32 [N] at 16 kHz


class NoiseBank:
    """Noise clips grouped by category."""

    def __init__(self, clips: list[NoiseClip], name: str):
        self.name = name
        self.by_category: dict[str, list[NoiseClip]] = {c: [] for c in CATEGORIES}
        for clip in sorted(clips, key=lambda c: c.id):
            self.by_category[clip.category].append(clip)
        missing = [c for c, v in self.by_category.items() if not v]
        if missing:
            raise ChvoiceError(f"{name}: no noise clips for categor{'y' if len(missing) == 1 else 'ies'} "
                               f"{', '.join(missing)}")

    def clips(self) -> list[NoiseClip]:
        return [c for cat in CATEGORIES for c in self.by_category[cat]]

    def ids(self) -> set[str]:
        return {c.id for c in self.clips()}

    def without(self, ids: set[str], name: str) -> "NoiseBank":
        """The bank minus clips whose id is in ids (e.g. to keep test clips out of training)."""
        return NoiseBank([c for c in self.clips() if c.id not in ids], name)

    def split(self, test_fraction: float = 0.25) -> tuple["NoiseBank", "NoiseBank"]:
        """(train, test): every category keeps at least one clip on each side; deterministic."""
        train, test = [], []
        for cat in CATEGORIES:
            cl = self.by_category[cat]
            if len(cl) < 2:
                raise ChvoiceError(f"{self.name}: need two {cat} clips to hold one out for testing")
            n_test = max(1, round(len(cl) * test_fraction))
            test += cl[-n_test:]
            train += cl[:-n_test]
        return NoiseBank(train, f"{self.name}[train]"), NoiseBank(test, f"{self.name}[test]")


def esc50(root: str | os.PathLike) -> NoiseBank:
    """ESC-50 in its upstream layout (`audio/*.wav` + `meta/esc50.csv`), the report's five categories."""
    root = Path(root)
    meta = root / "meta" / "esc50.csv"
    if not meta.is_file():
        raise ChvoiceError(f"{root}: not an ESC-50 folder (missing meta/esc50.csv)")
    clips = []
    with open(meta, newline="") as f:
        for row in csv.DictReader(f):
            cat = ESC50_CATEGORY.get(row.get("category", ""))
            if cat is None:
                continue
            path = root / "audio" / row["filename"]
            if not path.is_file():
                continue   # partial copies of ESC-50 are common; the csv lists all 2000 clips
            clips.append(NoiseClip(Path(row["filename"]).stem, cat, read_audio(path)[0]))
    return NoiseBank(clips, f"esc50:{root}")


def report_noise_folders(root: str | os.PathLike) -> NoiseBank:
    """The report's own layout: `<root>/<category>-mono/*.wav` (keyboard, coughing, clock-tick, click, wind)."""
    root = Path(root)
    if not root.is_dir():
        raise ChvoiceError(f"{root}: no such folder")
    clips = []
    for folder, cat in REPORT_FOLDER.items():
        for f in list_audio_files(root / folder) if (root / folder).is_dir() else []:
            clips.append(NoiseClip(f.stem, cat, read_audio(f)[0]))
    if not clips:
        raise ChvoiceError(f"{root}: no <category>-mono/ folders ({', '.join(REPORT_FOLDER)})")
    return NoiseBank(clips, f"folders:{root}")


def noise_bank_from_path(root: str | os.PathLike) -> NoiseBank:
    """Detect the layout: ESC-50 (meta/esc50.csv) or the report's category folders."""
    root = Path(root)
    if (root / "meta" / "esc50.csv").is_file():
        return esc50(root)
    if any((root / f).is_dir() for f in REPORT_FOLDER):
        return report_noise_folders(root)
    raise ChvoiceError(f"{root}: not a noise folder (expected ESC-50 with meta/esc50.csv, "
                       f"or <category>-mono/ folders)")


# ---------------------------------------------------------------- built-in synthetic stand-ins

def _bandpass(x: np.ndarray, lo: float, hi: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    sos = signal.butter(4, [lo, hi], btype="band", fs=sr, output="sos")
    return signal.sosfilt(sos, x)


def _impulses(rng: np.random.Generator, n: int, times: np.ndarray, dur: float, lo: float, hi: float,
              decay: float) -> np.ndarray:
    """Short decaying band-limited bursts at the given times (seconds)."""
    out = np.zeros(n)
    m = int(dur * SAMPLE_RATE)
    env = np.exp(-np.arange(m) / (decay * SAMPLE_RATE))
    for t in times:
        s = int(t * SAMPLE_RATE)
        if s + m >= n:
            continue
        burst = _bandpass(rng.standard_normal(m), lo, hi) * env * rng.uniform(0.5, 1.0)
        out[s:s + m] += burst
    return out


def synth_noise(category: str, rng: np.random.Generator, seconds: float = 5.0) -> np.ndarray:
    """A stand-in for one ESC-50 category: keystroke bursts, cough-like bursts, periodic ticks, click
    pairs, or gusty low-passed wind. float32 [seconds * 16000], peak-normalised to 0.5."""
    n = int(seconds * SAMPLE_RATE)
    if category == "keyboard":
        times = np.cumsum(rng.uniform(0.08, 0.3, size=int(seconds * 8)))
        x = _impulses(rng, n, times[times < seconds], 0.03, rng.uniform(800, 1500), rng.uniform(4000, 7000), 0.006)
    elif category == "click":
        starts = np.sort(rng.uniform(0, seconds - 0.2, size=rng.integers(3, 9)))
        times = np.concatenate([starts, starts + rng.uniform(0.05, 0.12, size=len(starts))])
        x = _impulses(rng, n, times, 0.015, rng.uniform(1500, 2500), rng.uniform(5000, 7500), 0.002)
    elif category == "clock-tick":
        period = rng.choice([0.5, 1.0, 1 / 3])
        times = np.arange(rng.uniform(0, period), seconds, period)
        x = _impulses(rng, n, times, 0.02, rng.uniform(2000, 3000), rng.uniform(5000, 7500), 0.003)
    elif category == "coughing":
        x = np.zeros(n)
        for t in np.sort(rng.uniform(0, seconds - 0.5, size=rng.integers(1, 4))):
            m = int(rng.uniform(0.2, 0.45) * SAMPLE_RATE)
            env = np.sin(np.linspace(0, np.pi, m)) ** 0.5 * np.exp(-np.linspace(0, 3, m))
            f0 = rng.uniform(300, 700)
            burst = _bandpass(rng.standard_normal(m), f0, min(7000, f0 * rng.uniform(4, 8))) * env
            s = int(t * SAMPLE_RATE)
            x[s:s + m] += burst
    elif category == "wind":
        sos = signal.butter(2, rng.uniform(300, 900), btype="low", fs=SAMPLE_RATE, output="sos")
        base = signal.sosfilt(sos, rng.standard_normal(n))
        gust = signal.sosfilt(signal.butter(1, 0.5, fs=SAMPLE_RATE, output="sos"), rng.standard_normal(n))
        gust = np.abs(gust) / (np.abs(gust).max() + 1e-9)
        x = base * (0.3 + gust)
    else:
        raise ChvoiceError(f"unknown noise category {category!r}; known: {', '.join(CATEGORIES)}")
    x = x / (np.abs(x).max() + 1e-9) * 0.5
    return x.astype(np.float32)


def synthetic_noise_bank(clips_per_category: int = 24, seed: int = 0) -> NoiseBank:
    """The built-in offline noise set: deterministic synthetic clips of each category."""
    clips = []
    for ci, cat in enumerate(CATEGORIES):
        for i in range(clips_per_category):
            rng = np.random.default_rng([seed, ci, i])
            clips.append(NoiseClip(f"synth-{cat}-{i:03d}", cat, synth_noise(cat, rng)))
    return NoiseBank(clips, "builtin:synthetic-noise")


# ---------------------------------------------------------------- static and reverb

def static_noise(n: int, rng: np.random.Generator, std: float = 1.0) -> np.ndarray:
    """White Gaussian noise [n]."""
    return (rng.standard_normal(n) * std).astype(np.float32)


@dataclass(frozen=True)
class RevEchoConfig:
    """RevEcho of Défossez et al. (facebookresearch/denoiser), with the report's parameters."""

    initial: float = 0.2                        # max amplitude of the first echo (drawn in [0, initial))
    rt60: tuple[float, float] = (0.1, 1.0)      # seconds for a 60 dB decay
    first_delay: tuple[float, float] = (0.01, 0.03)
    repeat: int = 31                            # independent echo trains summed
    jitter: float = 0.1


def revecho_ir(rng: np.random.Generator, cfg: RevEchoConfig, initial: float, first_delay: float, rt60: float,
               sr: int = SAMPLE_RATE) -> np.ndarray:
    """The echo trains as one sparse impulse response [L] (no direct path). Each echo comes
    first_delay (jittered) after the last and is attenuated so that d ** (rt60 / first_delay) = 1e-3.
    Equivalent to the original's shift-and-add loop, but applied as one FFT convolution."""
    taps: list[tuple[int, float]] = []
    for _ in range(cfg.repeat):
        frac, amp, t = 1.0, initial, 0
        while frac > 1e-3:
            t += 1 + int((1 + cfg.jitter * rng.uniform(-1, 1)) * first_delay * sr)
            taps.append((t, amp))
            att = 10 ** (-3 * (1 + cfg.jitter * rng.uniform(-1, 1)) * first_delay / rt60)
            amp *= att
            frac *= att
    ir = np.zeros(max(t for t, _ in taps) + 1)
    for t, a in taps:
        ir[t] += a
    return ir


def add_revecho(x: np.ndarray, rng: np.random.Generator, cfg: RevEchoConfig = RevEchoConfig()
                ) -> tuple[np.ndarray, dict]:
    """x [N] -> (reverberant x [N], parameters drawn)."""
    params = {"initial": float(rng.random() * cfg.initial), "first_delay": float(rng.uniform(*cfg.first_delay)),
              "rt60": float(rng.uniform(*cfg.rt60))}
    ir = revecho_ir(rng, cfg, **params)
    wet = signal.fftconvolve(x, ir)[: len(x)]
    return (x + wet).astype(np.float32), params


def load_rir(path: str | os.PathLike) -> np.ndarray:
    """A measured room impulse response, 16 kHz, starting at its direct-path peak, unit peak."""
    h, _ = read_audio(path)
    h = h[int(np.argmax(np.abs(h))):]
    return (h / np.abs(h).max()).astype(np.float32)


def convolve_rir(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """x [N] convolved with a room impulse response, same length and RMS as x."""
    y = signal.fftconvolve(x, rir)[: len(x)]
    return (y * (np.sqrt(np.mean(x ** 2)) / (np.sqrt(np.mean(y ** 2)) + 1e-12))).astype(np.float32)
