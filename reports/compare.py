"""Changes between two runs, with regressions flagged (for gating CI)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .load import Run, finite_mean

# A regression: latency up by more than LATENCY_REL, or a quality metric worse by more than its threshold.
LATENCY_REL = 0.10
QUALITY_ABS = {"si_sdr": 0.5, "pesq_wb": 0.1, "stoi": 0.02, "rms_db": 0.5}
HIGHER_IS_BETTER = {"si_sdr": True, "pesq_wb": True, "stoi": True, "rms_db": False}


def compare(new: Run, old: Run, latency_rel: float = LATENCY_REL) -> pd.DataFrame:
    rows = []
    keys = set()
    for run in (new, old):
        if not run.latency.empty:
            keys |= {("latency", v, p) for v, p in zip(run.latency.variant, run.latency.profile)}
        if not run.quality.empty:
            keys |= {("quality", v, p) for v, p in zip(run.quality.variant, run.quality.profile)}
    for kind, v, p in sorted(keys, key=lambda k: (k[0], str(k[1]), str(k[2]))):
        if kind == "latency":
            a, b = (_median_ms(r, v, p) for r in (new, old))
            change = a / b - 1 if np.isfinite(a) and np.isfinite(b) and b > 0 else np.nan
            rows.append({"kind": "latency", "variant": v, "profile": p, "metric": "median ms", "old": b, "new": a,
                         "change": change, "regression": bool(np.isfinite(change) and change > latency_rel)})
        else:
            for m, thr in QUALITY_ABS.items():
                a, b = (_metric(r, v, p, m) for r in (new, old))
                if not (np.isfinite(a) or np.isfinite(b)):
                    continue
                delta = a - b
                worse = -delta if HIGHER_IS_BETTER[m] else delta
                rows.append({"kind": "quality", "variant": v, "profile": p, "metric": m, "old": b, "new": a,
                             "change": delta, "regression": bool(np.isfinite(worse) and worse > thr)})
    return pd.DataFrame(rows)


def _median_ms(run: Run, v: str, p: str) -> float:
    if run.latency.empty:
        return np.nan
    sel = run.latency[(run.latency.variant == v) & (run.latency.profile == p)]
    return float(np.median(sel.iloc[0].samples_ms)) if len(sel) and len(sel.iloc[0].samples_ms) else np.nan


def _metric(run: Run, v: str, p: str, m: str) -> float:
    q = run.quality
    if q.empty or m not in q:
        return np.nan
    return finite_mean(q[(q.variant == v) & (q.profile == p)][m])
