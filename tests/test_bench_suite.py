"""Runs the benchmark suite as a user would (subprocess, --budget smoke, a small subset) and checks that the
saved pytest-benchmark JSON carries what the report generator reads."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_bench(tmp_path, cache_dir, *args, timeout=900, target="bench"):
    env = {**os.environ, "CHVOICE_CACHE": str(cache_dir)}
    tracks = () if "--tracks" in args else ("--tracks", "proxy")     # the real track has its own test below
    cmd = [sys.executable, "-m", "pytest", *target.split(), "-q", "-p", "no:cacheprovider", "--budget", "smoke",
           *tracks, *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_smoke_suite_writes_the_agreed_json(tmp_path, cache_dir):
    out = tmp_path / "run.json"
    r = run_bench(tmp_path, cache_dir, "--variants", "normal,normal-kd-prune-int8", "--profiles", "no-reverb",
                  "--proxy-peers", f"--benchmark-json={out}")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    run = json.loads(out.read_text())
    assert run["machine_info"]["chvoice"]["budget"] == "smoke"
    assert {"torch", "cpu_capability", "quantized_engines"} <= set(run["machine_info"])
    by_group: dict[str, list] = {}
    for b in run["benchmarks"]:
        by_group.setdefault(b["group"], []).append(b)
        ei = b["extra_info"]
        for key in ("variant", "recipe", "profile", "device", "threads", "batch", "audio_seconds_per_call",
                    "budget", "data", "kind"):
            assert key in ei, (b["name"], key)
    assert set(by_group) >= {"latency", "full-scale", "quality", "footprint", "peers", "streaming"}
    full = {b["extra_info"]["variant"]: b["extra_info"] for b in by_group["full-scale"]
            if b["extra_info"]["kind"] == "full-scale"}
    assert full["normal"]["architecture"] == "full-scale"
    assert full["normal"]["macs"] == pytest.approx(7.7e9, rel=0.01)          # the report's width 64, whatever the budget
    assert full["normal-kd-prune-int8"]["int8_layers"] == 19
    for ei in full.values():
        assert ei["threads"] == 1 and ei["batch"] == 1 and ei["p50_ms"] > 0 and len(ei["samples_ms"]) == 6
        assert ei["p99_ms"] >= ei["p50_ms"] and ei["best_round_ms"] > 0
    lat = {b["extra_info"]["variant"]: b["extra_info"] for b in by_group["latency"]}
    assert {"normal", "normal-kd-prune-int8"} <= set(lat) and any(v.startswith("peer:") for v in lat)
    for ei in lat.values():      # one end-to-end unit for U-Nets and peers
        assert ei["ms_per_s"] > 0 and ei["rtf"] > 0 and ei["e2e_audio_seconds"] == 4.0
    qual = [b["extra_info"] for b in by_group["quality"]]
    assert {q["variant"] for q in qual} == {"normal", "normal-kd-prune-int8", "noisy"}
    for q in qual:
        n = q["n_utterances"]
        assert n == 8 and len(q["utterance_ids"]) == n
        from chvoice_core.metrics import PAUSE_IN_COLUMNS, PAUSE_OUT_COLUMNS
        assert set(q["metrics"]) == {"rms_db", "si_sdr", "pesq_wb", "stoi", "pause_frames",
                                     *PAUSE_IN_COLUMNS, *PAUSE_OUT_COLUMNS}
        assert all(len(v) == n for v in q["metrics"].values())
    ids = {tuple(q["utterance_ids"]) for q in qual}
    assert len(ids) == 1                                  # every row scored on the same utterances
    for q in qual:                                        # ... by an artifact timed in this run
        if q["variant"] != "noisy":
            assert q["artifact"] == lat[q["variant"]]["artifact"]
    fp = {b["extra_info"]["variant"]: b["extra_info"] for b in by_group["footprint"]}
    assert fp["normal-kd-prune-int8"]["size_bytes"] < fp["normal"]["size_bytes"]
    assert fp["normal"]["full_params"] == pytest.approx(13.4e6, rel=0.01)
    assert fp["normal"]["full_peak_forward_bytes"] > 0
    live = {(b["extra_info"]["variant"], b["extra_info"]["mode"]): b["extra_info"] for b in by_group["streaming"]
            if not b["extra_info"]["variant"].startswith("shipped:")}
    assert set(live) == {(v, m) for v in ("normal", "normal-kd-prune-int8")
                         for m in ("low-latency", "low-latency-hq", "no-lookahead")}
    for (v, m), ei in live.items():
        assert ei["algorithmic_latency_ms"] == pytest.approx(31.75) and ei["architecture"] == "budget-scale"
        assert ei["artifact"] == lat[v]["artifact"]
        assert ei["call_budget_ms"] == pytest.approx(1000 * 127 * ei["step_frames"] / 16000)
        assert ei["keeps_up"] == (ei["p99_ms"] < ei["call_budget_ms"])
        assert all(np.isfinite(ei[k]) for k in ("live_si_sdr", "offline_si_sdr", "noisy_si_sdr"))
    # the same model offline scores the same whatever the live mode; the live modes differ from each other
    assert len({round(ei["offline_si_sdr"], 6) for (v, _), ei in live.items() if v == "normal"}) == 1
    assert len({round(ei["live_si_sdr"], 6) for (v, _), ei in live.items() if v == "normal"}) == 3
    peers = {b["extra_info"]["peer"] for b in by_group["peers"]}
    assert peers                                          # the peers installed with the test extras ran


@pytest.mark.slow
def test_bad_options_give_one_clear_message(tmp_path, cache_dir):
    for args, msg in [(["--variants", "normal,huge"], "unknown variant huge"),
                      (["--profiles", "stormy"], "unknown profile stormy"),
                      (["--device", "tpu"], "use cpu or cuda"),
                      (["--data-root", str(tmp_path / "nowhere")], "no such folder")]:
        r = run_bench(tmp_path, cache_dir, *args, "--collect-only", timeout=120)
        assert r.returncode != 0
        assert msg in (r.stdout + r.stderr), (args, r.stdout[-1000:], r.stderr[-1000:])


def test_cuda_without_a_gpu_skips_with_a_reason(tmp_path, cache_dir):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    r = run_bench(tmp_path, cache_dir, "--device", "cuda", "--variants", "normal", "--profiles", "weighted",
                  "-k", "test_latency", "-rs", timeout=120)
    assert r.returncode == 0
    assert "--device cuda requested, but torch.cuda.is_available() is False" in r.stdout
    # every selected case skips with the reason; none runs
    assert "skipped" in r.stdout and "passed" not in r.stdout and "failed" not in r.stdout


@pytest.mark.slow
def test_user_recipes_and_onnx_runtime_rows_go_through_the_suite_and_report(tmp_path, cache_dir):
    """`pytest bench --recipes FILE`: a recipe on a table architecture and one on a user's checkpoint are built,
    timed end to end and scored like the table's rows (ONNX Runtime fp32 and int8 rows among them), and the
    report builds from the run with their rows."""
    import torch

    from chvoice_core.models import UNet, UNetConfig
    from chvoice_core.models.io import save_model
    torch.manual_seed(0)
    save_model(tmp_path / "mine.pt", UNet(UNetConfig(depth=4, base_width=8, mask=True)).eval())
    (tmp_path / "r.toml").write_text('[[recipe]]\nname = "kd-ort"\nsteps = "distil(width=16)+ort-int8"\n\n'
                                     '[[recipe]]\nname = "mine-onnx"\nsteps = "onnx"\nteacher = "mine.pt"\n'
                                     'label = "my checkpoint in ONNX Runtime"\n')
    out = tmp_path / "run.json"
    r = run_bench(tmp_path, cache_dir, "--variants", "normal,normal-ort-int8", "--profiles", "no-reverb",
                  "--recipes", str(tmp_path / "r.toml"), "-k", "test_latency or test_quality",
                  f"--benchmark-json={out}")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    run = json.loads(out.read_text())
    lat = {b["extra_info"]["variant"]: b["extra_info"] for b in run["benchmarks"] if b["group"] == "latency"}
    qual = {b["extra_info"]["variant"]: b["extra_info"] for b in run["benchmarks"] if b["group"] == "quality"}
    for v in ("normal-ort-int8", "kd-ort", "mine-onnx"):
        assert lat[v]["ms_per_s"] > 0 and qual[v]["artifact"] == lat[v]["artifact"], v
    assert lat["kd-ort"]["recipe_string"] == "distil(width=16)+ort-int8" and lat["kd-ort"]["parent"] == "normal"
    assert lat["kd-ort"]["int8_recipe"] and lat["kd-ort"]["user_recipe"] and lat["normal-ort-int8"]["int8_layers"] == 19
    assert lat["mine-onnx"]["teacher"] == str((tmp_path / "mine.pt").resolve())
    assert lat["mine-onnx"]["compression"] == "my checkpoint in ONNX Runtime" and lat["mine-onnx"]["quant"] == "onnx"
    rep = subprocess.run([sys.executable, "-m", "reports.build", "--run", str(out), "--out", str(tmp_path / "rep")], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert rep.returncode == 0, rep.stderr[-2000:]
    ext = (tmp_path / "rep" / "extended.csv").read_text()
    assert "kd-ort" in ext and "mine-onnx" in ext and "my checkpoint in ONNX Runtime" in ext


@pytest.mark.slow
def test_real_track_scores_the_shipped_models_and_the_report_opens_with_it(tmp_path, cache_dir):
    """A slice of the real track: the live parent's in-run int8 (built here, calibrated on built-in training-side
    audio) scored on all of testsets/real and timed, a peer's timing with its resampling apart, the noisy row."""
    out = tmp_path / "run.json"
    nodes = " ".join(f"bench/test_real.py::{n}" for n in (
        "test_real_quality[live-int8]", "test_real_quality[live]", "test_real_quality_noisy",
        "test_real_latency[live-int8-1t]", "test_real_latency[live-1t]", "test_real_peer_latency[1t-rnnoise]"))
    r = run_bench(tmp_path, cache_dir, "--tracks", "real", f"--benchmark-json={out}", target=nodes)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    run = json.loads(out.read_text())
    assert run["machine_info"]["chvoice"]["tracks"] == ["real"]
    qual = {b["extra_info"]["variant"]: b["extra_info"] for b in run["benchmarks"] if b["extra_info"]["kind"] == "quality"}
    lat = {b["extra_info"]["variant"]: b["extra_info"] for b in run["benchmarks"] if b["extra_info"]["kind"] == "latency"}
    from chvoice_core.data.realset import load_realset
    n = len(load_realset())
    for v in ("real:live", "real:live-int8", "noisy"):
        assert qual[v]["n_utterances"] == n and {"pesq_wb", "stoi", "si_sdr"} <= set(qual[v]["metrics"])
        # DNSMOS for the parents, peers and the input by default; the in-run int8 row only with --real-dnsmos all
        assert ("dnsmos_bak" in qual[v]["metrics"]) == (v != "real:live-int8"), v
    assert qual["real:live-int8"]["artifact"] == lat["real:live-int8"]["artifact"]      # one artifact, speed and quality
    assert qual["real:live-int8"]["parent"] == "real:live" and qual["real:live-int8"]["role"] == "in-run"
    assert qual["real:live-int8"]["quant"] == "static" and qual["real:live-int8"]["int8_layers"] > 0
    assert lat["real:live"]["threads"] == 1 and lat["real:live"]["macs_per_s"] > 1e8 and lat["real:live"]["peak_forward_bytes"] > 0
    assert lat["peer:rnnoise"]["resample_ms_per_s"] > 0 and lat["peer:rnnoise"]["native_rate"] == 48000
    rep = subprocess.run([sys.executable, "-m", "reports.build", "--run", str(out), "--out", str(tmp_path / "rep")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert rep.returncode == 0, rep.stderr[-2000:]
    import pandas as pd
    t = pd.read_csv(tmp_path / "rep" / "real_track.csv")
    md = (tmp_path / "rep" / "report.md").read_text()
    assert list(t.model[:2]) == ["live", "live-int8"]
    row = t.set_index("model").loc["live-int8"]
    lo, s1, hi = (row[f"speed-up vs fp32 parent{c}"] for c in (" CI low", " (1 thread)", " CI high"))
    assert 0 < lo <= s1 <= hi and row["items"] == n and row["PESQ-WB 95% CI"].startswith("[")
    assert row["best free deployment"] == "live" and row["speed-up vs best free deployment (1 thread)"] == s1
    assert row["kept_si_sdr_ci_low"] < row["kept % of parent's SI-SDR gain"] < row["kept_si_sdr_ci_high"]
    assert lat["real:live-int8"]["timing"] == "interleaved" and len(lat["real:live-int8"]["round_ms"]) == 10
    assert "AVX" in md.split("**cpu**:")[1].splitlines()[0] or "unknown" in md.split("**cpu**:")[1].splitlines()[0]
    assert md.index("Real track") < md.index("## Figures") and (tmp_path / "rep" / "real_pareto.png").is_file()
