"""The zoo's data: the profile's split, training pairs, test sets and static-quantization calibration tiles."""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

import torch

from ..data import DataConfig, DataSplit, TestSetConfig, build_testset, get_profile, load_data
from ..data.pairs import PairSampler
from ..data.rooms import TEST_ROOM_SEED, TRAIN_ROOM_SEED
from ..dsp import FrontEnd, normalise
from ..losses import db_pairs


class ZooData:
    """Mixin of Zoo (its fields: data, cache_dir, seed, budget, fe, test_seconds; state made in __post_init__)."""

    @property
    def split(self) -> DataSplit:
        if self._split is None:
            self._split = load_data(self._data_with_cache())
        return self._split

    def _data_with_cache(self) -> DataConfig:
        return self.data if self.data.cache_dir else replace(self.data, cache_dir=str(self.cache_dir / "data"))

    def split_for(self, profile: str) -> DataSplit:
        """The report's profiles use the plain split; broad ones (`general`) add every noise category and babble."""
        if get_profile(profile).category_probs is not None:
            return self.split
        if self._broad is None:
            self._broad = load_data(self._data_with_cache(), broad=True)
        return self._broad

    @property
    def data_label(self) -> str:
        return self.data.label

    def sampler(self, profile: str, fe: FrontEnd | None = None) -> PairSampler:
        """Training pairs of one tile of `fe` (default: the zoo's, the report's front end)."""
        p, split = get_profile(profile), self.split_for(profile)
        return PairSampler(split.train_speech, split.train_noise, p, (fe or self.fe).tile_samples, seed=self.seed,
                           rooms=split.rooms(seed=TRAIN_ROOM_SEED) if p.p_room else None)

    def testset(self, profile: str, n: int | None = None) -> list:
        n = n or self.budget.test_utterances
        key = f"{profile}:{n}"
        if key not in self._testsets:
            p, split = get_profile(profile), self.split_for(profile)
            self._testsets[key] = build_testset(split.test_speech, split.test_noise, p,
                                                TestSetConfig(n=n, max_seconds=self.test_seconds),
                                                rooms=split.rooms(seed=TEST_ROOM_SEED) if p.p_room else None)
        return self._testsets[key]

    def calibration(self, profile: str, n: int = 256, norm: Callable = normalise,
                    fe: FrontEnd | None = None) -> torch.Tensor:
        """Noisy training tiles [n, 1, F, T] for static-quantization calibration, standardised by `norm` (the
        model's own: models.unet.normaliser_for), through `fe` (default: the zoo's)."""
        fe = fe or self.fe
        key = f"{profile}:{n}:{fe.n_fft}/{fe.hop}"      # the same mixtures for causal and offline models
        if key not in self._calibration:
            s = self.sampler(profile, fe)
            tiles = []
            for i in range(0, n, 16):
                noisy, clean = s.batch(10_000_000 + i, min(16, n - i))
                tiles.append(db_pairs(noisy, clean, fe, torch.device("cpu"))[0])
            self._calibration[key] = torch.cat(tiles)
        return norm(self._calibration[key])[0]

