"""Training pairs drawn on the fly: a random speech crop with fresh noise from the profile."""
from __future__ import annotations

import numpy as np

from .mixing import mix
from .noise import NoiseBank
from .profiles import NoiseProfile
from .speech import SpeechCorpus


class PairSampler:
    """batch(step) -> (noisy [B, N], clean [B, N]); deterministic in (seed, rank, step), so a resumed run
    sees exactly the batches it would have seen."""

    def __init__(self, speech: SpeechCorpus, bank: NoiseBank, profile: NoiseProfile, n_samples: int,
                 seed: int = 0, rank: int = 0):
        self.speech, self.bank, self.profile = speech, bank, profile
        self.n, self.seed, self.rank = n_samples, seed, rank

    def crop(self, rng: np.random.Generator) -> np.ndarray:
        utt = self.speech.utterances[int(rng.integers(len(self.speech)))]
        x = self.speech.audio(utt)
        if len(x) >= self.n:
            s = int(rng.integers(0, len(x) - self.n + 1))
            return x[s:s + self.n]
        out = np.zeros(self.n, np.float32)
        s = int(rng.integers(0, self.n - len(x) + 1))
        out[s:s + len(x)] = x
        return out

    def batch(self, step: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, self.rank, step])
        noisy, clean = [], []
        for _ in range(batch_size):
            m = mix(self.crop(rng), self.profile, self.bank, rng)
            noisy.append(m.noisy)
            clean.append(m.clean)
        return np.stack(noisy), np.stack(clean)
