"""Read a saved pytest-benchmark run of the chvoice suite into tidy pandas tables."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


class ReportError(Exception):
    """Bad input to the report generator: printed as one line, non-zero exit."""


@dataclass
class RealTrack:
    """The real track: one row per model in `rows` (what it is), per item in `quality`, per (model, threads) in
    `latency`. Variants are 'real:<row>', 'peer:<name>' and 'noisy'; the profile column reads 'real'."""

    rows: pd.DataFrame
    quality: pd.DataFrame
    latency: pd.DataFrame


def _real_track(benchmarks: list[dict]) -> RealTrack | None:
    rows, qual, lat = [], [], []
    for b in benchmarks:
        ei = b.get("extra_info", {})
        if ei.get("track") != "real":
            continue
        base = {k: ei.get(k) for k in ("variant", "role", "real_parent", "parent", "recipe_string", "artifact",
                                       "params", "macs", "size_bytes", "quant", "int8_layers", "causal", "width",
                                       "training", "peer", "native_rate")}
        if ei.get("kind") == "quality":
            rows.append(base)
            m, ids = ei.get("metrics", {}), ei.get("utterance_ids", [])
            parts = ei.get("parts") or [None] * len(ids)
            for i, uid in enumerate(ids):
                qual.append({"variant": ei["variant"], "profile": "real", "id": uid, "speaker": ei["speakers"][i],
                             "recording": ei["recordings"][i], "part": parts[i], **{k: _num(v[i]) for k, v in m.items()}})
        elif ei.get("kind") == "latency":
            rows.append(base)
            lat.append({**base, "threads": ei.get("threads"), "ms_per_s": _num(ei.get("ms_per_s")),
                        "rtf": _num(ei.get("rtf")), "model_ms_per_tile": _num(ei.get("model_ms_per_tile")),
                        "macs_per_s": _num(ei.get("macs_per_s")), "peak_forward_bytes": _num(ei.get("peak_forward_bytes")),
                        "resample_ms_per_s": _num(ei.get("resample_ms_per_s")), "samples_ms": ei.get("samples_ms", []),
                        "calls_per_round": ei.get("calls_per_round") or 1, "profile": "real"})
    if not rows:          # every quality and latency benchmark adds its row
        return None
    return RealTrack(pd.DataFrame(rows), pd.DataFrame(qual), pd.DataFrame(lat))


@dataclass
class Run:
    path: Path
    raw: dict
    latency: pd.DataFrame      # one row per (variant, profile): end-to-end timing of the artifact the quality row scored
    full_scale: pd.DataFrame   # one row per (variant, profile): model call of the untrained full-width architecture
    quality: pd.DataFrame      # one row per (variant, profile, utterance)
    footprint: pd.DataFrame    # one row per (variant, profile)
    throughput: pd.DataFrame
    rows: pd.DataFrame         # one row per quality benchmark (variant, profile): metadata incl. loss history
    streaming: pd.DataFrame    # one row per (variant, live mode): live engine timing and quality
    real: "RealTrack | None" = None   # the real track (shipped models on the repo's real recordings), if run

    @property
    def settings(self) -> dict:
        return self.raw["machine_info"].get("chvoice", {})

    @property
    def profiles(self) -> list[str]:
        order = ["weighted", "equal", "no-reverb"]
        found = set(self.quality.get("profile", [])) | set(self.latency.get("profile", []))
        return [p for p in order if p in found] + sorted(found - set(order))


def newest_run(root: str | os.PathLike = ".benchmarks") -> Path:
    """The most recent autosaved run (pytest-benchmark: .benchmarks/<machine>/<NNNN>_<commit>_<date>.json)."""
    root = Path(root)
    runs = sorted(root.glob("*/*.json"), key=lambda p: (p.stat().st_mtime, p.name)) if root.is_dir() else []
    if not runs:
        raise ReportError(f"no benchmark runs under {root}/ (run `pytest bench --benchmark-autosave` first, "
                          f"or pass --run PATH)")
    return runs[-1]


def load_run(path: str | os.PathLike) -> Run:
    path = Path(path)
    if not path.is_file():
        raise ReportError(f"{path}: no such file")
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ReportError(f"{path}: not a JSON file ({e.__class__.__name__})") from None
    if not isinstance(raw, dict) or "benchmarks" not in raw or "machine_info" not in raw:
        raise ReportError(f"{path}: not a pytest-benchmark run (no 'benchmarks' / 'machine_info')")
    if "chvoice" not in raw["machine_info"]:
        raise ReportError(f"{path}: a pytest-benchmark run from another suite (no chvoice machine_info); "
                          f"run `pytest bench --benchmark-autosave` to make one")
    lat, full, qual, fp, thr, rows, live = [], [], [], [], [], [], []
    real = _real_track(raw["benchmarks"])
    for b in raw["benchmarks"]:
        ei = b.get("extra_info", {})
        if ei.get("track") == "real":
            continue
        kind = ei.get("kind")
        if not kind or "variant" not in ei:
            raise ReportError(f"{path}: benchmark {b.get('name')} lacks the chvoice extra_info fields "
                              f"(unknown schema)")
        base = {k: ei.get(k) for k in ("variant", "profile", "model_label", "compression", "in_report", "parent",
                                       "device", "threads", "batch", "audio_seconds_per_call")}
        base["recipe"] = ei.get("recipe_string") or " -> ".join(ei.get("recipe") or []) or "-"
        base["int8_recipe"] = bool(ei.get("int8_recipe", False))
        base["dynamic_quant"] = bool(ei.get("dynamic_quant", False))
        if kind in ("latency", "full-scale"):
            row = {**base, "group": b["group"], "best_round_ms": ei.get("best_round_ms"),
                   "p50_ms": ei.get("p50_ms"), "p90_ms": ei.get("p90_ms"), "p99_ms": ei.get("p99_ms"),
                   "samples_ms": ei.get("samples_ms", []), "params": ei.get("params"), "macs": ei.get("macs"),
                   "size_bytes": ei.get("size_bytes"), "int8_layers": ei.get("int8_layers"),
                   "calls_per_round": ei.get("calls_per_round") or 1,
                   "shared": base["profile"] is None, "artifact": ei.get("artifact"),
                   "ms_per_s": _num(ei.get("ms_per_s")), "rtf": _num(ei.get("rtf")),
                   "model_ms_per_tile": _num(ei.get("model_ms_per_tile")), "architecture": ei.get("architecture")}
            # one measurement that stands for several profiles (same architecture) becomes a row per profile
            for p in ([base["profile"]] if base["profile"] is not None else ei.get("profiles") or [None]):
                (lat if kind == "latency" else full).append({**row, "profile": p})
        elif kind == "quality":
            ids = ei.get("utterance_ids", [])
            metrics = ei.get("metrics", {})
            rows.append({**base, "group": b["group"], "loss_history": ei.get("loss_history", []),
                         "width": ei.get("width"), "stage_steps": ei.get("stage_steps"),
                         "teacher_steps": ei.get("teacher_steps"), "data": ei.get("data"),
                         "artifact": ei.get("artifact"),
                         "examples": ei.get("examples", {}), "params": ei.get("params"), "macs": ei.get("macs"),
                         "size_bytes": ei.get("size_bytes"), "int8_layers": ei.get("int8_layers"),
                         "enhance_seconds": b["stats"]["min"]})
            kinds = ei.get("noise_kinds", [None] * len(ids))
            # runs before speakers were recorded: each item is its own cluster
            speakers = ei.get("speakers") or list(ids)
            recordings = ei.get("recordings") or list(ids)
            for i, uid in enumerate(ids):
                qual.append({"variant": base["variant"], "profile": base["profile"], "id": uid, "noise": kinds[i],
                             "speaker": speakers[i], "recording": recordings[i],
                             **{m: _num(v[i]) for m, v in metrics.items()}})
        elif kind == "footprint":
            fp.append({**base, "params": ei.get("params"), "macs": ei.get("macs"), "size_bytes": ei.get("size_bytes"),
                       "int8_layers": ei.get("int8_layers"), "full_params": ei.get("full_params"),
                       "full_macs": ei.get("full_macs"), "full_size_bytes": ei.get("full_size_bytes"),
                       "full_peak_forward_bytes": ei.get("full_peak_forward_bytes"),
                       "load_ms": b["stats"]["min"] * 1000})
        elif kind == "streaming":
            live.append({**base, "mode": ei.get("mode"), "step_frames": ei.get("step_frames"),
                         "lookahead_frames": ei.get("lookahead_frames", 0),
                         "algorithmic_latency_ms": ei.get("algorithmic_latency_ms"),
                         "call_budget_ms": ei.get("call_budget_ms"), "p50_ms": ei.get("p50_ms"),
                         "p99_ms": ei.get("p99_ms"), "keeps_up": ei.get("keeps_up"),
                         "noisy_si_sdr": _num(ei.get("noisy_si_sdr")), "offline_si_sdr": _num(ei.get("offline_si_sdr")),
                         "live_si_sdr": _num(ei.get("live_si_sdr")), "n_utterances": ei.get("live_quality_utterances"),
                         "noisy_pesq_wb": _num(ei.get("noisy_pesq_wb")), "offline_pesq_wb": _num(ei.get("offline_pesq_wb")),
                         "live_pesq_wb": _num(ei.get("live_pesq_wb")), "engine": ei.get("engine"),
                         "artifact": ei.get("artifact"), "architecture": ei.get("architecture")})
        elif kind == "throughput":
            thr.append({**base, "tiles_per_second": ei.get("tiles_per_second"),
                        "realtime_factor": ei.get("realtime_factor")})
    if not lat and not qual and not full and real is None:
        raise ReportError(f"{path}: the run holds no latency or quality benchmarks")
    cols_q = ["variant", "profile", "id", "noise", "rms_db", "si_sdr", "pesq_wb", "stoi"]
    return Run(path, raw, pd.DataFrame(lat), pd.DataFrame(full), pd.DataFrame(qual, columns=None if qual else cols_q),
               pd.DataFrame(fp), pd.DataFrame(thr), pd.DataFrame(rows), pd.DataFrame(live), real)


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def variant_order(run: Run) -> list[str]:
    """The variant table's order, then peers, then anything else; the noisy reference first."""
    from chvoice_core.compress.recipes import VARIANTS
    seen = set(run.quality.get("variant", pd.Series(dtype=str))) | set(run.latency.get("variant", pd.Series(dtype=str)))
    ordered = (["noisy"] if "noisy" in seen else []) + [v for v in VARIANTS if v in seen]
    return ordered + sorted(seen - set(ordered))


def finite_mean(x) -> float:
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    return float(x.mean()) if len(x) else float("nan")
