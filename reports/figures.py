"""The report's figures (2-5) and a Pareto plot, as PNG files."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .load import Run, variant_order  # noqa: E402

sns.set_theme(style="whitegrid", context="paper")


def _threads(lat) -> str:
    """The thread counts the timed rows ran with, as the run recorded them (not assumed)."""
    t = sorted({int(x) for x in lat.get("threads", []) if x == x}) if len(lat) else []
    return "threads: ?" if not t else f"{t[0]} thread{'s' if t[0] > 1 else ''}" if len(t) == 1 else \
        "threads: " + ", ".join(map(str, t))


def save_figure(fig, path: Path) -> Path:
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def _gap(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_xticks([])
    ax.set_yticks([])


def fig2_losses(run: Run, out: Path) -> Path:
    """Training loss per model (parents and the distilled student), one panel per profile."""
    profiles = run.profiles
    fig, axes = plt.subplots(1, len(profiles), figsize=(4.2 * len(profiles), 3.2), squeeze=False, sharey=True)
    wanted = ["normal", "smaller", "normal-kd"]
    for ax, p in zip(axes[0], profiles):
        rows = run.rows[(run.rows.profile == p) & run.rows.variant.isin(wanted)] if not run.rows.empty else run.rows
        drawn = 0
        for r in rows.itertuples():
            h = np.asarray(r.loss_history, dtype=float)
            if len(h) < 2:
                continue
            k = max(1, len(h) // 20)
            smooth = np.convolve(h, np.ones(k) / k, mode="valid")
            ax.plot(np.arange(len(smooth)) + k, smooth, label=r.variant)
            drawn += 1
        if drawn:
            ax.set_xlabel("training step")
            ax.legend(fontsize=7)
        else:
            _gap(ax, "no loss history in this run")
        ax.set_title(f"profile: {p}")
    axes[0][0].set_ylabel("MSE on dB tiles (dB²)")
    fig.suptitle("Figure 2: training loss (moving average)")
    return save_figure(fig, out / "fig2_training_loss.png")


def fig3_bars(run: Run, out: Path) -> Path:
    """Mean spectrogram RMS (95 % bootstrap CI over utterances) and latency per variant."""
    order = [v for v in variant_order(run) if not v.startswith("peer:")]
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(max(8, 0.55 * len(order)), 7.5), sharex=True)
    q = run.quality[run.quality.variant.isin(order)] if not run.quality.empty else run.quality
    if q.empty:
        _gap(a1, "no quality results")
    else:
        sns.barplot(q, x="variant", y="rms_db", hue="profile", order=order, errorbar=("ci", 95), ax=a1,
                    hue_order=run.profiles)
        a1.set_ylabel("spectrogram RMS vs clean (dB)\nlower is better")
        a1.legend(title="profile", fontsize=7)
    lat = run.latency[run.latency.variant.isin(order)] if not run.latency.empty else run.latency
    if lat.empty or "ms_per_s" not in lat:
        _gap(a2, "no latency results")
    else:
        long = lat.explode("samples_ms").astype({"samples_ms": float})
        long["ms_per_s_call"] = long.samples_ms / long.audio_seconds_per_call.astype(float)
        sns.barplot(long, x="variant", y="ms_per_s_call", hue="profile", order=order, estimator="median",
                    errorbar=("pi", 90), ax=a2,
                    hue_order=run.profiles)
        a2.set_yscale("log")
        a2.set_ylabel(f"ms of compute per s of audio, end to end\n(same artifacts as above; {_threads(lat)}; log scale;\n"
                      "bars: median, whiskers: 5-95 % of calls)")
        a2.legend(title="profile", fontsize=7)
    a2.set_xlabel("variant")
    a2.tick_params(axis="x", rotation=60)
    for lbl in a2.get_xticklabels():
        lbl.set_ha("right")
    fig.suptitle("Figure 3: denoising error and inference time per variant")
    return save_figure(fig, out / "fig3_rms_latency.png")


def _spec_db(path: str) -> np.ndarray | None:
    import torch

    from chvoice_core.audio_io import read_audio
    from chvoice_core.dsp import FrontEnd, analyse
    try:
        x, _ = read_audio(path, validate=False)
    except Exception:
        return None
    db, _ = analyse(torch.from_numpy(x), FrontEnd())
    return db.numpy()


def fig_spectrograms(run: Run, out: Path, kind: str, number: int, variants: list[str] | None = None) -> Path:
    """Spectrograms of one test clip of `kind` (environmental or reverb): noisy, clean, each model's output."""
    p = run.profiles[0] if run.profiles else None
    rows = run.rows[(run.rows.profile == p)] if not run.rows.empty else run.rows
    panels: list[tuple[str, str]] = []
    for r in rows.itertuples():
        ex = (r.examples or {}).get(kind)
        if not ex:
            continue
        if not panels:
            panels += [("noisy", ex["noisy"]), ("clean", ex["clean"])]
        if r.variant != "noisy" and (variants is None or r.variant in variants):
            panels.append((r.variant, ex["output"]))
    n = max(1, len(panels))
    cols = min(4, n)
    nrows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(3.4 * cols, 2.8 * nrows), squeeze=False, layout="constrained")
    specs = [(name, _spec_db(path)) for name, path in panels]
    vmax = max([s.max() for _, s in specs if s is not None], default=0)
    im = None
    for ax, (name, s) in zip(axes.flat, specs):
        if s is None:
            _gap(ax, f"{name}: audio file missing")
        else:
            t = s.shape[1] * 127 / 16000
            im = ax.imshow(s, origin="lower", aspect="auto", cmap="magma", vmin=vmax - 80, vmax=vmax,
                           extent=(0, t, 0, 8))
            ax.grid(False)      # the theme's grid would be drawn over the image
            ax.set_xlabel("time (s)")
            ax.set_ylabel("frequency (kHz)")
        ax.set_title(name, fontsize=8)
    for ax in list(axes.flat)[len(specs):]:
        ax.axis("off")
    if not specs:
        _gap(axes[0][0], f"no {kind} example clip in this run")
    elif im is not None:
        fig.colorbar(im, ax=axes, shrink=0.6, label="dB")
    label = "environmental noise" if kind == "environmental" else "reverb"
    fig.suptitle(f"Figure {number}: spectrograms of a test clip with {label} (profile {p})")
    return save_figure(fig, out / f"fig{number}_spectrograms_{kind}.png")


def _live_points(run: Run, profile: str) -> pd.DataFrame:
    """Live rows of a profile as Pareto points: per-call p50 over the audio one call covers (ms per s), and the
    live SI-SDR gain over the noisy input (on the live benchmark's utterances, a subset of the test set)."""
    lv = run.streaming
    if lv.empty:
        return pd.DataFrame(columns=["name", "x", "y"])
    lv = lv[(lv.profile == profile) & lv.p50_ms.notna() & lv.live_si_sdr.notna() & lv["mode"].isin(["low-latency", "causal"])]
    return pd.DataFrame({"name": [f"{v} ({m})".replace("shipped:", "") for v, m in zip(lv.variant, lv["mode"])],
                         "x": 1000 * lv.p50_ms / lv.call_budget_ms, "y": lv.live_si_sdr - lv.noisy_si_sdr})


def _int8_variants(run: Run) -> set[str]:
    """Variants whose recipe ends in an int8 step (as the suite recorded it)."""
    out = set()
    for df in (run.rows, run.latency):
        if not df.empty and "int8_recipe" in df:
            out |= set(df[df.int8_recipe.astype(bool)].variant)
    return out


def pareto(run: Run, table: pd.DataFrame, out: Path) -> Path:
    """Quality (ΔSI-SDR over the noisy input) against end-to-end compute per second of audio, both of one
    artifact per point; marker area = size on disk of that artifact; peers (whose size is not known) as crosses."""
    profiles = run.profiles
    fig, axes = plt.subplots(1, len(profiles), figsize=(5.4 * len(profiles), 4.4), squeeze=False, sharey=True)
    xcol, ycol = "ms / s (e2e)", "ΔSI-SDR (dB)"
    for ax, p in zip(axes[0], profiles):
        t = table[(table.profile == p) & (table.variant != "noisy")].dropna(subset=[xcol, ycol])
        if t.empty:
            _gap(ax, "no results")
            continue
        peers = t[t.variant.str.startswith("peer:")]
        models = t[~t.variant.str.startswith("peer:")]
        if len(models):
            size = 10 * models["size MB (trained)"] if "size MB (trained)" in models else pd.Series(1.0, index=models.index)
            int8 = models.variant.isin(_int8_variants(run))
            for mask, colour, label in ((~int8, "tab:blue", "float32"), (int8, "tab:orange", "int8 kernels")):
                m = models[mask]
                if len(m):
                    ax.scatter(m[xcol], m[ycol], s=20 + 8 * size[mask].fillna(1.0), c=colour, alpha=0.7,
                               edgecolors="k", linewidths=0.5, label=f"U-Net, {label}")
        if len(peers):
            ax.scatter(peers[xcol], peers[ycol], marker="X", s=70, c="tab:green", label="peer denoiser")
        for name, x, y in zip(t.variant, t[xcol], t[ycol]):
            ax.annotate(name.replace("peer:", ""), (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
        lv = _live_points(run, p)
        if len(lv):   # streamed models: compute per second of audio of the live engine, live SI-SDR gain
            ax.scatter(lv.x, lv.y, marker="D", s=40, c="tab:purple", edgecolors="k", linewidths=0.5,
                       label="streamed (live engine)")
            for name, x, y in zip(lv.name, lv.x, lv.y):
                ax.annotate(name, (x, y), fontsize=6, xytext=(3, -8), textcoords="offset points", color="tab:purple")
        ax.set_xscale("log")
        ax.set_xlabel(f"ms of compute per s of audio, end to end ({_threads(run.latency)}, log scale)")
        ax.set_title(f"profile: {p}")
        ax.legend(fontsize=7, loc="lower right")
    axes[0][0].set_ylabel("SI-SDR improvement over noisy input (dB)")
    fig.suptitle("Quality against end-to-end compute, one artifact per point (marker area grows with its size on disk)")
    return save_figure(fig, out / "pareto.png")
