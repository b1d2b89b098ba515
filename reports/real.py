"""The real track's table and Pareto figure: one row per model (shipped parents, their children, in-run int8, the
peers, the noisy input), quality on the repo's real recordings with speaker-clustered intervals, speed end to end at
1 thread and at all threads, footprint, the share of the parent's gain each child keeps and paired tests against
the parent."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .load import RealTrack, finite_mean
from .stats import cluster_bootstrap_ci, holm_family, kept_share_ci, paired, speedup_ci
from .tables import residual_summary

METRICS = (("pesq_wb", "PESQ-WB"), ("stoi", "STOI"), ("si_sdr", "SI-SDR (dB)"))
DNSMOS = (("dnsmos_ovrl", "DNSMOS OVRL"), ("dnsmos_sig", "DNSMOS SIG"), ("dnsmos_bak", "DNSMOS BAK"))
ROLE_ORDER = {"parent": 0, "deployment": 1, "child": 2, "in-run": 3, "peer": 4, "noisy": 5}
FAMILY = ("deployment", "child", "in-run")     # roles that have a parent
FREE_PESQ_TOLERANCE = 0.02     # a free deployment counts as "the parent" while its PESQ-WB is within this of fp32


def order(rt: RealTrack) -> list[str]:
    """Parents, then each parent's children and in-run rows, then the peers, then the noisy input."""
    r = rt.rows.drop_duplicates("variant")
    if r.empty:
        return []
    key = r.assign(_f=r.real_parent.fillna("~"), _r=r.role.map(ROLE_ORDER).fillna(9), _p=r.params.fillna(0))
    key = key.sort_values(["_f", "_r", "_p"], ascending=[True, True, False], kind="stable")
    fam_rows = [v for v in key.variant if not v.startswith("peer:") and v != "noisy"]
    return fam_rows + sorted(v for v in key.variant if v.startswith("peer:")) + [v for v in key.variant if v == "noisy"]


def _timing(rt: RealTrack, variant: str, threads: int | None, col: str) -> float:
    lat = rt.latency
    if lat.empty:
        return np.nan
    sel = lat[lat.variant == variant]
    sel = sel[sel.threads == threads] if threads is not None else sel
    return finite_mean(sel[col]) if len(sel) and col in sel else np.nan


def _rounds(rt: RealTrack, variant: str | None, threads: int) -> list[float]:
    """Per-round ms of a row at `threads` (interleaved rounds; a sequential row: its calls)."""
    lat = rt.latency
    if variant is None or lat.empty:
        return []
    sel = lat[(lat.variant == variant) & (lat.threads == threads)]
    if not len(sel):
        return []
    r = sel.iloc[0]
    rounds = r.get("round_ms") if "round_ms" in sel else None
    return list(rounds) if isinstance(rounds, list) and rounds else list(r.samples_ms)


def best_free(rt: RealTrack, parent: str) -> str:
    """The fastest of the parent's training-free deployments (the fp32 parent included) whose PESQ-WB stays within
    FREE_PESQ_TOLERANCE of the fp32 parent's, at 1 thread: what a user gets without compressing."""
    q, rows = rt.quality, rt.rows.drop_duplicates("variant")
    fp32 = f"real:{parent}"
    base = finite_mean(q[q.variant == fp32]["pesq_wb"]) if "pesq_wb" in q else np.nan
    cands = [fp32] + [v for v in rows[(rows.role == "deployment") & (rows.real_parent == parent)].variant]
    ok = [v for v in cands if v == fp32 or finite_mean(q[q.variant == v]["pesq_wb"]) >= base - FREE_PESQ_TOLERANCE]
    timed = [(ms, v) for v in ok for ms in [_timing(rt, v, 1, "ms_per_s")] if np.isfinite(ms)]
    return min(timed)[1] if timed else fp32


def _kept(q: pd.DataFrame, v: str, parent: str, col: str) -> tuple[float, float, float]:
    """Kept % of the parent's gain on `col`, with its speaker-clustered paired bootstrap interval."""
    sides = [q[(q.variant == x)].set_index("id")[col].astype(float).rename(x) for x in (v, parent, "noisy")]
    both = pd.concat(sides + [q[q.variant == v].set_index("id").speaker], axis=1, join="inner").dropna()
    if len(both) < 3:
        return np.nan, np.nan, np.nan
    return kept_share_ci(both[v].to_numpy(), both[parent].to_numpy(), both["noisy"].to_numpy(),
                         both.speaker.to_numpy())


def table(rt: RealTrack) -> pd.DataFrame:
    q, rows = rt.quality, rt.rows.drop_duplicates("variant").set_index("variant")
    threads = sorted(t for t in rt.latency.get("threads", pd.Series(dtype=float)).dropna().unique())
    most = int(threads[-1]) if threads else None
    out = []
    free_of: dict[str, str] = {}      # parent -> its best free deployment, found once per parent
    for v in order(rt):
        r = rows.loc[v]
        sel = q[q.variant == v]
        row = {"model": v.removeprefix("real:"), "role": r.role, "parent": r.real_parent if r.role in FAMILY else "",
               "recipe": r.recipe_string or "-", "params (M)": (r.params or np.nan) / 1e6,
               "GMACs / s audio": _timing(rt, v, 1, "macs_per_s") / 1e9, "MB on disk": (r.size_bytes or np.nan) / 1e6,
               "peak MB": _timing(rt, v, 1, "peak_forward_bytes") / 1e6, "items": len(sel),
               "speakers": sel.speaker.nunique() if len(sel) else 0}
        for col, name in METRICS:
            vals = sel[col].astype(float) if col in sel else pd.Series(dtype=float)
            ok = np.isfinite(vals.to_numpy())
            row[name] = finite_mean(vals)
            if ok.sum() >= 3:
                lo, hi = cluster_bootstrap_ci(vals.to_numpy()[ok], sel.speaker.to_numpy()[ok])
                row[f"{name} 95% CI"] = f"[{lo:.3f}, {hi:.3f}]"
        for col, name in DNSMOS:
            row[name] = finite_mean(sel[col]) if col in sel else np.nan
        row.update(residual_summary(sel))     # pooled pause attenuation (and DNSMOS BAK / SIG again, the same means)
        parent = f"real:{r.real_parent}" if r.role in FAMILY else None
        for col, name in (("pesq_wb", "PESQ"), ("si_sdr", "SI-SDR")):
            k, lo, hi = _kept(q, v, parent, col) if parent and col in q else (np.nan,) * 3
            row[f"kept % of parent's {name} gain"] = k
            row[f"kept_{col}_ci_low"], row[f"kept_{col}_ci_high"] = lo, hi
        ms1 = _timing(rt, v, 1, "ms_per_s")
        row["ms / s, 1 thread"] = ms1
        if most and most != 1:
            row[f"ms / s, {most} threads"] = _timing(rt, v, most, "ms_per_s")
        free = free_of.setdefault(r.real_parent, best_free(rt, r.real_parent)) if parent else None
        for label, ref in (("fp32 parent", parent), ("best free deployment", free)):
            s_, lo, hi = speedup_ci(_rounds(rt, ref, 1), _rounds(rt, v, 1)) if ref else (np.nan,) * 3
            row[f"speed-up vs {label} (1 thread)"] = s_
            row[f"speed-up vs {label} CI low"], row[f"speed-up vs {label} CI high"] = lo, hi
        row["best free deployment"] = free.removeprefix("real:") if free else ""
        row["model ms / tile (1 thread)"] = _timing(rt, v, 1, "model_ms_per_tile")
        row["resampling ms / s (in e2e)"] = _timing(rt, v, 1, "resample_ms_per_s")
        out.append(row)
    return pd.DataFrame(out)


def tests_vs_parent(rt: RealTrack) -> pd.DataFrame:
    """Each child and in-run row against its parent on every metric (paired by item, t-test over speakers), Holm
    over the family."""
    out = []
    for r in rt.rows.drop_duplicates("variant").itertuples():
        if r.role not in FAMILY:
            continue
        for col, _ in METRICS + DNSMOS:
            if col in rt.quality:
                res = paired(rt.quality, r.variant, f"real:{r.real_parent}", "real", col)
                if res:
                    out.append(res)
    return holm_family(pd.DataFrame(out))


PEERS_TESTED = ("peer:deepfilternet3", "peer:rnnoise")


def tests_vs_peers(rt: RealTrack) -> pd.DataFrame:
    """Every model of the default's family (the parent, its deployments, children and in-run rows) against
    DeepFilterNet3 and RNNoise on every metric both were scored on (paired by item), Holm over the family: what
    "beats" in the docs rests on."""
    rows = rt.rows.drop_duplicates("variant")
    peers = [p for p in PEERS_TESTED if p in set(rows.variant)]
    out = []
    for r in rows[(rows.real_parent == "default") & rows.role.isin(("parent",) + FAMILY)].itertuples():
        for peer in peers:
            for col, _ in METRICS + DNSMOS:
                if col in rt.quality:
                    res = paired(rt.quality, r.variant, peer, "real", col)
                    if res:
                        out.append(res)
    return holm_family(pd.DataFrame(out))


def pareto(rt: RealTrack, tab: pd.DataFrame, out: Path, machine: str = "") -> Path:
    """PESQ-WB against end-to-end compute (1 thread, log scale) and against size on disk; the front (no model both
    faster and better), the parents and the peers are labelled, the rest are dots the table names."""
    import matplotlib
    import matplotlib.ticker
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from .figures import save_figure
    t = tab[np.isfinite(tab["ms / s, 1 thread"].astype(float)) & np.isfinite(tab["PESQ-WB"].astype(float))]
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    noisy = tab[tab.role == "noisy"]["PESQ-WB"]
    front = _front(t)
    colors = {"parent": "tab:blue", "deployment": "tab:cyan", "child": "tab:green", "in-run": "tab:olive",
              "peer": "tab:red"}
    # a compressed row on the front says both speed-ups: over the fp32 parent and over its best free deployment
    both = [f"{m} ({a:.1f}x; {b:.1f}x beyond free)" if r in ("child", "in-run") and np.isfinite(a) and np.isfinite(b)
            else m for m, r, a, b in zip(t.model, t.role, t["speed-up vs fp32 parent (1 thread)"].astype(float),
                                         t["speed-up vs best free deployment (1 thread)"].astype(float))]
    t = t.assign(label=both)
    for ax, xcol, xlabel in ((axes[0], "ms / s, 1 thread", "ms of compute per s of audio, end to end (1 thread, batch 1; the row's ms / s, 1 thread)"),
                             (axes[1], "MB on disk", "MB on disk")):
        for role, g in t.groupby("role"):
            ax.scatter(g[xcol].astype(float), g["PESQ-WB"].astype(float), s=40, color=colors.get(role, "grey"),
                       label=role, zorder=3)
        if len(noisy):
            ax.axhline(float(noisy.iloc[0]), color="grey", ls=":", label="noisy input")
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())     # 2x10^0 3x10^0 ... crowd the axis
        ax.set_xlabel(xlabel)
        ax.set_ylabel("PESQ-WB (repo real test set)")
        ax.grid(alpha=0.3)
        # after the scale and the limits are final: the labels' boxes are laid out on screen
        _label(ax, t[t.role.isin(("parent", "peer")) | t.model.isin(front)], xcol)
    fr = t[t.model.isin(front)].sort_values("ms / s, 1 thread")
    axes[0].plot(fr["ms / s, 1 thread"].astype(float), fr["PESQ-WB"].astype(float), color="black", lw=0.8, zorder=2,
                 label="front")
    axes[0].legend(fontsize=8)
    fig.suptitle("Real track: quality against speed and size (every model; unlabelled dots are named in the table)"
                 + (f"\ntimed on {machine}" if machine else ""), fontsize=10)
    return save_figure(fig, out / "real_pareto.png")


def _label(ax, named: pd.DataFrame, xcol: str) -> None:
    """Name the points, each label at the one of four places beside its point (above right, below right, above left,
    below left) whose box, estimated in screen points, overlaps the labels placed before it least, boxes leaving the
    axes counting ten-fold (ties: the earlier place)."""
    ax.get_xlim(), ax.get_ylim()                     # autoscale now, so data -> screen is final
    inches = ax.figure.dpi_scale_trans.inverted()
    to_pts = ax.transData + inches
    frame = ax.get_window_extent().transformed(inches)
    axes_box = tuple(72 * v for v in (frame.x0, frame.y0, frame.x1, frame.y1))
    boxes: list[tuple[float, float, float, float]] = []
    for _, r in named.sort_values(xcol).iterrows():
        x, y = float(r[xcol]), float(r["PESQ-WB"])
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        px, py = to_pts.transform((x, y)) * 72
        text = r.get("label", r["model"])
        w, h = 4.6 * len(text), 9.0
        best = None
        for dx, dy in ((4, 3), (4, -12), (-4, 3), (-4, -12)):
            x0 = px + dx if dx > 0 else px + dx - w
            box = (x0, py + dy, x0 + w, py + dy + h)
            # rounded: a box inside the axes must cost 0 whatever the float noise of w computed back from its edges
            cost = round(10 * (w * h - _overlap(box, axes_box)) + sum(_overlap(box, o) for o in boxes), 3)
            if best is None or cost < best[0]:
                best = (cost, dx, dy, box)
        _, dx, dy, box = best
        boxes.append(box)
        ax.annotate(text, (x, y), fontsize=8, xytext=(dx, dy), textcoords="offset points",
                    ha="left" if dx > 0 else "right")


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Area shared by two (x0, y0, x1, y1) boxes."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def _front(t: pd.DataFrame) -> set[str]:
    """Models no other model beats on both speed (1 thread) and PESQ-WB."""
    pts = list(zip(t.model, t["ms / s, 1 thread"].astype(float), t["PESQ-WB"].astype(float)))
    return {m for m, ms, pq in pts if not any(o_ms <= ms and o_pq >= pq and (o_ms, o_pq) != (ms, pq)
                                               for _, o_ms, o_pq in pts)}
