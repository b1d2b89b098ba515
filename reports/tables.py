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


def _gain(run: Run, variant: str, profile: str, metric: str, reference: str = "noisy") -> float:
    """Mean of metric(variant) - metric(reference) over the utterances scored (finite) for both."""
    q = run.quality
    if q.empty or metric not in q:
        return np.nan
    from .stats import paired_frame
    both = paired_frame(q, variant, reference, profile, metric)
    return float((both.x.astype(float) - both.y.astype(float)).mean()) if len(both) else np.nan


def residual_summary(q: pd.DataFrame | None) -> dict[str, float]:
    """Pooled pause attenuation (the least over 0-1 and over 1-8 kHz) and DNSMOS BAK / SIG means of a row's
    utterances, where the run scored them."""
    from chvoice_core.metrics import PAUSE_IN_COLUMNS, pooled_pause_attenuation
    out: dict[str, float] = {}
    if q is None or q.empty:
        return out
    if set(PAUSE_IN_COLUMNS) <= set(q.columns):
        att = pooled_pause_attenuation(q)
        out["pause att <1k (dB)"], out["pause att >1k (dB)"] = att["pause_att_min_0-1k"], att["pause_att_min_1-8k"]
    for col, name in (("dnsmos_bak", "DNSMOS BAK"), ("dnsmos_sig", "DNSMOS SIG")):
        if col in q:
            out[name] = finite_mean(q[col])
    return out


def _nan_count(run: Run, variant: str, profile: str, metric: str) -> float:
    q = run.quality
    if q.empty or metric not in q:
        return np.nan
    sel = q[(q.variant == variant) & (q.profile == profile)][metric].astype(float)
    return float((~np.isfinite(sel)).sum()) if len(sel) else np.nan


def plain_label(run: Run, variant: str) -> str:
    """The variant's compression label, saying when 'quantization' left every layer in float (dynamic int8
    quantizes Linear/RNN layers only; a U-Net has none)."""
    from chvoice_core.compress.recipes import VARIANTS
    from chvoice_core.compress.steps import dynamic_only
    v = VARIANTS.get(variant)
    label, dynamic = (v.compression, dynamic_only(v.steps)) if v else (variant, False)
    for df in ([] if v else (run.rows, run.latency)):     # user recipes: as the run recorded them
        if not df.empty and "compression" in df:
            sel = df[df.variant == variant]
            if len(sel):
                label = sel.compression.iloc[0] or variant
                dynamic = bool(sel.get("dynamic_quant", pd.Series([False])).iloc[0])
                break
    if dynamic:
        n = _first(run, variant, "int8_layers")
        if n is not None and np.isfinite(n):
            label += f" (dynamic: {int(n)} int8 layers{', runs in fp32' if int(n) == 0 else ''})"
    return label


def _first(run: Run, variant: str, col: str):
    for df in (run.rows, run.latency, run.full_scale):
        if not df.empty and col in df:
            sel = df[df.variant == variant][col].dropna()
            if len(sel):
                return float(sel.iloc[0])
    return None


def _latency(run: Run, variant: str, profile: str | None = None, col: str = "ms_per_s") -> float:
    """A timing figure of the artifact the quality rows scored (end to end unless col says otherwise)."""
    return _timing(run.latency, variant, profile, col)


def _full_scale(run: Run, variant: str, profile: str | None = None, col: str = "best_round_ms") -> float:
    """Model-call time of the untrained full-width architecture (the report's Tables 1 and 2)."""
    return _timing(run.full_scale, variant, profile, col)


def _timing(lat: pd.DataFrame, variant: str, profile: str | None, col: str) -> float:
    if lat.empty or col not in lat:
        return np.nan
    sel = lat[lat.variant == variant]
    if profile is not None:
        sel = sel[sel.profile == profile]
    return finite_mean(sel[col]) if len(sel) else np.nan


def _by_variant(run: Run, frame: pd.DataFrame):
    """(variant id, its rows of `frame`) in the variant table's order, for the variants that have rows."""
    for vid in variant_order(run) if not frame.empty else ():
        sel = frame[frame.variant == vid]
        if not sel.empty:
            yield vid, sel


def proxy_rows(run: Run) -> pd.DataFrame:
    """What each proxy-track model is: base width, parameters, the steps of its last training stage, its teacher's
    training steps, and the data it was trained on (first profile's artifact; other profiles train alike)."""
    out = []
    for vid, sel in _by_variant(run, run.rows):
        if vid == "noisy" or vid.startswith("peer:"):
            continue
        r = sel.iloc[0]
        out.append({"variant": vid, "label": plain_label(run, vid), "width": r.get("width"), "params": r.get("params"),
                    "last stage steps": r.get("stage_steps"), "teacher steps": r.get("teacher_steps"),
                    "data": r.get("data"), "kind": "proxy (budget-scale)"})
    return pd.DataFrame(out)


def table1(run: Run) -> pd.DataFrame:
    """Spectrogram RMS of the trained models and the report's inference time (model call on one tile of the
    untrained full-width architecture), normal vs smaller, per profile (the report's Table 1). The two kinds of
    column describe different models and are never divided."""
    rows = []
    for v, label in (("normal", "Normal Model"), ("smaller", "Smaller Model")):
        row = {"Model": label}
        for p in run.profiles:
            row[f"RMS {p}"] = _mean_metric(run, v, p, "rms_db")
        for p in run.profiles:
            row[f"full-scale ms/tile {p}"] = _full_scale(run, v, p)
        rows.append(row)
    return pd.DataFrame(rows)


def table2(run: Run) -> pd.DataFrame:
    """Every row of the report's Table 2: RMS per profile (trained models) and the full-scale architecture's
    model-call time (best round, mean over profiles)."""
    from chvoice_core.compress.recipes import VARIANTS
    rows = []
    for vid, v in VARIANTS.items():
        if not v.in_report:
            continue
        row = {"Model": v.model_label, "Compression": plain_label(run, vid)}
        for p in run.profiles:
            row[f"RMS {p}"] = _mean_metric(run, vid, p, "rms_db")
        row["full-scale ms/tile"] = _full_scale(run, vid)
        rows.append(row)
    return pd.DataFrame(rows)


def extended(run: Run) -> pd.DataFrame:
    """Every variant, the noisy reference and the peers, per profile: quality, footprint, speed."""
    fp = run.footprint.set_index(["variant", "profile"]) if not run.footprint.empty else pd.DataFrame()
    meta = {}
    for df in (run.rows, run.latency):
        for r in df.itertuples() if not df.empty else []:
            meta.setdefault(r.variant, r)
    rows = []
    for p in run.profiles:
        for vid in variant_order(run):
            m = meta.get(vid)
            row = {"profile": p, "variant": vid, "label": plain_label(run, vid) if not vid.startswith("peer:") else vid,
                   "recipe": getattr(m, "recipe", "-"), "artifact": _artifact(run, vid, p)}
            q = run.quality[(run.quality.variant == vid) & (run.quality.profile == p)] if not run.quality.empty else None
            row["utterances"] = len(q) if q is not None else 0
            if q is not None and "speaker" in q:
                row["speakers"] = q.speaker.nunique()
                row["recordings"] = q.recording.nunique()
            for metric, name in METRIC_NAMES.items():
                row[name] = _mean_metric(run, vid, p, metric)
            row["NaN PESQ"] = _nan_count(run, vid, p, "pesq_wb")
            # gains over the noisy input on the utterances scored for both
            row["ΔSI-SDR (dB)"] = _gain(run, vid, p, "si_sdr") if vid != "noisy" else 0.0
            row["ΔPESQ"] = _gain(run, vid, p, "pesq_wb") if vid != "noisy" else 0.0
            row.update(residual_summary(q))
            lat_profile = None if vid.startswith("peer:") else p   # peers are timed once, not per profile
            ms = _latency(run, vid, lat_profile)
            row["ms / s (e2e)"] = ms
            row["RTF"] = _latency(run, vid, lat_profile, "rtf")
            row["model ms / tile"] = _latency(run, vid, lat_profile, "model_ms_per_tile")
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


def _artifact(run: Run, variant: str, profile: str) -> str:
    for df in (run.rows, run.latency):
        if not df.empty and "artifact" in df:
            sel = df[(df.variant == variant) & ((df.profile == profile) | df.profile.isna())]["artifact"].dropna()
            if len(sel):
                return str(sel.iloc[0])
    return "-"


def speedup_vs(run: Run, reference: str = "normal") -> pd.DataFrame:
    """Speed-up of every variant over the fp32 reference (the report's teacher), per profile, with the share
    of the reference's SI-SDR improvement that it keeps. Speed and quality of a row come from one artifact (its
    digest): end-to-end compute per second of audio, and SI-SDR gain over the utterances scored for both."""
    rows = []
    for p in run.profiles:
        ref_ms = _latency(run, reference, p)
        ref_gain = _gain(run, reference, p, "si_sdr")
        for vid in variant_order(run):
            if vid == "noisy" or vid.startswith("peer:"):
                continue
            ms = _latency(run, vid, p)
            gain = _gain(run, vid, p, "si_sdr")
            rows.append({"profile": p, "variant": vid, "artifact": _artifact(run, vid, p), "ms / s (e2e)": ms,
                         "speed-up": ref_ms / ms if ms else np.nan, "ΔSI-SDR": gain,
                         "kept % of reference gain": 100 * gain / ref_gain if ref_gain else np.nan})
    return pd.DataFrame(rows)


def full_scale(run: Run) -> pd.DataFrame:
    """The report's architecture cost: every variant's full-width twin (untrained), model call on one tile."""
    if run.full_scale.empty:
        return pd.DataFrame()
    rows = []
    for vid, sel in _by_variant(run, run.full_scale):
        for p, g in sel.groupby(sel.profile.fillna("all"), sort=False):
            r = g.iloc[0]
            rows.append({"variant": vid, "label": plain_label(run, vid), "profile": p if not r.shared else "all",
                         "best round ms / tile": r.best_round_ms, "p99 ms": r.p99_ms, "params": r.params,
                         "MACs (G)": r.macs / 1e9 if r.macs else np.nan, "int8 layers": r.int8_layers})
    return pd.DataFrame(rows).drop_duplicates(["variant", "profile"])


def live(run: Run) -> pd.DataFrame:
    """Live mode per model and mode: algorithmic latency, per-call compute against the call budget, and SI-SDR /
    PESQ streamed vs offline, all of one artifact (zoo variants at the run's budget, and the shipped models)."""
    lv = run.streaming
    if lv.empty:
        return pd.DataFrame()
    order = {v: i for i, v in enumerate(variant_order(run))}
    lv = lv.assign(_o=lv.variant.map(order).fillna(len(order))).sort_values(["profile", "_o", "lookahead_frames"])
    rows = []
    for r in lv.itertuples():
        off_gain, live_gain = r.offline_si_sdr - r.noisy_si_sdr, r.live_si_sdr - r.noisy_si_sdr
        rows.append({"profile": r.profile, "variant": r.variant, "artifact": getattr(r, "artifact", None),
                     "engine": getattr(r, "engine", None), "mode": r.mode, "step frames": r.step_frames,
                     "lookahead frames": r.lookahead_frames, "latency ms": r.algorithmic_latency_ms,
                     "call budget ms": r.call_budget_ms, "call p50 ms": r.p50_ms, "call p99 ms": r.p99_ms,
                     "keeps up": "yes" if r.keeps_up else "no", "utterances": r.n_utterances,
                     "ΔSI-SDR offline": off_gain, "ΔSI-SDR live": live_gain,
                     "live % of offline gain": 100 * live_gain / off_gain if off_gain else np.nan,
                     "PESQ offline": getattr(r, "offline_pesq_wb", np.nan), "PESQ live": getattr(r, "live_pesq_wb", np.nan)})
    return pd.DataFrame(rows)


def fmt(df: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """Numbers rounded for display; gaps (NaN) shown as an en dash."""
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].map(lambda v: "–" if not np.isfinite(v) else f"{v:.{digits}f}")
    return out.fillna("–")
