"""Training pairs drawn on the fly: a random speech crop with fresh noise from the profile."""
from __future__ import annotations

import numpy as np
import torch

from .mixing import NoiseEQ, NoiseWarp, SpeechWarp, mix, play_at, source_samples, speed_factor
from .noise import NoiseBank
from .profiles import NoiseProfile
from .rooms import Room
from .speech import SpeechCorpus


class PairSampler:
    """batch(step) -> (noisy [B, N], clean [B, N]); deterministic in (seed, rank, step), so a resumed run
    sees exactly the batches it would have seen."""

    def __init__(self, speech: SpeechCorpus, bank: NoiseBank, profile: NoiseProfile, n_samples: int,
                 seed: int = 0, rank: int = 0, rooms: list[Room] | None = None, warp: NoiseWarp | None = None,
                 eq: NoiseEQ | None = None, speech_warp: SpeechWarp | None = None):
        self.speech, self.bank, self.profile = speech, bank, profile
        self.n, self.seed, self.rank = n_samples, seed, rank
        self.rooms, self.warp, self.eq, self.speech_warp = rooms, warp, eq, speech_warp
        if profile.p_room > 0 and not rooms:
            raise ValueError(f"profile {profile.name} simulates rooms: pass rooms=")

    def crop(self, rng: np.random.Generator) -> np.ndarray:
        """A random n-sample crop of a random utterance (zero-padded when shorter), speed-warped when asked."""
        utt = self.speech.utterances[int(rng.integers(len(self.speech)))]
        x = self.speech.audio(utt)
        r = None
        if self.speech_warp is not None and rng.random() < self.speech_warp.p:
            r = speed_factor(rng, self.speech_warp.lo, self.speech_warp.hi)
        n = self.n if r is None else source_samples(self.n, r)
        if len(x) >= n:
            s = int(rng.integers(0, len(x) - n + 1))
            out = x[s:s + n]
        else:
            out = np.zeros(n, np.float32)
            s = int(rng.integers(0, n - len(x) + 1))
            out[s:s + len(x)] = x
        return out if r is None else play_at(out, r, self.n)

    def batch(self, step: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, self.rank, step])
        noisy, clean = [], []
        for _ in range(batch_size):
            m = mix(self.crop(rng), self.profile, self.bank, rng, rooms=self.rooms, warp=self.warp, eq=self.eq)
            noisy.append(m.noisy)
            clean.append(m.clean)
        return np.stack(noisy), np.stack(clean)


class StepBatches(torch.utils.data.Dataset):
    """Batches of a PairSampler indexed by step, for a DataLoader whose workers mix while the main process
    trains: item i is sampler.batch(first_step + i) as tensors, so the batches (and a resumed run's) are the
    same with or without workers."""

    def __init__(self, sampler: PairSampler, first_step: int, last_step: int, batch_size: int):
        self.sampler, self.first, self.last, self.batch_size = sampler, first_step, last_step, batch_size

    def __len__(self) -> int:
        return max(0, self.last - self.first)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        noisy, clean = self.sampler.batch(self.first + i, self.batch_size)
        return torch.from_numpy(noisy), torch.from_numpy(clean)
