"""Noise profiles as data: the report's `weighted`, `equal` and `no-reverb` mixes, and `general`, the broad
profile the shipped default model is trained on (every noise category of the source, rooms, SNRs -5..20 dB,
random level and microphone colouring)."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ChvoiceError
from .noise import CATEGORIES

# The report's per-category amplitude multipliers (relative levels when several clips are layered).
REPORT_GAINS = {"keyboard": 0.3, "coughing": 0.1, "clock-tick": 0.3, "click": 0.3, "wind": 0.1}


@dataclass(frozen=True)
class NoiseProfile:
    """How noise is drawn for one clip.

    With probability p_static the clip gets white noise, p_none nothing, p_reverb a RevEcho echo train;
    otherwise 1-3 environmental clips with categories drawn from `category_probs`, layered with the report's
    relative gains. Additive noise is scaled to an SNR drawn uniformly from `snr_db`."""

    name: str
    category_probs: dict[str, float] | None   # None: uniform over every category of the noise source
    p_static: float = 0.1
    p_none: float = 0.1
    p_reverb: float = 0.1
    gains: dict[str, float] = field(default_factory=lambda: dict(REPORT_GAINS))   # missing categories: 1
    clips: tuple[int, int] = (1, 3)
    snr_db: tuple[float, float] = (-5.0, 10.0)
    # augmentations beyond the report (all off in its three profiles, which draw exactly as before)
    p_room: float = 0.0                          # speech and noise through a room (data/rooms.py)
    p_colour: float = 0.0                        # band-limited / microphone-coloured speech
    level_db: tuple[float, float] = (0.0, 0.0)   # random gain of the whole mixture (target alike)
    # relative draw weights of categories when category_probs is None (missing: 1), e.g. hard negatives measured
    # by tools/hard_noise_weights.py; empty draws every category equally, as before
    category_weights: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if any(not w > 0 for _, w in self.category_weights):
            raise ValueError(f"profile {self.name}: category weights must be > 0")
        if self.category_probs is None:
            return
        if self.category_weights:
            raise ValueError(f"profile {self.name}: category weights apply to profiles over every category")
        if set(self.category_probs) != set(CATEGORIES):
            raise ValueError(f"profile {self.name}: category_probs must name {CATEGORIES}")
        if abs(sum(self.category_probs.values()) - 1) > 1e-6:
            raise ValueError(f"profile {self.name}: category probabilities must sum to 1")
        if self.p_static + self.p_none + self.p_reverb > 1:
            raise ValueError(f"profile {self.name}: kind probabilities exceed 1")

    @property
    def p_environmental(self) -> float:
        return 1.0 - self.p_static - self.p_none - self.p_reverb

    def probs_for(self, categories: tuple[str, ...]) -> dict[str, float]:
        """Category probabilities over a noise source's categories."""
        if self.category_probs is not None:
            return dict(self.category_probs)
        weights = dict(self.category_weights)
        total = sum(weights.get(c, 1.0) for c in categories)
        return {c: weights.get(c, 1.0) / total for c in categories}

    def kind_probs(self, include_none: bool = True) -> dict[str, float]:
        """Probability of each noise kind for one clip (renormalised when 'none' is excluded)."""
        p = {"static": self.p_static, "none": self.p_none, "reverb": self.p_reverb,
             "environmental": self.p_environmental}
        if not include_none:
            total = 1 - p.pop("none")
            p = {k: v / total for k, v in p.items()}
        return p


_WEIGHTED = {"keyboard": 0.4, "coughing": 0.1, "clock-tick": 0.1, "click": 0.2, "wind": 0.2}
_EQUAL = {c: 0.2 for c in CATEGORIES}

PROFILES: dict[str, NoiseProfile] = {
    "weighted": NoiseProfile("weighted", _WEIGHTED),
    "equal": NoiseProfile("equal", _EQUAL),
    "no-reverb": NoiseProfile("no-reverb", _WEIGHTED, p_reverb=0.0),
    # for the shipped model: every category equally likely, real rooms rather than RevEcho, wide SNRs, any level
    "general": NoiseProfile("general", None, p_static=0.05, p_none=0.05, p_reverb=0.0, gains={}, clips=(1, 2),
                            snr_db=(-5.0, 20.0), p_room=0.3, p_colour=0.3, level_db=(-25.0, 5.0)),
}
REPORT_PROFILES = ("weighted", "equal", "no-reverb")


def load_category_weights(path: str | os.PathLike, categories: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    """A weights file (JSON object {category: weight > 0}) checked against the categories a noise bank holds."""
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ChvoiceError(f"--noise-weights {path}: {e.strerror if isinstance(e, OSError) else 'not JSON: ' + str(e)}"
                           ) from None
    if not isinstance(raw, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
                                            for v in raw.values()):
        raise ChvoiceError(f"--noise-weights {path}: expected a JSON object {{category: weight > 0}}")
    unknown = sorted(set(raw) - set(categories))
    if unknown:
        raise ChvoiceError(f"--noise-weights {path}: categories the training noise lacks: {', '.join(unknown[:5])}")
    return tuple(sorted((str(c), float(w)) for c, w in raw.items()))


def get_profile(name: str) -> NoiseProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ChvoiceError(f"unknown noise profile {name!r}; known: {', '.join(PROFILES)}") from None

