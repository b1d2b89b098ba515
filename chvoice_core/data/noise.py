"""Noise sources: ESC-50 (the report's five categories, or any of its 50), the report's per-category folders,
any folder of categorised noise (`<root>/<category>/*.wav`), built-in synthetic noises (stand-ins for the
report's five categories plus coloured noise, mains hum, fan/HVAC, tonal music-like noise and babble),
static (Gaussian) noise, and reverb (RevEcho echo trains or a measured room impulse response)."""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import signal

from ..audio_io import SAMPLE_RATE, list_audio_files, read_audio
from ..errors import ChvoiceError

CATEGORIES = ("keyboard", "coughing", "clock-tick", "click", "wind")   # the report's five
# built-in synthetic categories beyond the report's, for broad profiles such as `general`
EXTRA_SYNTH_CATEGORIES = ("coloured", "hum", "hvac", "tonal")
ESC50_CATEGORY = {"keyboard_typing": "keyboard", "coughing": "coughing", "clock_tick": "clock-tick",
                  "mouse_click": "click", "wind": "wind"}
REPORT_FOLDER = {"keyboard-mono": "keyboard", "coughing-mono": "coughing", "clock-tick-mono": "clock-tick",
                 "click-mono": "click", "wind-mono": "wind"}


@dataclass(frozen=True)
class NoiseClip:
    id: str            # file stem (ESC-50 name) or generated id
    category: str
    audio: np.ndarray  # float32 [N] at 16 kHz
    recording: str = ""   # source recording (e.g. freesound id): clips of one recording stay on one side of a split
    fold: str = ""        # the dataset's own fold, when it has one


class NoiseBank:
    """Noise clips grouped by category. `required` categories must have clips (the report's five by default,
    so a source without them fails early); any other category present is kept as well."""

    def __init__(self, clips: list[NoiseClip], name: str, required: tuple[str, ...] = CATEGORIES):
        self.name = name
        self.by_category: dict[str, list[NoiseClip]] = {c: [] for c in required}
        for clip in sorted(clips, key=lambda c: c.id):
            self.by_category.setdefault(clip.category, []).append(clip)
        missing = [c for c, v in self.by_category.items() if not v]
        if missing:
            raise ChvoiceError(f"{name}: no noise clips for categor{'y' if len(missing) == 1 else 'ies'} "
                               f"{', '.join(missing)}")
        self.required = tuple(required)

    @property
    def categories(self) -> tuple[str, ...]:
        """The report's categories first (in their order), then the others sorted."""
        extra = sorted(c for c in self.by_category if c not in CATEGORIES)
        return tuple(c for c in CATEGORIES if c in self.by_category) + tuple(extra)

    def clips(self) -> list[NoiseClip]:
        return [c for cat in self.categories for c in self.by_category[cat]]

    def ids(self) -> set[str]:
        return {c.id for c in self.clips()}

    def without(self, ids: set[str], name: str) -> "NoiseBank":
        """The bank minus clips whose id is in ids (e.g. to keep test clips out of training)."""
        return NoiseBank([c for c in self.clips() if c.id not in ids], name, self.required)

    def merged(self, other: "NoiseBank", name: str) -> "NoiseBank":
        """Both banks' clips in one (ids must not collide)."""
        clash = self.ids() & other.ids()
        if clash:
            raise ChvoiceError(f"{name}: clip ids in both noise sources, e.g. {sorted(clash)[0]}")
        return NoiseBank(self.clips() + other.clips(), name, self.required)

    def split(self, test_fraction: float = 0.25) -> tuple["NoiseBank", "NoiseBank"]:
        """(train, test): every category keeps at least one clip on each side; deterministic. Clips that share
        a source recording stay together; a category with a single recording goes to training only."""
        train, test = [], []
        for cat in self.categories:
            cl = self.by_category[cat]
            groups: dict[str, list[NoiseClip]] = {}
            for c in cl:
                groups.setdefault(c.recording or c.id, []).append(c)
            keys = list(groups)     # in clip-id order
            if len(keys) < 2:
                if cat in self.required:
                    raise ChvoiceError(f"{self.name}: need two {cat} clips to hold one out for testing")
                train += cl
                continue
            n_test = max(1, round(len(keys) * test_fraction))
            test += [c for k in keys[-n_test:] for c in groups[k]]
            train += [c for k in keys[:-n_test] for c in groups[k]]
        return (NoiseBank(train, f"{self.name}[train]", self.required),
                NoiseBank(test, f"{self.name}[test]", ()))


def esc50(root: str | os.PathLike, categories: str | tuple[str, ...] = "report") -> NoiseBank:
    """ESC-50 in its upstream layout (`audio/*.wav` + `meta/esc50.csv`). categories: "report" (the report's
    five, under chvoice's names), "all" (every category present, under ESC-50's names; the report's five
    still under chvoice's), or a tuple of ESC-50 category names."""
    root = Path(root)
    meta = root / "meta" / "esc50.csv"
    if not meta.is_file():
        raise ChvoiceError(f"{root}: not an ESC-50 folder (missing meta/esc50.csv)")
    clips = []
    with open(meta, newline="") as f:
        for row in csv.DictReader(f):
            esc = row.get("category", "")
            if categories == "report":
                cat = ESC50_CATEGORY.get(esc)
            elif categories == "all" or esc in categories:
                cat = ESC50_CATEGORY.get(esc, esc)
            else:
                cat = None
            if cat is None:
                continue
            path = root / "audio" / row["filename"]
            if not path.is_file():
                continue   # partial copies of ESC-50 are common; the csv lists all 2000 clips
            clips.append(NoiseClip(Path(row["filename"]).stem, cat, read_audio(path)[0],
                                   recording=str(row.get("src_file", "")), fold=str(row.get("fold", ""))))
    required = CATEGORIES if categories == "report" else ()
    if categories not in ("report", "all"):
        found = {c.category for c in clips}
        missing = [c for c in categories if ESC50_CATEGORY.get(c, c) not in found]
        if missing:
            raise ChvoiceError(f"{root}: no ESC-50 clips for {', '.join(missing)}")
    return NoiseBank(clips, f"esc50:{root}", required)


def category_folders(root: str | os.PathLike, meta_file: str = "NOISE_META.csv") -> NoiseBank:
    """Any folder of categorised noise: `<root>/<category>/*.wav` (e.g. ../shared/data/noise-categories).
    An optional `<root>/NOISE_META.csv` (local_path, category, fold, source_recording_id) names each clip's
    fold and source recording, so splits never put one recording on both sides."""
    root = Path(root)
    if not root.is_dir():
        raise ChvoiceError(f"{root}: no such folder")
    meta: dict[str, dict] = {}
    if (root / meta_file).is_file():
        with open(root / meta_file, newline="") as f:
            for row in csv.DictReader(f):
                meta[Path(row.get("local_path", "")).name] = row
    clips = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for f in list_audio_files(folder):
            row = meta.get(f.name, {})
            rec = row.get("source_recording_id") or ""
            clips.append(NoiseClip(f"{folder.name}/{f.stem}", folder.name, read_audio(f)[0],
                                   recording=f"{folder.name}/{rec}" if rec else "", fold=row.get("fold", "")))
    if not clips:
        raise ChvoiceError(f"{root}: no <category>/ folders with audio files")
    return NoiseBank(clips, f"categories:{root}", ())


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
    """Detect the layout: ESC-50 (meta/esc50.csv), the report's category folders, or any
    `<category>/*.wav` folders."""
    root = Path(root)
    if (root / "meta" / "esc50.csv").is_file():
        return esc50(root)
    if any((root / f).is_dir() for f in REPORT_FOLDER):
        return report_noise_folders(root)
    if root.is_dir() and any(p.is_dir() and list_audio_files(p) for p in root.iterdir()):
        return category_folders(root)
    raise ChvoiceError(f"{root}: not a noise folder (expected ESC-50 with meta/esc50.csv, "
                       f"<category>-mono/ folders, or <category>/*.wav folders)")


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
    elif category == "coloured":
        # 1/f^beta noise, beta in [-1, 2]: blue ... white ... pink ... brown
        beta = rng.uniform(-1.0, 2.0)
        spec = np.fft.rfft(rng.standard_normal(n))
        f = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
        f[0] = f[1]
        x = np.fft.irfft(spec / f ** (beta / 2), n)
    elif category == "hum":
        # mains hum: 50 or 60 Hz with decaying odd/even harmonics, a little jitter and broadband buzz
        f0 = rng.choice([50.0, 60.0]) * rng.uniform(0.995, 1.005)
        t = np.arange(n) / SAMPLE_RATE
        x = np.zeros(n)
        for k in range(1, int(rng.integers(6, 30))):
            x += rng.uniform(0.2, 1.0) / k ** rng.uniform(0.5, 1.5) * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 2 * np.pi))
        x += 0.05 * rng.standard_normal(n) * rng.uniform(0, 1)
    elif category == "hvac":
        # fan / air conditioning: low-passed broadband rumble, blade-pass tone and slow amplitude drift
        sos = signal.butter(2, rng.uniform(400, 3000), btype="low", fs=SAMPLE_RATE, output="sos")
        x = signal.sosfilt(sos, rng.standard_normal(n))
        t = np.arange(n) / SAMPLE_RATE
        blade = rng.uniform(80, 400)
        x = x / (np.std(x) + 1e-9) + rng.uniform(0, 0.7) * np.sin(2 * np.pi * blade * t) \
            + rng.uniform(0, 0.3) * np.sin(4 * np.pi * blade * t)
        x *= 1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.1, 1.0) * t)
    elif category == "tonal":
        # music-like: a sequence of chords of harmonic notes (random timbre and tempo)
        t_note = rng.uniform(0.15, 0.6)
        m = int(t_note * SAMPLE_RATE)
        x = np.zeros(n)
        env = np.minimum(1, np.arange(m) / 200) * np.exp(-np.arange(m) / (rng.uniform(0.1, 1.0) * SAMPLE_RATE))
        tt = np.arange(m) / SAMPLE_RATE
        decay = rng.uniform(0.5, 2.0)
        for s in range(0, n - m, m):
            for _ in range(int(rng.integers(1, 4))):
                f0 = 440.0 * 2 ** (rng.integers(-24, 16) / 12)
                note = sum(np.sin(2 * np.pi * f0 * k * tt) / k ** decay for k in range(1, 8) if f0 * k < 7500)
                x[s:s + m] += note * env
    else:
        known = CATEGORIES + EXTRA_SYNTH_CATEGORIES
        raise ChvoiceError(f"unknown noise category {category!r}; known: {', '.join(known)}")
    x = x / (np.abs(x).max() + 1e-9) * 0.5
    return x.astype(np.float32)


def synthetic_noise_bank(clips_per_category: int = 24, seed: int = 0,
                         extra: tuple[str, ...] = EXTRA_SYNTH_CATEGORIES) -> NoiseBank:
    """The built-in offline noise set: deterministic synthetic clips of the report's five categories and the
    `extra` ones. Each category draws from its own seeds, so adding categories leaves the others unchanged."""
    clips = []
    for ci, cat in enumerate(CATEGORIES + tuple(extra)):
        for i in range(clips_per_category):
            rng = np.random.default_rng([seed, ci, i])
            clips.append(NoiseClip(f"synth-{cat}-{i:03d}", cat, synth_noise(cat, rng)))
    return NoiseBank(clips, "builtin:synthetic-noise")


def babble_clips(utterances: list[np.ndarray], n_clips: int, seed: int, prefix: str,
                 seconds: float = 5.0) -> list[NoiseClip]:
    """Babble noise (category 'babble'): each clip sums 3-8 crops of the given utterances (other speakers of
    the corpus in use), each at a random level. utterances: float32 [N] arrays at 16 kHz."""
    n = int(seconds * SAMPLE_RATE)
    out = []
    for i in range(n_clips):
        rng = np.random.default_rng([seed, 7919, i])
        x = np.zeros(n)
        for _ in range(int(rng.integers(3, 9))):
            u = utterances[int(rng.integers(len(utterances)))]
            if len(u) < n:
                u = np.tile(u, n // max(1, len(u)) + 1)
            s = int(rng.integers(0, len(u) - n + 1))
            seg = u[s:s + n]
            x += seg / (np.sqrt(np.mean(seg ** 2)) + 1e-9) * rng.uniform(0.3, 1.0)
        x = x / (np.abs(x).max() + 1e-9) * 0.5
        out.append(NoiseClip(f"{prefix}-babble-{i:03d}", "babble", x.astype(np.float32)))
    return out


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

