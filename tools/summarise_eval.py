"""Summarise `chvoice evaluate --out` folders of one test set: means per system, per SNR band and dry vs room.

    python tools/summarise_eval.py runs/real-testset runs/eval/noisy runs/eval/default ...
Prints Markdown tables (the README's) and writes summary.csv beside the first score folder's parent.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
from tabulate import tabulate

METRICS = ["pesq_wb", "stoi", "si_sdr"]


def load(testset: Path, folders: list[Path]) -> pd.DataFrame:
    man = pd.DataFrame(json.loads((testset / "manifest.json").read_text()))
    man["room"] = man["rt60"].notna() if "rt60" in man else False
    man["snr_band"] = pd.cut(man["snr_db"], [-100, 5, 10, 100], labels=["0-5 dB", "5-10 dB", "10-15 dB"])
    rows = []
    for f in folders:
        df = pd.read_csv(f / "scores.csv")
        df["system"] = f.name
        rows.append(df.merge(man[["id", "snr_db", "snr_band", "room", "utterance"]], on="id", how="left"))
    return pd.concat(rows, ignore_index=True)


def main() -> int:
    testset, folders = Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]]
    df = load(testset, folders)
    order = [f.name for f in folders]
    mean = df.groupby("system")[METRICS].mean().loc[order]
    nan = df.groupby("system")["pesq_wb"].apply(lambda s: int(s.isna().sum())).loc[order]
    mean["pesq n/a"] = nan
    print(f"## all items ({df['id'].nunique()} items)\n")
    print(tabulate(mean, headers="keys", tablefmt="github", floatfmt=".3f"))
    for col, title in (("snr_band", "per SNR band"), ("room", "dry (False) / room (True)")):
        t = df.groupby(["system", col], observed=True)[METRICS].mean().unstack(col)
        t = t.loc[order]
        print(f"\n## {title}\n")
        print(tabulate(t, headers=[f"{m} {b}" for m, b in t.columns], tablefmt="github", floatfmt=".3f"))
    out = folders[0].parent / "summary.csv"
    mean.to_csv(out)
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
