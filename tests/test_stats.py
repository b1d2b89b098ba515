"""Clustered statistics and NaN handling of the report, against direct computations."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from reports import stats


def _quality(seed=0, speakers=6, per=4, nan_ids=()):
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(speakers):
        bias = rng.normal(0, 1.0)            # speaker effect shared by both systems' difference
        for u in range(per):
            uid = f"s{s}-u{u}"
            base = rng.normal(5, 2)
            rows.append({"variant": "b", "profile": "p", "id": uid, "speaker": f"spk{s}", "recording": f"r{s}{u}",
                         "si_sdr": base})
            a = base + 0.5 + bias + rng.normal(0, 0.3)
            rows.append({"variant": "a", "profile": "p", "id": uid, "speaker": f"spk{s}", "recording": f"r{s}{u}",
                         "si_sdr": np.nan if uid in nan_ids else a})
    return pd.DataFrame(rows)


def test_paired_test_flips_whole_speakers():
    q = _quality()
    res = stats.paired(q, "a", "b", "p", "si_sdr")
    wide = q.pivot(index="id", columns="variant", values="si_sdr")
    spk = q.drop_duplicates("id").set_index("id").speaker
    d = (wide["a"] - wide["b"])
    sums = d.groupby(spk).sum().to_numpy()
    # 6 speakers: all 64 flips of whole speakers' differences, the item mean's size against the observed one
    signs = np.array(np.meshgrid(*[[1, -1]] * 6)).reshape(6, -1).T
    p = np.mean(np.abs(signs @ sums) >= abs(d.sum()) - 1e-9)
    assert res["n"] == 24 and res["speakers"] == 6 and res["recordings"] == 24
    assert res["p"] == pytest.approx(p) and res["p"] >= 2 / 64          # no p below what 6 speakers can give
    assert res["mean_diff"] == pytest.approx(d.mean()) and res["ci_low"] <= d.mean() <= res["ci_high"]
    # the utterance-level test would claim far more certainty than 6 speakers allow
    assert sps.ttest_rel(wide["a"], wide["b"]).pvalue < res["p"]


def test_cluster_bootstrap_matches_a_direct_resampling():
    rng = np.random.default_rng(3)
    d = rng.normal(1, 1, 30)
    clusters = np.repeat(np.arange(6), 5)
    lo, hi = stats.cluster_bootstrap_ci(d, clusters, n=500, seed=7)
    # direct: resample the 6 clusters with the same generator, pool their items
    r = np.random.default_rng(7)
    pick = r.integers(0, 6, size=(500, 6))
    groups = [d[clusters == c] for c in range(6)]
    means = [np.concatenate([groups[c] for c in row]).mean() for row in pick]
    assert lo == pytest.approx(np.quantile(means, 0.025)) and hi == pytest.approx(np.quantile(means, 0.975))
    # one item per cluster: the ordinary bootstrap
    assert stats.cluster_bootstrap_ci(d, np.arange(30), n=400, seed=2) == pytest.approx(stats.bootstrap_ci(d, n=400, seed=2))


def test_comparisons_use_only_utterances_scored_for_both():
    q = _quality(nan_ids={"s0-u0", "s1-u2"})
    res = stats.paired(q, "a", "b", "p", "si_sdr")
    assert res["n"] == 22 and res["nan_a"] == 2 and res["nan_b"] == 0
    both = stats.paired_frame(q, "a", "b", "p", "si_sdr")
    assert "s0-u0" not in both.index and len(both) == 22
    assert res["mean_b"] == pytest.approx(both.y.mean())           # b's mean over the same 22, not all 24


def test_latency_rounds_not_calls():
    samples = [10, 11, 12, 20, 21, 22, 30, 31, 32]
    assert list(stats.round_means(samples, 3)) == [11, 21, 31]
    lat = pd.DataFrame([
        {"variant": "a", "parent": "b", "profile": "p", "samples_ms": [1, 1.1, 0.9, 1, 1.2, 0.8], "calls_per_round": 2},
        {"variant": "b", "parent": None, "profile": "p", "samples_ms": [2, 2.1, 1.9, 2, 2.2, 1.8], "calls_per_round": 2}])
    res = stats.latency_tests(lat)
    assert len(res) == 1 and res.iloc[0].rounds_a == 3
    t, p = sps.ttest_ind([1.05, 0.95, 1.0], [2.05, 1.95, 2.0], equal_var=False)
    assert res.iloc[0].p == pytest.approx(p)
