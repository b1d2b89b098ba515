"""Which training noise categories a model takes for speech, measured on the training side only, and sampling
weights that show it more of them (`chvoice train --noise-weights FILE`; issue 28's hard-negative arm).

Every clip of every category of the training noise bank (`data.load_data(...).train_noise`: the held-out test
recordings never) goes under utterances of the training-side studio speakers (`data.studio.split_studio`: the
held-out ones never), each utterance with 0.3-0.6 s of digital silence before and after, at 0-15 dB SNR, as the
studio-clean evaluation set is built. The model's pause attenuation per band is pooled per category with the
measure's own code (`metrics.pause_energies`); a category's hardness is the residual share r = 10^(-att/10) in its
worst band from 1 kHz up, and its weight (r / median r)^power, clipped to [1, cap]: no category is drawn less
often than before.

    python tools/hard_noise_weights.py chvoice_core/assets/default-float.pt ../shared/data runs/hardneg/weights.json
        [--power 0.5] [--cap 4] [--items-per-clip 2]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd


def category_items(bank, speech, items_per_clip: int, seed: int):
    """(category, clip id, noisy [N], clean [N]) for every clip of `bank`, `items_per_clip` times each."""
    from chvoice_core.audio_io import SAMPLE_RATE
    from chvoice_core.data.mixing import _rms
    utts = speech.utterances
    k = 0
    for cat in bank.categories:
        for clip in bank.by_category[cat]:
            for _ in range(items_per_clip):
                rng = np.random.default_rng([seed, k])
                u = utts[int(rng.integers(len(utts)))]
                s = speech.audio(u)[: 4 * SAMPLE_RATE]
                pad = [np.zeros(int(rng.uniform(0.3, 0.6) * SAMPLE_RATE), np.float32) for _ in range(2)]
                clean = np.concatenate([pad[0], s, pad[1]])
                n = len(clean)
                a = clip.audio
                if len(a) < n:
                    a = np.tile(a, n // max(len(a), 1) + 1)
                start = int(rng.integers(0, len(a) - n + 1))
                noise = a[start:start + n].astype(np.float64)
                snr = rng.uniform(0.0, 15.0)
                noise = noise / _rms(noise) * _rms(s) * 10 ** (-snr / 20)
                noisy = (clean + noise).astype(np.float32)
                peak = float(np.abs(noisy).max())
                if peak > 0.99:
                    noisy, clean = noisy * (0.99 / peak), clean * (0.99 / peak)
                k += 1
                yield cat, clip.id, noisy, clean


def weights_from_table(table: pd.DataFrame, power: float, cap: float) -> dict[str, float]:
    """table: one row per category with `att_min_1-8k` (dB) -> {category: weight in [1, cap]}."""
    r = 10 ** (-table["att_min_1-8k"] / 10)
    w = (r / float(np.median(r))) ** power
    return {c: round(float(np.clip(v, 1.0, cap)), 3) for c, v in w.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="a shipped model name or a checkpoint (the float model to fine-tune)")
    ap.add_argument("data_root")
    ap.add_argument("out", type=Path, help="the weights file (JSON: {category: weight}); a .csv beside it holds the table")
    ap.add_argument("--power", type=float, default=0.5)
    ap.add_argument("--cap", type=float, default=4.0)
    ap.add_argument("--items-per-clip", type=int, default=2)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    import chvoice_core as cv
    from chvoice_core.audio_io import atomic_path
    from chvoice_core.data import DataConfig, load_data
    from chvoice_core.data.studio import split_studio, studio_speech
    from chvoice_core.metrics import PAUSE_BANDS_HZ, band_name, pause_energies, pooled_pause_attenuation

    data = load_data(DataConfig(data_root=a.data_root), broad=True)
    train_studio, _ = split_studio(studio_speech(a.data_root))
    d = cv.load(a.model)
    rows = [{"category": cat, "clip": cid, **pause_energies(d.enhance(noisy, 16000), noisy, clean)}
            for cat, cid, noisy, clean in category_items(data.train_noise, train_studio, a.items_per_clip, a.seed)]
    df = pd.DataFrame(rows)
    table = pd.DataFrame({cat: pooled_pause_attenuation(g) for cat, g in df.groupby("category")}).T
    table = table.rename(columns=lambda c: c.replace("pause_att_", "att_"))
    table["clips"] = df.groupby("category").clip.nunique()
    weights = weights_from_table(table, a.power, a.cap)
    table["weight"] = pd.Series(weights)
    table = table.sort_values("att_min_1-8k")
    for path, text in ((a.out, json.dumps(weights, indent=1, sort_keys=True) + "\n"),
                       (a.out.with_suffix(".csv"), table.round(2).to_csv())):
        with atomic_path(path) as tmp:
            tmp.write_text(text)
    cols = [f"att_{band_name(*b)}" for b in PAUSE_BANDS_HZ] + ["att_min_1-8k", "weight"]
    print(table[cols].round(1).head(15).to_string())
    print(f"{len(table)} categories, {len(df)} items; {sum(v > 1 for v in weights.values())} weighted up; "
          f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
