"""The model subcommands: `compress`, `quantize`, `zoo` (its real children too), `export`, `variants`, `serve`."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..audio_io import atomic_path
from ..budgets import get_budget
from ..compress.artifact import load_artifact, load_float_model, save_artifact
from ..compress.quantize import int8_layers
from ..compress.real import REAL_CHILDREN, get_child
from ..compress.recipes import VARIANTS, get_variant, load_recipes, user_variant
from ..compress.steps import STEPS, make_step, step_kind
from ..data import DataConfig, get_profile
from ..data.profiles import REPORT_PROFILES
from ..data.sources import default_cache_dir
from ..errors import ChvoiceError
from ..onnx_step import available, export_model
from ..realzoo import build_children
from ..zoo import Zoo
from .common import data_config, load_denoiser


def cmd_compress(a: argparse.Namespace) -> int:
    """Build a variant of the table, or a user recipe (--recipe, from --teacher or --arch), and write it."""
    import shutil

    if (a.variant is None) == (a.recipe is None):
        raise ChvoiceError("give a variant id (see `chvoice variants`) or --recipe STEPS, not both")
    if a.recipe is not None:
        variant = user_variant(a.name, a.recipe, a.arch, a.teacher)
    else:
        if a.teacher:
            raise ChvoiceError("--teacher goes with --recipe (a variant of the table trains its own teacher)")
        variant = get_variant(a.variant)
    get_profile(a.profile)
    out = Path(a.out)
    if out.suffix != ".pt":
        raise ChvoiceError(f"--out {out}: use a .pt file name")
    cache = Path(a.cache_dir) if a.cache_dir else default_cache_dir()
    zoo = Zoo(get_budget(a.budget), data_config(a), cache_dir=cache, device=a.device, progress=not a.quiet,
              build_threads=a.threads or None, extra_variants=(variant,) if a.recipe is not None else ())
    e = zoo.entry(variant.id, a.profile)
    with atomic_path(out) as tmp:
        shutil.copyfile(e.path, tmp)
    print(json.dumps({"variant": variant.id, "profile": a.profile, "budget": a.budget, "out": str(out),
                      "recipe": variant.recipe, "teacher": variant.teacher, "params": e.meta["params"],
                      "macs": e.meta["macs"], "size_bytes": out.stat().st_size, "quant": e.meta.get("quant"),
                      "int8_layers": len(e.meta["int8_layers"]), "float_convs": len(e.meta["float_convs"])}))
    return 0


def cmd_zoo(a: argparse.Namespace) -> int:
    """Build (part of) the model zoo into a cache folder: `--shard i/n` for one node of many."""

    if a.real:
        return _zoo_real(a)
    if a.ship or a.children:
        raise ChvoiceError("--ship and --children go with --real")
    recipes = tuple(load_recipes(a.recipes)) if a.recipes else ()
    variants = [v.strip() for v in a.variants.split(",")] if a.variants else list(VARIANTS)
    profiles = [p.strip() for p in a.profiles.split(",")] if a.profiles else list(REPORT_PROFILES)
    for v in variants:
        get_variant(v)
    variants += [r.id for r in recipes]
    for p in profiles:
        get_profile(p)
    i, n = _shard_arg(a.shard)
    # the benchmark suite reads the zoo from <cache>/bench (see bench/conftest.py)
    cache = Path(a.cache_dir) if a.cache_dir else default_cache_dir()
    # the data config the benchmark suite uses (--data-root only), so shards land where the suite looks
    zoo = Zoo(get_budget(a.budget), DataConfig(data_root=a.data_root), cache_dir=cache / "bench", device=a.device,
              progress=not a.quiet, build_threads=a.threads, extra_variants=recipes)
    done = zoo.build_shard(variants, profiles, i, n, log=None if a.quiet else print)
    print(json.dumps({"shard": f"{i}/{n}", "built": [f"{v}@{p}" for v, p in done], "cache": str(cache)}))
    return 0


def _shard_arg(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ChvoiceError(f"--shard {text}: use i/n, e.g. 1/4") from None
    return i, n


def _zoo_real(a: argparse.Namespace) -> int:
    """The real track's trained children, one a shard, resumable; --ship copies them into the package."""

    if a.variants or a.profiles or a.recipes or a.budget != "quick":
        raise ChvoiceError("--real builds the registered real children (--children); --variants, --profiles, "
                           "--recipes and --budget are the proxy zoo's")
    children = ([get_child(c.strip()) for c in a.children.split(",") if c.strip()] if a.children
                else list(REAL_CHILDREN.values()))
    i, n = _shard_arg(a.shard)
    cache = Path(a.cache_dir) if a.cache_dir else default_cache_dir()
    rows = build_children(children, a.data_root, cache, i, n, device=a.device, threads=a.threads, ship=a.ship,
                          progress=not a.quiet, log=None if a.quiet else print)
    print(json.dumps({"shard": f"{i}/{n}", "children": rows}))
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    if not available():
        raise ChvoiceError("ONNX export needs onnx and onnxruntime (pip install 'chvoice[live]')")
    if Path(a.out).suffix != ".onnx":
        raise ChvoiceError(f"-o {a.out}: use a .onnx file name")
    model, meta = load_artifact(a.model)
    desc = export_model(model, a.out)
    print(json.dumps({"model": a.model, "out": a.out, **desc, "size_bytes": Path(a.out).stat().st_size}))
    return 0


def cmd_variants(a: argparse.Namespace) -> int:
    from tabulate import tabulate

    if a.steps:
        from dataclasses import fields

        rows = [(k.name, k.label, ", ".join(f"{f.name}={f.default!r}" for f in fields(k.config)) or "-")
                for k in STEPS.values()]
        print(tabulate(rows, headers=["step", "what", "parameters (defaults)"], tablefmt="github"))
        return 0
    rows = [(v.id, v.model_label, v.compression, "yes" if v.in_report else "new", v.arch, v.recipe)
            for v in VARIANTS.values()]
    print(tabulate(rows, headers=["variant", "model", "compression", "in report", "parent", "recipe"],
                   tablefmt="github"))
    return 0


def cmd_quantize(a: argparse.Namespace) -> int:
    """One final compression step (int8, dynamic, pt2e, onnx, ort-int8, ...) applied to a float model file."""

    model, meta = load_float_model(a.model, str(a.model), "quantization calibrates on dB tiles only (not yet for "
                                                         "phase-aware models)")
    from dataclasses import fields
    kind = step_kind(a.mode)
    if not kind.final:
        raise ChvoiceError(f"--mode {a.mode}: not a quantization/export step (chvoice compress --recipe trains)")
    tiles = {"calibration_tiles": a.calibration_tiles} if a.calibration_tiles is not None else {}
    if tiles and "calibration_tiles" not in {f.name for f in fields(kind.config)}:
        raise ChvoiceError(f"--calibration-tiles: the {kind.name} step is not calibrated")
    step = make_step(kind.name, **tiles)
    zoo = Zoo(get_budget("quick"), data_config(a), cache_dir=Path(a.cache_dir) if a.cache_dir else default_cache_dir())
    q, quant, extra = zoo.apply_step(step, model, a.profile)
    keep = {k: v for k, v in meta.items() if k not in ("config", "quant", "size_bytes")}
    size = save_artifact(a.out, q, meta["config"], quant, {**keep, "quantized_from": str(a.model),
                                                          "int8_layers": int8_layers(q), "recipe": extra["recipe"]})
    print(json.dumps({"out": a.out, "quant": quant, "int8_layers": len(int8_layers(q)), "size_bytes": size}))
    return 0


def cmd_serve(a: argparse.Namespace) -> int:
    import signal

    from ..web import create_app  # Flask: imported only by the command that serves
    den = load_denoiser(a.model)

    def on_term(signum, frame):   # SIGTERM (systemd, docker stop, kill) cleans up like Ctrl-C
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, on_term)
    app = create_app(den, max_upload_mb=a.max_upload_mb, workers=a.workers, max_queue=a.max_queue)
    print(f"chvoice web app on http://{a.host}:{a.port}/ (model {den.name}); Ctrl-C to stop", file=sys.stderr)
    app.run(host=a.host, port=a.port, threaded=True)
    return 0
