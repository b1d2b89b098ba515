"""Significance tests on per-utterance metrics (paired by utterance id) and on timing samples.

Test items are not independent draws: several items share a speaker (and, in older runs, a recording). A paired
comparison therefore describes one quantity, the mean over items of the paired difference, with a speaker-clustered
interval (bootstrap resampling whole speakers) and a speaker-clustered p-value (a sign-flip permutation test that
flips all of a speaker's differences together), at one level (ALPHA = 0.05 against 95 % intervals); each result says
how many utterances, speakers and recordings stand behind it. Only utterances scored for both sides enter a comparison. Timing samples taken
back to back are not independent either: latency tests compare per-round means, not single calls."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

ALPHA = 0.05   # the report's significance level, the complement of its 95 % intervals
EXACT_SPEAKERS = 16      # up to this many speakers the sign-flip test enumerates every flip (2^16 = 65 536)


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


def cluster_bootstrap_ci(d: np.ndarray, clusters: np.ndarray, n: int = 2000, seed: int = 0,
                         level: float = 0.95) -> tuple[float, float]:
    """Percentile CI of the mean of d when its items come in clusters (speakers): whole clusters are resampled.
    With one item per cluster it is the ordinary bootstrap of bootstrap_ci."""
    labels, inv = np.unique(clusters, return_inverse=True)
    sums = np.bincount(inv, weights=d, minlength=len(labels))
    counts = np.bincount(inv, minlength=len(labels)).astype(float)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(labels), size=(n, len(labels)))
    means = sums[pick].sum(axis=1) / counts[pick].sum(axis=1)
    return float(np.quantile(means, (1 - level) / 2)), float(np.quantile(means, 1 - (1 - level) / 2))


def paired_frame(quality: pd.DataFrame, a: str, b: str, profile: str, metric: str) -> pd.DataFrame:
    """Utterances scored (finite) for both a and b: columns x (a), y (b), speaker, recording; index id."""
    cols = ["id", metric] + [c for c in ("speaker", "recording") if c in quality]
    qa = quality[(quality.variant == a) & (quality.profile == profile)][cols].set_index("id")
    qb = quality[(quality.variant == b) & (quality.profile == profile)].set_index("id")[metric]
    both = qa.rename(columns={metric: "x"}).join(qb.rename("y"), how="inner")
    both = both[np.isfinite(both.x.astype(float)) & np.isfinite(both.y.astype(float))]
    for c in ("speaker", "recording"):
        if c not in both:
            both[c] = both.index      # no cluster labels: every item its own cluster
    return both


def sign_flip_p(d: np.ndarray, clusters: np.ndarray, n: int = 20000, seed: int = 0) -> float:
    """Two-sided p-value of 'the mean of d is 0' when d's items come in clusters: under the null each cluster's
    differences are as likely negated, so the item mean is compared with its values under every flip of whole
    clusters (all 2^K with K <= EXACT_SPEAKERS clusters, else n random flips)."""
    labels, inv = np.unique(clusters, return_inverse=True)
    sums = np.bincount(inv, weights=d, minlength=len(labels))
    k, obs = len(labels), abs(d.sum())
    if k <= EXACT_SPEAKERS:
        signs = 1 - 2 * ((np.arange(2 ** k)[:, None] >> np.arange(k)) & 1)
    else:
        signs = np.random.default_rng(seed).choice((-1, 1), size=(n, k))
    flipped = np.abs(signs @ sums)
    hits = int(np.sum(flipped >= obs - 1e-12 * max(1.0, obs)))
    return hits / len(signs) if k <= EXACT_SPEAKERS else (hits + 1) / (len(signs) + 1)


def paired(quality: pd.DataFrame, a: str, b: str, profile: str, metric: str) -> dict | None:
    """Paired comparison of metric(a) - metric(b) over the utterances both were scored on: the item-mean difference,
    its speaker-clustered bootstrap CI and sign-flip p-value (the same quantity), NaN counts of each side."""
    both = paired_frame(quality, a, b, profile, metric)
    if len(both) < 3:
        return None
    x, y = both.x.to_numpy(float), both.y.to_numpy(float)
    d = x - y
    per_speaker = pd.Series(d, index=both.index).groupby(both.speaker.to_numpy()).mean().to_numpy()
    p = sign_flip_p(d, both.speaker.to_numpy()) if len(per_speaker) >= 2 else np.nan
    sd = per_speaker.std(ddof=1) if len(per_speaker) > 1 else np.nan
    lo, hi = cluster_bootstrap_ci(d, both.speaker.to_numpy())

    def nans(v: str) -> int:
        sel = quality[(quality.variant == v) & (quality.profile == profile)][metric]
        return int((~np.isfinite(sel.astype(float))).sum())
    return {"profile": profile, "metric": metric, "a": a, "b": b, "n": len(d),
            "speakers": len(per_speaker), "recordings": int(both.recording.nunique()),
            "nan_a": nans(a), "nan_b": nans(b), "mean_a": x.mean(), "mean_b": y.mean(),
            "mean_diff": d.mean(), "p": float(p),
            "effect_dz": per_speaker.mean() / sd if sd and sd > 0 else np.nan, "ci_low": lo, "ci_high": hi}


def against_parents(quality: pd.DataFrame, rows: pd.DataFrame, metrics: tuple[str, ...]) -> pd.DataFrame:
    """Each compressed variant against its uncompressed parent, per profile and metric; Holm over the family."""
    out = []
    for r in rows.drop_duplicates(["variant", "profile"]).itertuples():
        if r.parent and isinstance(r.parent, str):
            for m in metrics:
                res = paired(quality, r.variant, r.parent, r.profile, m)
                if res:
                    out.append(res)
    return holm_family(pd.DataFrame(out))


def all_pairs(quality: pd.DataFrame, variants: list[str], profile: str, metric: str) -> pd.DataFrame:
    out = []
    for i, a in enumerate(variants):
        for b in variants[i + 1:]:
            res = paired(quality, a, b, profile, metric)
            if res:
                out.append(res)
    return holm_family(pd.DataFrame(out))


def holm_family(df: pd.DataFrame) -> pd.DataFrame:
    """A family of tests (one row each, column p) with its Holm-adjusted p-values and significance at ALPHA."""
    if df.empty:
        return df
    df["p_holm"] = holm(df["p"].to_numpy())
    df["significant"] = df["p_holm"] < ALPHA
    return df


def round_means(samples_ms: list[float], calls_per_round: int) -> np.ndarray:
    """Mean of each round of consecutive calls: the units a latency test compares."""
    s = np.asarray(samples_ms, dtype=float)
    k = max(1, int(calls_per_round))
    n = len(s) // k
    return s[: n * k].reshape(n, k).mean(axis=1) if n else s


def latency_tests(latency: pd.DataFrame) -> pd.DataFrame:
    """Welch's t-test on per-round mean times (consecutive calls share caches and clocks, so single calls are
    not independent samples): each variant against its parent, same profile, same artifacts as the quality rows."""
    out, seen = [], set()
    idx = {(r.variant, r.profile): r for r in latency.itertuples()}
    for r in latency.itertuples():
        parent = idx.get((r.parent, r.profile)) if isinstance(r.parent, str) else None
        if parent is None:
            continue
        ra = round_means(r.samples_ms, getattr(r, "calls_per_round", 1))
        rb = round_means(parent.samples_ms, getattr(parent, "calls_per_round", 1))
        if len(ra) < 2 or len(rb) < 2:
            continue
        both_shared = bool(getattr(r, "shared", False)) and bool(getattr(parent, "shared", False))
        if both_shared and (r.variant, r.parent) in seen:
            continue   # one measurement pair standing for every profile: test it once
        seen.add((r.variant, r.parent))
        t, p = stats.ttest_ind(ra, rb, equal_var=False)
        out.append({"profile": "all" if both_shared else r.profile, "a": r.variant, "b": r.parent,
                    "rounds_a": len(ra), "rounds_b": len(rb), "median_a_ms": np.median(r.samples_ms),
                    "median_b_ms": np.median(parent.samples_ms), "t": float(t), "p": float(p)})
    return holm_family(pd.DataFrame(out))


def speedup_ci(slow_ms: list[float], fast_ms: list[float], n: int = 2000, seed: int = 0,
               level: float = 0.95) -> tuple[float, float, float]:
    """Speed-up of `fast` over `slow` from their per-round times in the same interleaved rounds: the geometric mean
    of the per-round ratios (each round's pair saw the same host state), and its percentile bootstrap interval
    resampling rounds. -> (speed-up, low, high); NaNs without two paired rounds."""
    a, b = np.asarray(slow_ms, dtype=float), np.asarray(fast_ms, dtype=float)
    k = min(len(a), len(b))
    if k < 2 or not (np.all(a[:k] > 0) and np.all(b[:k] > 0)):
        return np.nan, np.nan, np.nan
    logs = np.log(a[:k] / b[:k])
    rng = np.random.default_rng(seed)
    boots = logs[rng.integers(0, k, size=(n, k))].mean(axis=1)
    q = (1 - level) / 2
    return float(np.exp(logs.mean())), float(np.exp(np.quantile(boots, q))), float(np.exp(np.quantile(boots, 1 - q)))


def kept_share_ci(child: np.ndarray, parent: np.ndarray, noisy: np.ndarray, clusters: np.ndarray, n: int = 2000,
                  seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """Share (%) of the parent's gain over the noisy input that the child keeps, 100 * mean(child - noisy) /
    mean(parent - noisy) over the same items, and its paired bootstrap interval resampling whole clusters
    (speakers) with every item of a drawn speaker on all three sides. -> (kept %, low, high)."""
    labels, inv = np.unique(clusters, return_inverse=True)
    gc = np.bincount(inv, weights=child - noisy, minlength=len(labels))
    gp = np.bincount(inv, weights=parent - noisy, minlength=len(labels))
    if len(labels) < 2 or gp.sum() == 0:
        return np.nan, np.nan, np.nan
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(labels), size=(n, len(labels)))
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = 100 * gc[pick].sum(axis=1) / gp[pick].sum(axis=1)
    q = (1 - level) / 2
    return float(100 * gc.sum() / gp.sum()), float(np.nanquantile(shares, q)), float(np.nanquantile(shares, 1 - q))
