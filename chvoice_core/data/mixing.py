"""Draw a noise condition from a profile and mix it with clean speech."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .noise import NoiseBank, RevEchoConfig, add_revecho, static_noise
from .profiles import NoiseProfile


@dataclass
class Mixture:
    noisy: np.ndarray            # float32 [N]
    clean: np.ndarray            # float32 [N]: the target (dry speech)
    kind: str                    # none | static | reverb | environmental
    categories: list[str] = field(default_factory=list)
    noise_ids: list[str] = field(default_factory=list)
    snr_db: float = float("inf")  # measured: 10 log10(|clean|^2 / |noisy - clean|^2)
    params: dict = field(default_factory=dict)

    def record(self) -> dict:
        return {"kind": self.kind, "categories": list(self.categories), "noise_ids": list(self.noise_ids),
                "snr_db": None if not np.isfinite(self.snr_db) else round(float(self.snr_db), 3),
                **{k: round(v, 5) for k, v in self.params.items()}}


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-12)


def _crop_or_loop(clip: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """A random n-sample segment of clip (looped when shorter) that is never silent: sparse noises (ticks,
    clicks) would otherwise often give an empty window. The window is anchored on a random loud sample."""
    if len(clip) < n:
        clip = np.tile(clip, int(np.ceil(n / len(clip))) + 1)
    loud = np.flatnonzero(np.abs(clip) >= 0.1 * np.abs(clip).max())
    anchor = int(loud[rng.integers(len(loud))]) if len(loud) else int(rng.integers(len(clip)))
    start = int(rng.integers(max(0, anchor - n + 1), min(anchor, len(clip) - n) + 1))
    return clip[start:start + n]


def measured_snr(clean: np.ndarray, noisy: np.ndarray) -> float:
    noise = noisy - clean
    if not np.any(noise):
        return float("inf")
    return 20 * np.log10(_rms(clean) / _rms(noise))


def draw_kind(profile: NoiseProfile, rng: np.random.Generator, include_none: bool = True) -> str:
    p = profile.kind_probs(include_none)
    return str(rng.choice(list(p), p=list(p.values())))


def mix(clean: np.ndarray, profile: NoiseProfile, bank: NoiseBank, rng: np.random.Generator,
        include_none: bool = True, revecho: RevEchoConfig = RevEchoConfig()) -> Mixture:
    """Draw a noise condition from the profile and apply it to clean [N]."""
    clean = clean.astype(np.float32)
    n = len(clean)
    kind = draw_kind(profile, rng, include_none)
    snr = float(rng.uniform(*profile.snr_db))
    if kind == "none":
        return Mixture(clean.copy(), clean, kind)
    if kind == "reverb":
        noisy, params = add_revecho(clean, rng, revecho)
        return Mixture(noisy, clean, kind, snr_db=measured_snr(clean, noisy), params=params)
    if kind == "static":
        noise = static_noise(n, rng)
        cats, ids = [], []
    else:
        cats_all = list(profile.category_probs)
        k = int(rng.integers(profile.clips[0], profile.clips[1] + 1))
        noise = np.zeros(n, np.float32)
        cats, ids = [], []
        for _ in range(k):
            cat = str(rng.choice(cats_all, p=[profile.category_probs[c] for c in cats_all]))
            clips = bank.by_category[cat]
            clip = clips[int(rng.integers(len(clips)))]
            seg = _crop_or_loop(clip.audio, n, rng)
            noise += seg / _rms(seg) * profile.gains[cat] * rng.uniform(0.5, 1.0)
            cats.append(cat)
            ids.append(clip.id)
    noise = noise * (_rms(clean) / _rms(noise)) * 10 ** (-snr / 20)
    noisy = clean + noise
    peak = float(np.abs(noisy).max())
    if peak > 0.99:   # avoid clipping when written to 16-bit files; scales target alike
        noisy, clean = noisy * (0.99 / peak), clean * (0.99 / peak)
    return Mixture(noisy.astype(np.float32), clean.astype(np.float32), kind, cats, ids,
                   snr_db=measured_snr(clean, noisy))
