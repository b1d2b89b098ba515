"""How much of a model's SI-SDR gain is lost to what it never trained on: noise recordings and speakers.

Noise: the same mixtures of the validation speakers (`chvoice train --validate-every` holds them out), once with
training-side noise recordings and once with held-out ones (the test set's side of the split): a paired gap.
Speakers: mixtures of as many training speakers, drawn at random, as there are validation speakers, against
those of the validation speakers, both with held-out noise recordings (item i of a draw gets the same noise,
SNR and room as item i of the validation set: `build_testset` draws them from the item's seed and index). With
11 speakers a side, which speakers are drawn moves the gap more than the mixtures do, so it is measured for
`--speaker-draws` draws and given as their mean and spread (the validation side is one fixed set of 11
speakers: the gap also carries their own particularity). Each set is `--seeds` x the validation recipe
(`general` profile, at most 4 s, rooms from the validation seed).

    python research/generalisation_gap.py runs/gpu6/w32f_s0.6.pt [MODEL ...] [--data-root ../shared/data]
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from chvoice_core.compress.artifact import load_artifact
from chvoice_core.data import DataConfig, get_profile, load_data
from chvoice_core.enhance import Denoiser
from chvoice_core.metrics import si_sdr
from chvoice_core.validation import validation_mixtures, validation_split


def mixtures(speech, bank, data, seeds: range) -> list:
    """The validation recipe's mixtures of `speech` with noise from `bank`, one set per seed, concatenated
    (at most one a speaker per seed: build_testset takes distinct utterances)."""
    profile = get_profile("general")
    return [m for seed in seeds for m in validation_mixtures(data, speech, bank, profile, n_items=60, seed=seed)]


def gains(den: Denoiser, items: list) -> np.ndarray:
    """SI-SDR of the output minus that of the input, dB, per mixture."""
    return np.array([si_sdr(den(m.noisy), m.clean) - si_sdr(m.noisy, m.clean) for m in items])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--data-root", default="../shared/data")
    ap.add_argument("--seeds", type=int, default=20, help="validation-recipe draws per set (about 11 mixtures each)")
    ap.add_argument("--speaker-draws", type=int, default=6, help="random sets of training speakers")
    ap.add_argument("--seed", type=int, default=0, help="the training runs' --seed (picks the validation speakers)")
    a = ap.parse_args()
    data = load_data(DataConfig(data_root=a.data_root), broad=True)
    train_speech, val_speech = validation_split(data.train_speech, a.seed)
    seeds = range(a.seeds)
    rng = np.random.default_rng(a.seed)
    n_val, spk = len(val_speech.speakers()), train_speech.speakers()
    sets = {"seen_noise": mixtures(val_speech, data.train_noise, data, seeds),
            "unseen_noise": mixtures(val_speech, data.test_noise, data, seeds)}
    for k in range(a.speaker_draws):
        seen = train_speech.subset({spk[i] for i in rng.choice(len(spk), n_val, replace=False)}, f"draw {k}")
        sets[f"seen_speakers_{k}"] = mixtures(seen, data.test_noise, data, seeds)
    for path in a.models:
        den = Denoiser(load_artifact(path)[0])
        g = {k: gains(den, v) for k, v in sets.items()}
        paired = g["seen_noise"] - g["unseen_noise"]
        # validation speakers with held-out noise are the "unseen_noise" set
        spk_gaps = np.array([g[f"seen_speakers_{k}"].mean() - g["unseen_noise"].mean() for k in range(a.speaker_draws)])
        print(json.dumps({
            "model": path, "items_per_set": len(g["unseen_noise"]),
            "gain_db": {k: round(float(v.mean()), 3) for k, v in g.items()},
            "noise_gap_db": round(float(paired.mean()), 3),
            "noise_gap_sem": round(float(paired.std(ddof=1) / np.sqrt(len(paired))), 3),
            "speaker_gap_db": round(float(spk_gaps.mean()), 3),
            "speaker_gap_spread_db": [round(float(spk_gaps.min()), 3), round(float(spk_gaps.max()), 3)],
            "speaker_gap_sem": round(float(spk_gaps.std(ddof=1) / np.sqrt(len(spk_gaps))), 3)}))


if __name__ == "__main__":
    main()
