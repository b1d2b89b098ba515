"""Which items hold what a model leaves in the pauses (issue 28): the pooled pause attenuation is a ratio of sums
over files, so a few items where a model lets a noise through can decide it. Per band, the items ranked by their
share of a system's pooled pause residual, beside the noisy input's share and each system's own attenuation.

    python research/pause_items.py runs/studio-testset default deepfilternet3 [runs/ab4/gaps/model.pt ...]
        [--prefix noise] [--bands 1-2k,4-5k,7-8k] [--top 8]

A system is a shipped model name, a checkpoint or a peer (baselines.PEERS: rnnoise, deepfilternet3, ...). Scored with the measure's own
code (`metrics.pause_energies`), so the shares add up to the pooled figures `chvoice evaluate` prints.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from chvoice_core.evaluate import paired_folders
from chvoice_core.metrics import (PAUSE_BANDS_HZ, PAUSE_IN_COLUMNS, PAUSE_OUT_COLUMNS, band_name, pause_energies,
                                  pooled_pause_attenuation)


def system(name: str):
    """A callable noisy [N] -> enhanced [N] at 16 kHz, and its short label."""
    from chvoice_core.baselines import PEERS, get_peer
    if name in PEERS:
        return get_peer(name), name
    import chvoice_core as cv
    d = cv.load(name)
    label = Path(name).parent.name if name.endswith(".pt") else name
    return (lambda x: d.enhance(x, 16000)), label


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("testset", type=Path, help="a folder with noisy/, clean/ and manifest.csv")
    ap.add_argument("systems", nargs="+")
    ap.add_argument("--prefix", default="noise", help="only items whose id starts with this (default noise)")
    ap.add_argument("--bands", default="1-2k,4-5k,7-8k")
    ap.add_argument("--top", type=int, default=8)
    a = ap.parse_args()
    man = pd.read_csv(a.testset / "manifest.csv").set_index("id")
    pairs = [p for p in paired_folders(a.testset / "noisy", a.testset / "clean") if p[0].startswith(a.prefix)]
    fns = [system(s) for s in a.systems]
    rows = []
    for item, noisy, clean in pairs:
        for fn, label in fns:
            rows.append({"id": item, "sys": label, **pause_energies(fn(noisy), noisy, clean)})
    df = pd.DataFrame(rows)
    labels = [label for _, label in fns]
    for label in labels:
        att = pooled_pause_attenuation(df[df.sys == label])
        print(f"{label:>16}: " + " ".join(f"{band_name(*b)} {att[f'pause_att_{band_name(*b)}']:.1f}"
                                          for b in PAUSE_BANDS_HZ))
    names = [band_name(*b) for b in PAUSE_BANDS_HZ]
    for band in a.bands.split(","):
        i = names.index(band)
        t = df.pivot_table(index="id", columns="sys", values=PAUSE_OUT_COLUMNS[i])
        e_in = df[df.sys == labels[0]].set_index("id")[PAUSE_IN_COLUMNS[i]]
        out = pd.DataFrame({"category": man.loc[t.index, "categories"], "snr": man.loc[t.index, "snr_db"].round(1),
                            "input %": 100 * e_in / e_in.sum()})
        for label in labels:
            out[f"{label} %"] = 100 * t[label] / t[label].sum()
            out[f"{label} att"] = 10 * np.log10(e_in / t[label])
        print(f"\n{band}: items by their share of {labels[0]}'s pooled residual")
        print(out.sort_values(f"{labels[0]} %", ascending=False).head(a.top).round(1).to_string())


if __name__ == "__main__":
    main()
