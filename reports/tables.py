"""The report's Table 1 and Table 2, and the extended table, as DataFrames (missing runs show as gaps)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .load import Run, finite_mean, variant_order

METRIC_NAMES = {"rms_db": "RMS (dB)", "si_sdr": "SI-SDR (dB)", "pesq_wb": "PESQ-WB", "stoi": "STOI"}


def _mean_metric(run: Run, variant: str, profile: str, metric: str) -> float:
    q = run.quality
    if q.empty or metric not in q:
        return np.nan
    return finite_mean(q[(q.variant == variant) & (q.profile == profile)][metric])


def _latency(run: Run, variant: str, profile: str | None = None, col: str = "best_round_ms") -> float:
    lat = run.latency
    if lat.empty:
        return np.nan
    sel = lat[lat.variant == variant]
    if profile is not None:
        sel = sel[sel.profile == profile]
    return finite_mean(sel[col]) if len(sel) else np.nan


def table1(run: Run) -> pd.DataFrame:
    """Spectrogram RMS and inference time, normal vs smaller, per profile (the report's Table 1)."""
    rows = []
    for v, label in (("normal", "Normal Model"), ("smaller", "Smaller Model")):
        row = {"Model": label}
        for p in run.profiles:
            row[f"RMS {p}"] = _mean_metric(run, v, p, "rms_db")
        for p in run.profiles:
            row[f"ms {p}"] = _latency(run, v, p)
        rows.append(row)
    return pd.DataFrame(rows)


def table2(run: Run) -> pd.DataFrame:
    """Every row of the report's Table 2: RMS per profile and latency (best round, mean over profiles)."""
    from chvoice_core.compress.recipes import VARIANTS
    rows = []
    for vid, v in VARIANTS.items():
        if not v.in_report:
            continue
        row = {"Model": v.model_label, "Compression": v.compression}
        for p in run.profiles:
            row[f"RMS {p}"] = _mean_metric(run, vid, p, "rms_db")
        row["Inference ms"] = _latency(run, vid)
        rows.append(row)
    return pd.DataFrame(rows)


def extended(run: Run) -> pd.DataFrame:
    """Every variant, the noisy reference and the peers, per profile: quality, footprint, speed."""
    fp = run.footprint.set_index(["variant", "profile"]) if not run.footprint.empty else pd.DataFrame()
    noisy = {p: {m: _mean_metric(run, "noisy", p, m) for m in METRIC_NAMES} for p in run.profiles}
    meta = {}
    for df in (run.rows, run.latency):
        for r in df.itertuples() if not df.empty else []:
            meta.setdefault(r.variant, r)
    rows = []
    for p in run.profiles:
        for vid in variant_order(run):
            m = meta.get(vid)
            row = {"profile": p, "variant": vid, "recipe": getattr(m, "recipe", "-")}
            for metric, name in METRIC_NAMES.items():
                row[name] = _mean_metric(run, vid, p, metric)
            row["ΔSI-SDR (dB)"] = row["SI-SDR (dB)"] - noisy[p]["si_sdr"]
            row["ΔPESQ"] = row["PESQ-WB"] - noisy[p]["pesq_wb"]
            lat_profile = None if vid.startswith("peer:") else p   # peers are timed once, not per profile
            ms = _latency(run, vid, lat_profile)
            row["ms / 1.02 s"] = ms
            row["p99 ms"] = _latency(run, vid, lat_profile, "p99_ms")
            parent = getattr(m, "parent", None)
            parent_ms = _latency(run, parent, p) if isinstance(parent, str) else np.nan
            row["speed-up vs parent"] = parent_ms / ms if np.isfinite(parent_ms) and ms > 0 else np.nan
            key = (vid, p)
            if not fp.empty and key in fp.index:
                f = fp.loc[key]
                row.update({"params (full)": f.full_params, "MACs (full, G)": f.full_macs / 1e9,
                            "size MB (full)": f.full_size_bytes / 1e6, "size MB (trained)": f.size_bytes / 1e6,
                            "int8 layers": f.int8_layers, "peak MB": (f.full_peak_forward_bytes or np.nan) / 1e6})
            rows.append(row)
    return pd.DataFrame(rows)


def speedup_vs(run: Run, reference: str = "normal") -> pd.DataFrame:
    """Speed-up of every variant over the fp32 reference (the report's teacher), per profile, with the share
    of the reference's SI-SDR improvement that it keeps."""
    rows = []
    for p in run.profiles:
        ref_ms = _latency(run, reference, p)
        noisy = _mean_metric(run, "noisy", p, "si_sdr")
        ref_gain = _mean_metric(run, reference, p, "si_sdr") - noisy
        for vid in variant_order(run):
            if vid == "noisy" or vid.startswith("peer:"):
                continue
            ms = _latency(run, vid, p)
            gain = _mean_metric(run, vid, p, "si_sdr") - noisy
            rows.append({"profile": p, "variant": vid, "ms": ms, "speed-up": ref_ms / ms if ms else np.nan,
                         "ΔSI-SDR": gain, "kept % of reference gain": 100 * gain / ref_gain if ref_gain else np.nan})
    return pd.DataFrame(rows)


def live(run: Run) -> pd.DataFrame:
    """Live mode per variant and mode: algorithmic latency, per-call compute of the full-scale model against
    the call budget, and SI-SDR of the budget-scale model streamed vs offline (with the noisy input's)."""
    lv = run.streaming
    if lv.empty:
        return pd.DataFrame()
    order = {v: i for i, v in enumerate(variant_order(run))}
    lv = lv.assign(_o=lv.variant.map(order).fillna(len(order))).sort_values(["profile", "_o", "lookahead_frames"])
    rows = []
    for r in lv.itertuples():
        off_gain, live_gain = r.offline_si_sdr - r.noisy_si_sdr, r.live_si_sdr - r.noisy_si_sdr
        rows.append({"profile": r.profile, "variant": r.variant, "mode": r.mode, "step frames": r.step_frames,
                     "lookahead frames": r.lookahead_frames, "latency ms": r.algorithmic_latency_ms,
                     "call budget ms": r.call_budget_ms, "call p50 ms": r.p50_ms, "call p99 ms": r.p99_ms,
                     "keeps up": "yes" if r.keeps_up else "no", "utterances": r.n_utterances,
                     "ΔSI-SDR offline": off_gain, "ΔSI-SDR live": live_gain,
                     "live % of offline gain": 100 * live_gain / off_gain if off_gain else np.nan})
    return pd.DataFrame(rows)


def fmt(df: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """Numbers rounded for display; gaps (NaN) shown as an en dash."""
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].map(lambda v: "–" if not np.isfinite(v) else f"{v:.{digits}f}")
    return out.fillna("–")
