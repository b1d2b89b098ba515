"""python -m reports.build [--run PATH] [--compare PATH] [--out DIR]

Reads one saved benchmark run (default: the newest under .benchmarks/) and writes the report's tables
(Markdown, CSV, LaTeX), figures, paired t-tests, a report.md index and a self-contained report.html."""
from __future__ import annotations

import argparse
import base64
import html
import sys
import time
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from chvoice_core.machine import describe as describe_cpu

from . import figures, real, stats, tables
from .compare import compare
from .load import ReportError, Run, load_run, newest_run, variant_order

QUALITY_METRICS = ("rms_db", "si_sdr", "pesq_wb", "stoi")


def write_table(df: pd.DataFrame, out: Path, name: str, digits: int = 2) -> str:
    """Write name.csv (full precision), name.md and name.tex; return the Markdown."""
    df.to_csv(out / f"{name}.csv", index=False)
    shown = tables.fmt(df, digits)
    md = tabulate(shown, headers="keys", tablefmt="github", showindex=False) if len(df) else "_(no rows)_"
    (out / f"{name}.md").write_text(md + "\n")
    (out / f"{name}.tex").write_text(shown.to_latex(index=False, escape=True) if len(df) else "% no rows\n")
    return md


def table_section(title: str, df: pd.DataFrame, out: Path, name: str, digits: int = 2) -> tuple[str, str, Path]:
    """(title, Markdown, CSV path) of a table written in all three formats."""
    return title, write_table(df, out, name, digits), out / f"{name}.csv"


def header(run: Run) -> dict:
    mi, s = run.raw["machine_info"], run.settings
    commit = run.raw.get("commit_info", {})
    return {"run": str(run.path), "date": run.raw.get("datetime", "?"),
            "machine": f"{mi.get('node', '?')} ({mi.get('cpu', {}).get('brand_raw', mi.get('processor', '?'))}, "
                       f"{mi.get('cpu_count', '?')} cores)",
            "device": s.get("device"), "threads": s.get("threads"), "budget": s.get("budget"), "data": s.get("data"),
            "cpu": describe_cpu(s.get("cpu")), "torch": mi.get("torch"), "commit": f"{commit.get('id', '?')[:10]}{' (dirty)' if commit.get('dirty') else ''}",
            "pretrained": _pretrained_line(mi.get("chvoice", {}).get("pretrained"))}


def _pretrained_line(pre: list[dict] | None) -> str:
    """Which stages came pretrained: shipped teachers (with their training), everything after them ran here."""
    if not pre:
        return "none: every model was trained in this run"
    by = {}
    for t in pre:
        by.setdefault((t["arch"], t.get("train_steps"), t.get("batch_size")), []).append(t["profile"])
    parts = [f"{a} teacher ({', '.join(ps)}; {st} steps x {bs} tiles)" for (a, st, bs), ps in sorted(by.items())]
    return "; ".join(parts) + " shipped pretrained; distillation, pruning, quantization and fine-tunes ran in this run"


def build(run: Run, out: Path, compare_with: Run | None = None) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    sections: list[tuple[str, str, Path | None]] = []
    figs: list[Path] = []
    hd = header(run)
    if run.real is not None:
        rt = real.table(run.real)
        sections.append(table_section(
            "Real track: the shipped models, their compressed children and the peers on the repo's real recordings "
            "(testsets/real: never-trained speakers, held-out real noise). One row is one artifact (its digest in "
            "real_track.csv): quality on every item with 95 % speaker-clustered bootstrap intervals; speed end to end "
            "(STFT, every model call with its tile overlap, iSTFT; peers: their whole path, resampling included and "
            "also shown alone), batch 1, a 4 s clip, per second of audio; kept % of the parent's gain over the noisy "
            f"input. Timed on {hd['cpu']}", rt, out, "real_track", 3))
        sections.append(table_section(
            f"Real track: each deployment and child against its parent (paired by item: the item-mean difference, its "
            f"95 % speaker-clustered bootstrap CI and speaker-clustered sign-flip p-value; Holm-corrected; "
            f"α = {stats.ALPHA})",
            real.tests_vs_parent(run.real), out, "real_ttests_vs_parent", 4))
        sections.append(table_section(
            f"Real track: the default's family against DeepFilterNet3 and RNNoise (paired by item, as above; "
            f"positive mean_diff: the model scores higher; Holm-corrected; α = {stats.ALPHA})",
            real.tests_vs_peers(run.real), out, "real_tests_vs_peers", 4))
        figs.append(real.pareto(run.real, rt, out, hd["cpu"]))
    if run.quality.empty and run.latency.empty:
        _write_index(out, hd, sections, figs)
        return {"tables": [s[0] for s in sections], "figures": [str(f) for f in figs], "compare": None,
                "variants": []}
    ext = tables.extended(run)      # also the Pareto figure's input
    nt = run.settings.get("threads") or 1
    th = f"{nt} thread{'s' if nt != 1 else ''}"     # what the run timed with (--threads), not assumed
    for name, frame, title in (
            ("proxy_rows", tables.proxy_rows(run), "Proxy track: what its models are. The report's Table 2 rows "
             "below are budget-scale proxies trained in this run or shipped as its teachers (width, parameters, "
             "training steps and data per row), scored on synthetic mixtures; the real track above measures the "
             "shipped models"),
            ("table1", tables.table1(run), "Proxy track, Table 1: spectrogram RMS (dB, vs clean) of the trained models, and the "
             "report's inference time: model call on one 1.02 s tile of the untrained full-width architecture (best "
             "round; architecture cost, not the trained models' speed)"),
            ("table2", tables.table2(run), "Proxy track, Table 2: compression rows of the report (RMS dB per profile of the trained "
             "models; full-scale architecture's model call, best round, mean over profiles)"),
            ("extended", ext, "Extended table: every variant, the noisy input and the peers. Quality and speed of a "
             "row describe one artifact (digest): ms of compute per second of audio end to end (STFT, every tile with "
             f"its overlap, iSTFT; peers: their whole path incl. resampling), {th}, batch 1, a 4 s clip; model ms / "
             "tile is the model call alone; gains over the noisy input on the utterances scored for both"),
            ("speedup", tables.speedup_vs(run), "Speed-up over the fp32 `normal` teacher (end to end, same artifacts) "
             f"and share of its SI-SDR improvement kept; timed on {hd['cpu']}"),
            ("full_scale", tables.full_scale(run), "Full-scale architecture cost (untrained, widths 64/32 with each "
             f"variant's pruning ratios and quantization; model call on one tile, {th}): the report's speed "
             "question, never divided by a trained model's quality"),
            ("live", tables.live(run), f"Live mode: per-call compute ({th}) against the call budget, and quality "
             "streamed vs offline, each row one artifact")):
        sections.append(table_section(title, frame, out, name))
    tp = stats.against_parents(run.quality, run.rows, QUALITY_METRICS) if not run.quality.empty else pd.DataFrame()
    sections.append(table_section(f"Paired tests: each variant against its uncompressed parent (utterances scored for both; "
                     f"the item-mean difference with its speaker-clustered sign-flip p-value and 95 % cluster-bootstrap "
                     f"CI (speakers resampled); Holm-corrected; α = {stats.ALPHA}; effect size dz over speakers)", tp, out,
                                  "ttests_vs_parent", 4))
    pairs = []
    models = [v for v in variant_order(run) if v != "noisy"]
    for p in run.profiles:
        df = stats.all_pairs(run.quality, models, p, "rms_db") if not run.quality.empty else pd.DataFrame()
        pairs.append(df)
    allp = pd.concat(pairs) if pairs else pd.DataFrame()
    write_table(allp, out, "ttests_all_pairs_rms", 4)
    n_sig = int(allp["significant"].sum()) if len(allp) else 0
    sections.append(("Paired tests, all pairs within a profile (spectrogram RMS)",
                     f"{len(allp)} pairs, {n_sig} significant after Holm correction at α = {stats.ALPHA}: "
                     f"see `ttests_all_pairs_rms.csv`.", None))
    lt = stats.latency_tests(run.latency) if not run.latency.empty else pd.DataFrame()
    sections.append(table_section("Latency: Welch's t-test on per-round means (end to end, same artifacts), variant vs "
                                  "parent", lt, out, "ttests_latency", 4))
    if compare_with is not None:
        cmp = compare(run, compare_with)
        sections.append(table_section(f"Changes against {compare_with.path.name} (regressions flagged)", cmp, out, "compare", 3))
    else:
        cmp = None
    figs.append(figures.fig2_losses(run, out))
    figs.append(figures.fig3_bars(run, out))
    figs.append(figures.fig_spectrograms(run, out, "environmental", 4))
    figs.append(figures.fig_spectrograms(run, out, "reverb", 5, variants=["normal", "normal-kd", "normal-kd-prune-int8"]))
    figs.append(figures.pareto(run, ext, out))
    _write_index(out, hd, sections, figs)
    return {"tables": [s[0] for s in sections], "figures": [str(f) for f in figs], "compare": cmp,
            "variants": variant_order(run)}


def _write_index(out: Path, hd: dict, sections: list[tuple[str, str, Path | None]], figs: list[Path]) -> None:
    head = "\n".join(f"- **{k}**: {v}" for k, v in hd.items())
    md = ["# chvoice benchmark report", "", head, ""]
    for title, body, _ in sections:
        md += [f"## {title}", "", body, ""]
    md += ["## Figures", ""] + [f"![{f.stem}]({f.name})" for f in figs]
    (out / "report.md").write_text("\n".join(md) + "\n")
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>chvoice benchmark report</title>",
             "<style>body{font-family:sans-serif;max-width:1400px;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;font-size:12px;margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:2px 6px;"
             "text-align:right}th{background:#eee}img{max-width:100%;margin:1em 0}</style></head><body>",
             "<h1>chvoice benchmark report</h1><ul>"]
    parts += [f"<li><b>{html.escape(k)}</b>: {html.escape(str(v))}</li>" for k, v in hd.items()]
    parts.append("</ul>")
    for title, body, csv in sections:
        parts.append(f"<h2>{html.escape(title)}</h2>")
        if csv is not None and csv.stat().st_size > 1:
            try:
                parts.append(tables.fmt(pd.read_csv(csv), 3).to_html(index=False, na_rep="–"))
            except pd.errors.EmptyDataError:
                parts.append("<p><i>(no rows)</i></p>")
        else:
            parts.append(f"<p>{html.escape(body)}</p>")
    for f in figs:
        b64 = base64.b64encode(f.read_bytes()).decode()
        parts.append(f"<h2>{html.escape(f.stem)}</h2><img alt='{f.stem}' src='data:image/png;base64,{b64}'>")
    parts.append("</body></html>")
    (out / "report.html").write_text("\n".join(parts))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m reports.build", description=__doc__.splitlines()[0])
    ap.add_argument("--run", help="a saved benchmark JSON (default: newest under --benchmarks)")
    ap.add_argument("--benchmarks", default=".benchmarks", help="folder of autosaved runs")
    ap.add_argument("--compare", help="a second run to compare against; exit 3 when a regression passes a threshold")
    ap.add_argument("--out", default="reports/out")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    try:
        run = load_run(a.run or newest_run(a.benchmarks))
        other = load_run(a.compare) if a.compare else None
        res = build(run, Path(a.out), other)
    except ReportError as e:
        print(f"reports: error: {e}", file=sys.stderr)
        return 2
    print(f"report for {run.path} written to {a.out}/report.md and report.html in {time.perf_counter() - t0:.1f} s")
    cmp = res["compare"]
    if cmp is not None and len(cmp) and cmp["regression"].any():
        bad = cmp[cmp.regression]
        print(f"reports: {len(bad)} regression(s) against {other.path.name}:", file=sys.stderr)
        for r in bad.itertuples():
            print(f"  {r.kind} {r.variant} {r.profile} {r.metric}: {r.old:.3f} -> {r.new:.3f}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
