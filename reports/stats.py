"""Significance tests on per-utterance metrics (paired by utterance id) and on timing samples."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

ALPHA = 0.1   # the report's significance level


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (monotone, capped at 1)."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    idx = np.flatnonzero(ok)
    if not len(idx):
        return out
    order = idx[np.argsort(p[idx])]
    m = len(order)
    adj = np.maximum.accumulate([(m - i) * p[j] for i, j in enumerate(order)])
    out[order] = np.minimum(adj, 1.0)
    return out


def bootstrap_ci(d: np.ndarray, n: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of d."""
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(n, len(d)))].mean(axis=1)
    return float(np.quantile(means, (1 - level) / 2)), float(np.quantile(means, 1 - (1 - level) / 2))


def paired(quality: pd.DataFrame, a: str, b: str, profile: str, metric: str) -> dict | None:
    """Paired t-test of metric(a) - metric(b) over the utterances both were scored on."""
    qa = quality[(quality.variant == a) & (quality.profile == profile)].set_index("id")[metric]
    qb = quality[(quality.variant == b) & (quality.profile == profile)].set_index("id")[metric]
    both = pd.concat([qa, qb], axis=1, join="inner").dropna()
    if len(both) < 3:
        return None
    x, y = both.iloc[:, 0].to_numpy(), both.iloc[:, 1].to_numpy()
    d = x - y
    t, p = stats.ttest_rel(x, y)
    sd = d.std(ddof=1)
    lo, hi = bootstrap_ci(d)
    return {"profile": profile, "metric": metric, "a": a, "b": b, "n": len(d), "mean_a": x.mean(), "mean_b": y.mean(),
            "mean_diff": d.mean(), "t": float(t), "p": float(p), "effect_dz": d.mean() / sd if sd > 0 else np.nan,
            "ci_low": lo, "ci_high": hi}


def against_parents(quality: pd.DataFrame, rows: pd.DataFrame, metrics: tuple[str, ...]) -> pd.DataFrame:
    """Each compressed variant against its uncompressed parent, per profile and metric; Holm over the family."""
    out = []
    for r in rows.drop_duplicates(["variant", "profile"]).itertuples():
        if r.parent and isinstance(r.parent, str):
            for m in metrics:
                res = paired(quality, r.variant, r.parent, r.profile, m)
                if res:
                    out.append(res)
    return _finish(pd.DataFrame(out))


def all_pairs(quality: pd.DataFrame, variants: list[str], profile: str, metric: str) -> pd.DataFrame:
    out = []
    for i, a in enumerate(variants):
        for b in variants[i + 1:]:
            res = paired(quality, a, b, profile, metric)
            if res:
                out.append(res)
    return _finish(pd.DataFrame(out))


def _finish(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return df
    df["p_holm"] = holm(df["p"].to_numpy())
    df["significant"] = df["p_holm"] < ALPHA
    return df


def latency_tests(latency: pd.DataFrame) -> pd.DataFrame:
    """Welch's t-test on per-call timing samples: each variant against its parent, same profile."""
    out, seen = [], set()
    idx = {(r.variant, r.profile): r for r in latency.itertuples()}
    for r in latency.itertuples():
        parent = idx.get((r.parent, r.profile)) if isinstance(r.parent, str) else None
        if parent is None or len(r.samples_ms) < 2 or len(parent.samples_ms) < 2:
            continue
        both_shared = bool(getattr(r, "shared", False)) and bool(getattr(parent, "shared", False))
        if both_shared and (r.variant, r.parent) in seen:
            continue   # one measurement pair standing for every profile: test it once
        seen.add((r.variant, r.parent))
        t, p = stats.ttest_ind(r.samples_ms, parent.samples_ms, equal_var=False)
        out.append({"profile": "all" if both_shared else r.profile, "a": r.variant, "b": r.parent, "median_a_ms": np.median(r.samples_ms),
                    "median_b_ms": np.median(parent.samples_ms), "t": float(t), "p": float(p)})
    return _finish(pd.DataFrame(out))
