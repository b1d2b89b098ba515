"""Noise sources: ESC-50 (the report's five categories, or any of its 50), the report's per-category folders,
any folder of categorised noise (`<root>/<category>/*.wav`), built-in synthetic noises (stand-ins for the
report's five categories plus coloured noise, mains hum, fan/HVAC, tonal music-like noise and babble),
static (Gaussian) noise, and reverb (RevEcho echo trains or a measured room impulse response). The synthetic
noises themselves are in `synthnoise.py`."""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
    from scipy import signal  # heavy (1 s): imported where used
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
