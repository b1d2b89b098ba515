"""The fixed validation set scored during training (speakers carved out of the training speakers, training noise);
the best checkpoint by its key is kept."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from .data import TestSetConfig, build_testset
from .data.rooms import VALIDATION_ROOM_SEED
from .dsp import FrontEnd
from .enhance import Denoiser
from .metrics import pesq_wb, si_sdr, stoi

if TYPE_CHECKING:
    from .data import DataSplit, Mixture, NoiseProfile
    from .data.noise import NoiseBank
    from .data.speech import SpeechCorpus


@dataclass
class Validation:
    """A fixed validation set scored during training: noisy/clean waveforms [N] at 16 kHz (speakers and
    noise drawn apart from the test set). The best checkpoint by `key` is kept as best.pt."""

    noisy: list[np.ndarray]
    clean: list[np.ndarray]
    key: str = "pesq_wb"      # pesq_wb | si_sdr | stoi

    def score(self, model: nn.Module, fe: FrontEnd | None = None) -> dict[str, float]:
        was = model.training
        model.eval()
        den = Denoiser(model, fe)
        rows = []
        for x, y in zip(self.noisy, self.clean):
            e = den(x)
            rows.append((si_sdr(e, y), pesq_wb(e, y), stoi(e, y)))
        model.train(was)
        model.to(memory_format=torch.channels_last)
        a = np.array(rows, dtype=np.float64)
        return {"si_sdr": float(np.nanmean(a[:, 0])), "pesq_wb": float(np.nanmean(a[:, 1])),
                "stoi": float(np.nanmean(a[:, 2]))}


def validation_split(train_speech: "SpeechCorpus", seed: int = 0) -> tuple["SpeechCorpus", "SpeechCorpus"]:
    """(training, validation) speakers: validation speakers are carved out of the training speakers (never the
    test speakers), the same ones for every run of a --seed, so packs and scoring tools can leave them out."""
    return train_speech.split_speakers(0.05, seed=seed + 1)


def validation_mixtures(data: "DataSplit", speech: "SpeechCorpus", bank: "NoiseBank", profile: "NoiseProfile",
                        n_items: int = 40, seed: int = 0) -> list["Mixture"]:
    """The validation recipe: `n_items` mixtures of at most 4 s of `speech` with noise from `bank`, in rooms of
    their own seed when the profile uses rooms (item i's noise, SNR and room depend only on seed and i)."""
    items = build_testset(speech, bank, profile, TestSetConfig(n=n_items, seed=seed + 77, max_seconds=4.0),
                          rooms=data.rooms(seed=VALIDATION_ROOM_SEED) if profile.p_room else None)
    return [it.mixture for it in items]


def validation_set(data: "DataSplit", val_speech: "SpeechCorpus", profile: "NoiseProfile", n_items: int = 40,
                   seed: int = 0, key: str = "pesq_wb") -> Validation:
    """The fixed validation mixtures of a run: the validation recipe on the validation speakers and the
    training noise."""
    mixtures = validation_mixtures(data, val_speech, data.train_noise, profile, n_items, seed)
    return Validation([m.noisy for m in mixtures], [m.clean for m in mixtures], key)
