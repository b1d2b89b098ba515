"""Training pairs drawn on the fly: a random speech crop with fresh noise from the profile."""
from __future__ import annotations

import copy

import numpy as np
import torch

from .mixing import (LowFloor, NoiseEQ, NoiseWarp, SpeechGaps, SpeechWarp, add_floor, gap_envelope, mix, play_at,
                     source_samples, speed_factor)
from .noise import NoiseBank
from .profiles import NoiseProfile
from .rooms import Room
from .speech import SpeechCorpus


class PairSampler:
    """batch(step) -> (noisy [B, N], clean [B, N]); deterministic in (seed, rank, step), so a resumed run
    sees exactly the batches it would have seen.

    `target_speech` (the same utterances, processed: e.g. data.targets.GatedSpeech) supplies the targets while
    `speech` goes into the mixtures; `floor` adds a low noise floor to some mixtures (target unchanged); `gaps`
    silences spans of some speech crops (mixture and target alike) before the noise goes in. None of them
    changes the other draws of the mixtures: the floor and the gaps draw from streams of their own."""

    def __init__(self, speech: SpeechCorpus, bank: NoiseBank, profile: NoiseProfile, n_samples: int,
                 seed: int = 0, rank: int = 0, rooms: list[Room] | None = None, warp: NoiseWarp | None = None,
                 eq: NoiseEQ | None = None, speech_warp: SpeechWarp | None = None,
                 target_speech: SpeechCorpus | None = None, floor: LowFloor | None = None,
                 gaps: SpeechGaps | None = None):
        self.speech, self.bank, self.profile = speech, bank, profile
        self.n, self.seed, self.rank = n_samples, seed, rank
        self.rooms, self.warp, self.eq, self.speech_warp = rooms, warp, eq, speech_warp
        self.target_speech, self.floor, self.gaps = target_speech, floor, gaps
        if profile.p_room > 0 and not rooms:
            raise ValueError(f"profile {profile.name} simulates rooms: pass rooms=")

    def crops(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        """A random n-sample crop of a random utterance (zero-padded when shorter), speed-warped when asked,
        and the same crop of its target version (None without target_speech)."""
        utt = self.speech.utterances[int(rng.integers(len(self.speech)))]
        r = None
        if self.speech_warp is not None and rng.random() < self.speech_warp.p:
            r = speed_factor(rng, self.speech_warp.lo, self.speech_warp.hi)
        n = self.n if r is None else source_samples(self.n, r)
        length = len(self.speech.audio(utt))
        s = int(rng.integers(0, abs(length - n) + 1))

        def cut(x: np.ndarray) -> np.ndarray:
            if len(x) >= n:
                out = x[s:s + n]
            else:
                out = np.zeros(n, np.float32)
                out[s:s + len(x)] = x
            return out if r is None else play_at(out, r, self.n)
        return cut(self.speech.audio(utt)), (cut(self.target_speech.audio(utt)) if self.target_speech else None)

    def batch(self, step: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, self.rank, step])
        floor_rng = np.random.default_rng([self.seed, self.rank, step, 1])
        gap_rng = np.random.default_rng([self.seed, self.rank, step, 2])
        noisy, clean = [], []
        for _ in range(batch_size):
            speech, target = self.crops(rng)
            env = gap_envelope(len(speech), gap_rng, self.gaps) if self.gaps is not None else None
            if env is not None:
                speech = speech * env
                target = None if target is None else target * env
            if target is not None:
                # the target goes through the very draws the mixture takes (colour, room, level: all linear in
                # the speech and independent of it), from a copy of the generator's state
                t = mix(target, self.profile, self.bank, copy.deepcopy(rng), rooms=self.rooms, warp=self.warp,
                        eq=self.eq)
            m = mix(speech, self.profile, self.bank, rng, rooms=self.rooms, warp=self.warp, eq=self.eq)
            y = m.clean if target is None else t.clean
            x = m.noisy if self.floor is None else add_floor(m.noisy, y, floor_rng, self.floor)
            noisy.append(x)
            clean.append(y)
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
