"""One table per test set for A/B runs: means of every system (reference metrics, DNSMOS, pooled pause attenuation)
and its paired differences from a reference system with speaker-clustered 95 % intervals (reports.stats).

    python research/ab_table.py --testset runs/studio-testset --ref control runs/scores/studio/{control,gate,...}
Groups: every item, and per condition (the item id's prefix before its first '-', e.g. noise / floor) when the set
has several.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from tabulate import tabulate

from chvoice_core.evaluate import summary
from reports.stats import cluster_bootstrap_ci

MEANS = ["pesq_wb", "stoi", "si_sdr", "dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak"]
PAIRED = ["pesq_wb", "stoi", "si_sdr", "dnsmos_bak", "dnsmos_sig"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--testset", required=True, help="folder with manifest.json (speakers of the items)")
    ap.add_argument("--ref", required=True, help="the folder name of the reference system")
    ap.add_argument("folders", nargs="+")
    a = ap.parse_args()
    man = pd.DataFrame(json.loads((Path(a.testset) / "manifest.json").read_text()))[["id", "speaker"]]
    scores = {Path(f).name: pd.read_csv(Path(f) / "scores.csv").merge(man, on="id") for f in a.folders}
    ref = scores[a.ref]
    conds = sorted({i.split("-")[0] for i in ref["id"]})
    groups = [("all", lambda df: df)] + ([(c, lambda df, c=c: df[df["id"].str.startswith(c + "-")]) for c in conds]
                                         if len(conds) > 1 else [])
    for gname, pick in groups:
        rows = []
        for name, df in scores.items():
            d = pick(df)
            s = summary(d.drop(columns=["speaker"]))
            row = {"system": name, "n": len(d), **{k: s.get(k, np.nan) for k in MEANS},
                   "att<1k": s.get("pause_att_min_0-1k"), "att>1k": s.get("pause_att_min_1-8k"),
                   "att 7-8k": s.get("pause_att_7-8k")}
            if name != a.ref:
                r = pick(ref)
                m = d.merge(r, on=["id", "speaker"], suffixes=("", "_ref"))
                for k in PAIRED:
                    diff = (m[k] - m[k + "_ref"]).to_numpy()
                    ok = np.isfinite(diff)
                    lo, hi = cluster_bootstrap_ci(diff[ok], m["speaker"].to_numpy()[ok])
                    spk = pd.Series(diff[ok]).groupby(m["speaker"].to_numpy()[ok]).mean()
                    p = stats.ttest_1samp(spk, 0).pvalue if len(spk) > 2 else np.nan
                    row[f"d {k}"] = f"{diff[ok].mean():+.3f} [{lo:+.3f}, {hi:+.3f}] p={p:.2g}"
            rows.append(row)
        print(f"\n### {Path(a.testset).name}: {gname} ({len(pick(ref))} items, "
              f"{pick(ref)['speaker'].nunique()} speakers); differences against {a.ref}, speaker-clustered 95 % CI, "
              f"t-test over speaker means")
        print(tabulate(pd.DataFrame(rows), headers="keys", tablefmt="github", floatfmt=".3f", showindex=False,
                       missingval=""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
