"""The report generator on a small committed run of the real suite (tests/fixtures/bench-run.json: smoke
budget, 4 variants x 2 profiles, 8 utterances, peers)."""
from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reports import stats
from reports.build import main
from reports.load import ReportError, load_run, newest_run

FIXTURE = Path(__file__).parent / "fixtures" / "bench-run.json"


@pytest.fixture(scope="module")
def raw():
    return json.loads(FIXTURE.read_text())


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    assert main(["--run", str(FIXTURE), "--out", str(out)]) == 0
    return out


def _quality(raw, variant, profile):
    for b in raw["benchmarks"]:
        ei = b["extra_info"]
        if ei["kind"] == "quality" and ei["variant"] == variant and ei["profile"] == profile:
            return ei
    raise KeyError((variant, profile))


def _full_scale(raw, variant, profile):
    """The full-scale entry for a profile: its own, or one shared by every profile (same architecture)."""
    return next(b["extra_info"] for b in raw["benchmarks"] if b["extra_info"]["kind"] == "full-scale"
                and b["extra_info"]["variant"] == variant and profile in b["extra_info"]["profiles"])


def _latency(raw, variant, profile):
    """The end-to-end latency entry of (variant, profile): the artifact its quality row scored."""
    return next(b["extra_info"] for b in raw["benchmarks"] if b["extra_info"]["kind"] == "latency"
                and b["extra_info"]["variant"] == variant and b["extra_info"]["profile"] == profile)


def test_shared_full_scale_timing_stands_for_every_profile(raw):
    run = load_run(FIXTURE)
    shared = [b["extra_info"] for b in raw["benchmarks"]
              if b["extra_info"]["kind"] == "full-scale" and b["extra_info"]["profile"] is None]
    assert {ei["variant"] for ei in shared} >= {"normal", "smaller", "normal-kd"}      # unpruned: timed once
    pruned = [b["extra_info"] for b in raw["benchmarks"]
              if b["extra_info"]["kind"] == "full-scale" and b["extra_info"]["variant"] == "normal-kd-prune-int8"]
    assert {ei["profile"] for ei in pruned} == {"weighted", "no-reverb"}                # pruned: per profile
    normal = run.full_scale[run.full_scale.variant == "normal"]
    assert sorted(normal.profile) == ["no-reverb", "weighted"] and normal.shared.all()
    assert normal.best_round_ms.nunique() == 1


def test_every_quality_artifact_has_a_latency_row_of_the_same_run(raw):
    qual = {(ei["variant"], ei["profile"]): ei["artifact"] for b in raw["benchmarks"]
            for ei in [b["extra_info"]] if ei["kind"] == "quality" and "artifact" in ei and ei["recipe"] is not None
            and not ei["variant"].startswith(("peer:", "noisy"))}
    assert len(qual) == 8
    timed = {(ei["variant"], ei["profile"]): ei["artifact"] for b in raw["benchmarks"]
             for ei in [b["extra_info"]] if ei["kind"] == "latency" and not ei["variant"].startswith("peer:")}
    assert qual == timed
    peers = [b["extra_info"] for b in raw["benchmarks"] if b["extra_info"]["kind"] == "latency"
             and b["extra_info"]["variant"].startswith("peer:")]
    units = {ei["variant"]: ei for b in raw["benchmarks"] for ei in [b["extra_info"]] if ei["kind"] == "latency"}
    assert peers and all(ei["ms_per_s"] > 0 and ei["e2e_audio_seconds"] == 4.0 for ei in units.values())


def test_speedup_and_kept_gain_use_one_artifact(built, raw):
    sp = pd.read_csv(built / "speedup.csv")
    row = sp[(sp.variant == "normal-kd-prune-int8") & (sp.profile == "weighted")].iloc[0]
    lat, ref = _latency(raw, "normal-kd-prune-int8", "weighted"), _latency(raw, "normal", "weighted")
    assert row.artifact == lat["artifact"] == _quality(raw, "normal-kd-prune-int8", "weighted")["artifact"]
    assert row["ms / s (e2e)"] == pytest.approx(lat["ms_per_s"])
    assert row["speed-up"] == pytest.approx(ref["ms_per_s"] / lat["ms_per_s"])


def test_table1_rows_and_values(built, raw):
    t1 = pd.read_csv(built / "table1.csv")
    assert list(t1["Model"]) == ["Normal Model", "Smaller Model"]
    for label, v in (("Normal Model", "normal"), ("Smaller Model", "smaller")):
        row = t1[t1.Model == label].iloc[0]
        for p in ("weighted", "no-reverb"):
            assert row[f"RMS {p}"] == pytest.approx(np.mean(_quality(raw, v, p)["metrics"]["rms_db"]))
            assert row[f"full-scale ms/tile {p}"] == pytest.approx(_full_scale(raw, v, p)["best_round_ms"])


def test_table2_has_every_report_row_with_gaps(built, raw):
    t2 = pd.read_csv(built / "table2.csv", keep_default_na=False, na_values=[""])   # the label "None" is text
    assert len(t2) == 10
    assert list(t2["Compression"][:6]) == ["None", "Pruning", "Quantization", "Knowledge Distillation",
                                           "Pruning and Quantization", "Quantization and Knowledge Distillation"]
    kd = t2[(t2.Model == "Normal Model") & (t2.Compression == "Knowledge Distillation")].iloc[0]
    assert kd["RMS weighted"] == pytest.approx(np.mean(_quality(raw, "normal-kd", "weighted")["metrics"]["rms_db"]))
    missing = t2[(t2.Model == "Normal Model") & (t2.Compression == "Pruning")].iloc[0]
    assert np.isnan(missing["RMS weighted"])                 # not in the run: a gap, not a crash
    assert "| –" in (built / "table2.md").read_text()


def test_paired_tests_describe_the_item_mean_difference(built, raw):
    tt = pd.read_csv(built / "ttests_vs_parent.csv")
    row = tt[(tt.a == "normal-kd") & (tt.b == "normal") & (tt.profile == "weighted") & (tt.metric == "si_sdr")].iloc[0]
    qa, qb = _quality(raw, "normal-kd", "weighted"), _quality(raw, "normal", "weighted")
    a = dict(zip(qa["utterance_ids"], qa["metrics"]["si_sdr"]))
    b = dict(zip(qb["utterance_ids"], qb["metrics"]["si_sdr"]))
    spk = dict(zip(qa["utterance_ids"], qa["speakers"]))
    ids = sorted(set(a) & set(b))
    d = pd.Series({i: a[i] - b[i] for i in ids})
    # the p-value by hand: every flip of whole speakers' differences, the item mean's size against the observed
    by = d.groupby(pd.Series(spk)[d.index]).sum().to_numpy()
    flips = [abs(sum(s * v for s, v in zip(signs, by))) for signs in itertools.product((1, -1), repeat=len(by))]
    p = np.mean([f >= abs(d.sum()) - 1e-9 for f in flips])
    assert row.p == pytest.approx(p) and row.mean_diff == pytest.approx(d.mean())
    per_speaker = d.groupby(pd.Series(spk)[d.index]).mean()
    assert row.speakers == len(per_speaker) < row.n == len(ids)
    assert row.effect_dz == pytest.approx(per_speaker.mean() / per_speaker.std(ddof=1))
    assert row.ci_low <= d.mean() <= row.ci_high
    assert (tt.p_holm >= tt.p - 1e-12).all() and (tt.p_holm <= 1).all()
    assert set(tt.metric) == {"rms_db", "si_sdr", "pesq_wb", "stoi"}


def test_sign_flip_p_values():
    from reports.stats import sign_flip_p
    rng = np.random.default_rng(1)
    spk = np.repeat(np.arange(30), 4)
    assert sign_flip_p(rng.standard_normal(120) + 1.0, spk) < 0.001            # a clear shift, 30 speakers
    null = [sign_flip_p(rng.standard_normal(40), np.repeat(np.arange(10), 4)) for _ in range(200)]
    assert 0.02 < np.mean(np.array(null) < 0.05) < 0.09                          # about alpha under the null
    # one speaker carries the shift: the clustered test counts its 4 items as one witness, items alone as four,
    # so it rejects far less often (measured: 7 % against 26 % of 100 draws)
    clustered, alone = [], []
    for _ in range(100):
        d = np.r_[np.full(4, 3.0), rng.standard_normal(36)]
        clustered.append(sign_flip_p(d, np.repeat(np.arange(10), 4)) < 0.05)
        alone.append(sign_flip_p(d, np.arange(40), n=2000) < 0.05)
    assert np.mean(clustered) < 0.15 and np.mean(alone) > 2 * np.mean(clustered)


def test_live_table_reads_every_streaming_entry(built, raw):
    live = pd.read_csv(built / "live.csv")
    entries = [b["extra_info"] for b in raw["benchmarks"] if b["extra_info"]["kind"] == "streaming"]
    assert len(live) == len(entries) and {"low-latency", "low-latency-hq", "no-lookahead"} <= set(live["mode"])
    for ei in entries:
        row = live[(live.variant == ei["variant"]) & (live["mode"] == ei["mode"])].iloc[0]
        assert row["latency ms"] == pytest.approx(ei["algorithmic_latency_ms"]) and row.artifact == ei["artifact"]
        if ei["architecture"] == "budget-scale":          # the report's STFT: 254-point frames, hop 127
            assert row["latency ms"] == pytest.approx(31.75)
        assert row["call budget ms"] == pytest.approx(1000 * 127 * ei["step_frames"] / 16000)
        assert row["call p99 ms"] == pytest.approx(ei["p99_ms"])
        assert row["keeps up"] == ("yes" if ei["p99_ms"] < ei["call_budget_ms"] else "no")
        assert row["ΔSI-SDR live"] == pytest.approx(ei["live_si_sdr"] - ei["noisy_si_sdr"])
        assert row["ΔSI-SDR offline"] == pytest.approx(ei["offline_si_sdr"] - ei["noisy_si_sdr"])
    assert "Live mode" in (built / "report.html").read_text()


def test_holm_against_hand_computation():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> monotone: 0.02, 0.03, 0.06, 0.06
    assert np.allclose(stats.holm(p), [0.03, 0.06, 0.06, 0.02])


def test_outputs_and_figures(built):
    for name in ("table1", "table2", "extended", "speedup", "full_scale", "ttests_vs_parent", "ttests_latency"):
        for ext in ("csv", "md", "tex"):
            assert (built / f"{name}.{ext}").stat().st_size > 0, (name, ext)
    for f in ("fig2_training_loss", "fig3_rms_latency", "fig4_spectrograms_environmental",
              "fig5_spectrograms_reverb", "pareto"):
        assert (built / f"{f}.png").read_bytes()[:4] == b"\x89PNG"
    page = (built / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 5 and "Table 1" in page and "budget" in page
    md = (built / "report.md").read_text()
    assert "## Proxy track, Table 2" in md and "## Proxy track: what its models are" in md and "commit" in md and "![pareto](pareto.png)" in md
    ext = pd.read_csv(built / "extended.csv")
    assert {"noisy", "normal", "peer:noisereduce"} <= set(ext.variant)


def test_compare_flags_regressions(tmp_path, raw):
    worse = copy.deepcopy(raw)
    for b in worse["benchmarks"]:
        ei = b["extra_info"]
        if ei["kind"] == "latency" and ei["variant"] == "normal":
            ei["samples_ms"] = [2 * v for v in ei["samples_ms"]]
            ei["ms_per_s"] *= 2
    (tmp_path / "new.json").write_text(json.dumps(worse))
    assert main(["--run", str(tmp_path / "new.json"), "--compare", str(FIXTURE), "--out", str(tmp_path / "o")]) == 3
    cmp = pd.read_csv(tmp_path / "o" / "compare.csv")
    flagged = cmp[cmp.regression]
    assert set(flagged.variant) == {"normal"} and set(flagged.kind) == {"latency"}
    assert main(["--run", str(FIXTURE), "--compare", str(FIXTURE), "--out", str(tmp_path / "same")]) == 0


def test_bad_inputs(tmp_path, capsys, raw):
    assert main(["--benchmarks", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
    assert "no benchmark runs" in capsys.readouterr().err
    other = {"machine_info": {}, "benchmarks": [{"name": "x", "extra_info": {}}]}
    (tmp_path / "other.json").write_text(json.dumps(other))
    assert main(["--run", str(tmp_path / "other.json"), "--out", str(tmp_path / "o")]) == 2
    assert "another suite" in capsys.readouterr().err
    (tmp_path / "junk.json").write_text("{not json")
    assert main(["--run", str(tmp_path / "junk.json"), "--out", str(tmp_path / "o")]) == 2
    assert "not a JSON file" in capsys.readouterr().err
    nan = copy.deepcopy(raw)
    for b in nan["benchmarks"]:
        if b["extra_info"]["kind"] == "quality":
            b["extra_info"]["metrics"]["pesq_wb"] = [None] * len(b["extra_info"]["metrics"]["pesq_wb"])
    (tmp_path / "nan.json").write_text(json.dumps(nan))
    assert main(["--run", str(tmp_path / "nan.json"), "--out", str(tmp_path / "n")]) == 0
    ext = pd.read_csv(tmp_path / "n" / "extended.csv")
    assert ext["PESQ-WB"].isna().all()                    # NaN metrics are a visible gap
    assert (ext[ext.variant == "normal"]["NaN PESQ"] == 8).all()     # and counted per row


def test_newest_run_picks_latest(tmp_path):
    d = tmp_path / ".benchmarks" / "Linux-CPython-3.11-64bit"
    d.mkdir(parents=True)
    (d / "0001_a.json").write_text("{}")
    import os
    import time
    (d / "0002_b.json").write_text("{}")
    os.utime(d / "0001_a.json", (time.time() - 100, time.time() - 100))
    assert newest_run(tmp_path / ".benchmarks").name == "0002_b.json"
    with pytest.raises(ReportError):
        load_run(d / "0002_b.json")


def test_quality_rows_show_pooled_pause_attenuation_and_dnsmos_when_scored():
    import pandas as pd

    from chvoice_core.metrics import PAUSE_IN_COLUMNS, PAUSE_OUT_COLUMNS
    from reports.tables import residual_summary
    rows = []
    for e_in, e_out in ((1.0, 0.01), (0.01, 0.01)):     # 20 dB on a loud file, 0 dB on a quiet one
        rows.append({**dict.fromkeys(PAUSE_IN_COLUMNS, e_in), **dict.fromkeys(PAUSE_OUT_COLUMNS, e_out),
                     "dnsmos_bak": 3.0 + e_in, "dnsmos_sig": 3.5})
    out = residual_summary(pd.DataFrame(rows))
    assert out["pause att >1k (dB)"] == pytest.approx(10 * np.log10(1.01 / 0.02))     # pooled, not a mean of dB
    assert out["DNSMOS BAK"] == pytest.approx(3.505) and out["DNSMOS SIG"] == pytest.approx(3.5)
    assert residual_summary(pd.DataFrame([{"si_sdr": 3.0}])) == {}                             # older runs: no columns


def _real_track(rng):
    import pandas as pd

    from reports.load import RealTrack
    rows = pd.DataFrame([
        {"variant": "real:default", "role": "parent", "real_parent": "default", "recipe_string": "-", "params": 3.3e6,
         "size_bytes": 6.7e6},
        {"variant": "real:default-bf16", "role": "deployment", "real_parent": "default", "recipe_string": "bf16",
         "params": 3.3e6, "size_bytes": 13.4e6},
        {"variant": "real:default-ovl126", "role": "deployment", "real_parent": "default",
         "recipe_string": "overlap(hop=126)", "params": 3.3e6, "size_bytes": 13.4e6},
        {"variant": "real:default-kd8", "role": "child", "real_parent": "default", "recipe_string": "distil(width=8)",
         "params": 2e5, "size_bytes": 4e5},
        {"variant": "peer:rnnoise", "role": "peer", "real_parent": None, "recipe_string": None, "params": None,
         "size_bytes": None},
        {"variant": "noisy", "role": "noisy", "real_parent": None, "recipe_string": None, "params": None,
         "size_bytes": None}])
    # bf16 keeps the parent's quality; tiles 126 apart lose 0.1 PESQ-WB, more than a free deployment may
    base = {"real:default": 2.0, "real:default-bf16": 2.0, "real:default-ovl126": 1.9, "real:default-kd8": 1.8,
            "peer:rnnoise": 1.6, "noisy": 1.2}
    noise = {i: 0.05 * rng.standard_normal() for i in range(24)}        # item difficulty, shared by every model
    q = [{"variant": v, "profile": "real", "id": f"u{i}", "speaker": f"s{i % 12}", "recording": f"u{i}",
          "pesq_wb": b + noise[i] + 0.02 * rng.standard_normal(), "stoi": 0.9, "si_sdr": 10 * b + rng.standard_normal()}
         for v, b in base.items() for i in range(24)]
    ms = {"real:default": 100.0, "real:default-bf16": 50.0, "real:default-ovl126": 40.0, "real:default-kd8": 10.0,
          "peer:rnnoise": 20.0}
    drift = 1 + 0.3 * np.sin(np.arange(12))          # the host's speed per round, the same for every row
    lat = [{"variant": v, "threads": t, "ms_per_s": m / t, "macs_per_s": 1e9, "peak_forward_bytes": 1e6,
            "model_ms_per_tile": m / 3, "resample_ms_per_s": 1.0 if v.startswith("peer") else float("nan"),
            "samples_ms": list(4 * m / t * drift), "calls_per_round": 1,
            "round_ms": list(4 * m / t * drift * (1 + 0.01 * rng.standard_normal(12)))}
           for v, m in ms.items() for t in (1, 2)]
    return RealTrack(rows, pd.DataFrame(q), pd.DataFrame(lat))


def test_real_track_table_orders_rows_and_divides_by_the_parent(tmp_path):
    from reports import real
    rt = _real_track(np.random.default_rng(0))
    t = real.table(rt)
    assert list(t.model) == ["default", "default-bf16", "default-ovl126", "default-kd8", "peer:rnnoise", "noisy"]
    kd = t.set_index("model").loc["default-kd8"]
    # the rounds drift by +-30 % together: paired by round, the speed-up's interval stays narrow around 10
    assert kd["speed-up vs fp32 parent (1 thread)"] == pytest.approx(10.0, rel=0.02)
    assert 9.5 < kd["speed-up vs fp32 parent CI low"] < 10 < kd["speed-up vs fp32 parent CI high"] < 10.5
    assert kd["best free deployment"] == "default-bf16"                  # ovl126 is faster but loses quality
    assert kd["speed-up vs best free deployment (1 thread)"] == pytest.approx(5.0, rel=0.02)
    assert kd["kept % of parent's PESQ gain"] == pytest.approx(75.0, abs=5)       # (1.8 - 1.2) / (2.0 - 1.2)
    assert kd["kept_pesq_wb_ci_low"] < kd["kept % of parent's PESQ gain"] < kd["kept_pesq_wb_ci_high"]
    assert kd["kept_si_sdr_ci_low"] < kd["kept % of parent's SI-SDR gain"] < kd["kept_si_sdr_ci_high"]
    assert t.set_index("model").loc["default-bf16"]["speed-up vs fp32 parent (1 thread)"] == pytest.approx(2.0, rel=0.02)
    lo, hi = (float(v) for v in kd["PESQ-WB 95% CI"].strip("[]").split(","))
    assert lo < kd["PESQ-WB"] < hi and kd["speakers"] == 12 and kd["ms / s, 2 threads"] == pytest.approx(5.0)
    assert t.set_index("model").loc["peer:rnnoise"]["resampling ms / s (in e2e)"] == 1.0
    assert real._front(t[t.role != "noisy"]) == {"default", "default-bf16", "default-ovl126", "default-kd8"}
    tests = real.tests_vs_parent(rt)
    assert set(tests.a) == {"real:default-kd8", "real:default-bf16", "real:default-ovl126"}
    assert (tests[(tests.a == "real:default-kd8") & (tests.metric == "pesq_wb")].p_holm < 0.05).all()
    assert real.pareto(rt, t, tmp_path).is_file()


def test_real_track_tests_the_default_family_against_the_peers():
    from reports import real
    rt = _real_track(np.random.default_rng(0))
    t = real.tests_vs_peers(rt)
    assert set(t.b) == {"peer:rnnoise"} and "real:default-kd8" in set(t.a) and "real:default" in set(t.a)
    kd = t[(t.a == "real:default-kd8") & (t.metric == "pesq_wb")].iloc[0]
    assert kd.mean_diff == pytest.approx(0.2, abs=0.02) and kd.p_holm < 0.05      # 1.8 against 1.6
    assert (t.p_holm >= t.p - 1e-12).all()
