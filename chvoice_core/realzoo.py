"""Build the real track's trained children (compress.real.REAL_CHILDREN) from the shipped parents, and ship them.

One child a shard (`--shard i/n`): a Slurm array or a Kubernetes indexed Job runs `chvoice zoo --real --shard
$((i+1))/N --ship` per index against one shared cache, and each child's training checkpoints under that cache, so
a job that is cut off resumes where it stopped. The cache entry is the zoo's (stamped; the same command finds it
again); `ship` copies it into the package with fp16 storage and a meta that names the parent file's digest, the
recipe and the training record (steps, batch, learning rate, data, wall time, machine)."""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from .audio_io import atomic_path
from .budgets import get_budget
from .compress.artifact import load_float_model, save_artifact
from .compress.real import (CHEAP_STEPS, REAL_PARENTS, REAL_PROFILE, RealChild, file_digest, free_deployments,
                            get_child, parent_path, shard, shipped_children)
from .compress.steps import Overlap, kind_of, parse_recipe, runs_int8, slug, to_recipe
from .data import DataConfig
from .machine import cpu_facts, describe
from .models.footprint import count_macs, count_params
from .models.io import fp16_storage, read_checkpoint
from .version import CODE_VERSION
from .zoo import Zoo

TRAINING_KEYS = ("train_steps", "train_seconds", "loss", "prune_log", "prune_config", "distilled", "student_width",
                 "lr", "params", "macs", "build_seconds", "base", "base_training")


def real_zoo(data_root: str | None, cache_dir: Path, device: str = "cpu", threads: int = 0,
             progress: bool = True, children: list[RealChild] | None = None) -> Zoo:
    """The zoo that builds real children: budget `real`, the real data under `data_root`."""
    return Zoo(get_budget("real"), DataConfig(data_root=data_root), cache_dir=cache_dir, device=device,
               progress=progress, build_threads=threads, extra_variants=tuple(c.variant() for c in children or []))


def build_children(children: list[RealChild], data_root: str | None, cache_dir: Path, index: int = 1, count: int = 1,
                   device: str = "cpu", threads: int = 0, ship: bool = False, progress: bool = True,
                   log: Callable[[str], None] | None = print) -> list[dict]:
    """Build shard index/count of `children` (resuming any interrupted training) and optionally ship each.
    -> one summary dict per child of the shard."""
    mine = shard(children, index, count)
    zoo = real_zoo(data_root, cache_dir, device, threads, progress, mine)
    out = []
    for child in mine:
        t0 = time.perf_counter()
        base = shipped_base(child)
        if base is not None:        # a shipped child's recipe is a prefix: start from its file, do not retrain it
            path = derive_child(child, base, zoo)
            meta = read_checkpoint(path)["meta"]
        else:
            entry = zoo.entry(child.id, REAL_PROFILE)
            path, meta = entry.path, entry.meta
        row = {"child": child.id, "parent": child.parent, "recipe": child.recipe, "params": meta["params"],
               "macs": meta["macs"], "cache": str(path), "seconds": round(time.perf_counter() - t0, 1)}
        if ship:
            row["shipped"] = str(ship_child(child, path, zoo.data_label, device, threads))
        if log:
            log(f"real child {child.id}: {row['params']} parameters, {row['macs'] / 1e6:.0f} M MACs per tile"
                + (f" -> {row['shipped']}" if ship else ""))
        out.append(row)
    return out


def shipped_base(child: RealChild) -> RealChild | None:
    """The shipped, current float child whose recipe is the longest prefix of `child`'s: `child` is then derived
    from that file (the steps after it: overlap and int8 in seconds, a QAT fine-tune in minutes) instead of
    retraining the prefix. None when no shipped child is a prefix."""
    steps = parse_recipe(child.recipe)
    bases = {(c.parent, c.recipe): c for c in shipped_children() if c.id != child.id}
    for k in range(len(steps) - 1, 0, -1):
        base = bases.get((child.parent, to_recipe(steps[:k])))
        if base is not None and not runs_int8(steps[:k]):
            return base
    return None


def derive_child(child: RealChild, base: RealChild, zoo: Zoo) -> Path:
    """Apply the steps of `child`'s recipe past `base`'s to the shipped file of `base` (calibrated on the zoo's
    training-side tiles) -> an artifact under the zoo's cache whose meta carries `base`'s training record."""
    src, digest = base.path, file_digest(base.path)
    rest = parse_recipe(child.recipe)[len(parse_recipe(base.recipe)):]
    name = f"{child.id}-{digest[:12]}"
    path = zoo.cache_dir / "real" / f"{name}.pt"
    # a training step (qat) checkpoints under the cache and resumes there
    _compress_file(path, src, f"real child {base.id}", rest, zoo, zoo.cache_dir / "real" / "partial" / name,
                   {"base": base.id, "base_digest": digest,
                    "base_training": read_checkpoint(src)["meta"].get("training", {})}, footprint=True,
                   root=parent_path(child.parent))
    return path


def ship_child(child: RealChild, artifact: Path, data_label: str, device: str, threads: int = 0) -> Path:
    """Copy a built child into the package: fp16 storage for float weights, and a meta with its lineage."""
    ckpt = read_checkpoint(artifact)
    meta = dict(ckpt.get("meta", {}))
    parent = parent_path(child.parent)
    budget = get_budget("real")
    history = meta.pop("loss_history", None) or []
    record = {k: meta[k] for k in TRAINING_KEYS if k in meta}
    record.update(final_loss=round(float(sum(history[-50:]) / max(1, len(history[-50:]))), 3) if history else None,
                  batch_size=budget.batch_size, amp=budget.amp, schedule=budget.schedule,
                  steps=sum(kind_of(s).train_steps(budget) for s in parse_recipe(child.recipe)),
                  data=data_label, profile=REAL_PROFILE, device=device, machine=_machine(device),
                  threads=threads or None)
    ckpt["meta"] = {"child": child.id, "parent": child.parent, "parent_file": parent.name,
                    "parent_digest": file_digest(parent), "recipe": child.recipe, "notes": child.notes,
                    "budget": budget.name, "training": record, "stamp": meta.get("stamp"),
                    "storage": "fp16" if not ckpt.get("quant") else ckpt.get("quant")}
    if not ckpt.get("quant"):
        ckpt["state_dict"] = fp16_storage(ckpt["state_dict"])
    child.path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(child.path) as tmp:
        torch.save(ckpt, tmp)
    return child.path


def _machine(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return describe(cpu_facts())


# ------------------------------------------------------------------ the rows the real track benchmarks
@dataclass(frozen=True)
class RealRow:
    """One model of the real track: a shipped parent, a shipped child, a calibration-only child built in the run
    from one of those, or one of a parent's training-free deployments (`base` names the row it is built from;
    `step` is the recipe applied in the run)."""

    id: str                      # "default", "default-kd16", "default-kd16-int8", "default-ovl126-bf16", ...
    role: str                    # parent | child | in-run | deployment
    parent: str                  # the parent's name ("default"); a parent names itself
    recipe: str                  # the steps from the parent ("-" for a parent)
    base: str | None = None      # in-run and deployment rows: the row id they are built from
    step: str | None = None      # in-run and deployment rows: the recipe applied in the run


def deployment_id(parent: str, recipe: str) -> str:
    """'overlap(hop=126)+bf16-autocast' on 'default' -> 'default-ovl126-bf16'."""
    return "-".join([parent] + [slug(st) if not isinstance(st, Overlap) else f"ovl{st.hop}"
                                for st in parse_recipe(recipe)])


def real_rows(bf16: bool | None = None) -> list[RealRow]:
    """Every row of the real track, from what the package holds now: parents, each parent's training-free
    deployments (bf16 ones where the CPU has bf16 arithmetic; `bf16` None: this machine), current shipped children,
    and each of those with every calibration-only step of CHEAP_STEPS."""
    bf16 = bool(cpu_facts()["bf16"]) if bf16 is None else bf16
    parents = [RealRow(name, "parent", name, "-") for name in REAL_PARENTS]
    free = [RealRow(deployment_id(name, d), "deployment", name, d, base=name, step=d)
            for name in REAL_PARENTS for d in free_deployments(name, bf16)]
    children = [RealRow(c.id, "child", c.parent, c.recipe) for c in shipped_children()]
    shipped = {(r.parent, r.recipe) for r in parents + children}
    cheap = []
    for r in parents + children:
        if r.recipe != "-" and runs_int8(parse_recipe(r.recipe)):
            continue            # already quantized: nothing calibration-only follows a final step
        for recipe in CHEAP_STEPS:
            full = recipe if r.recipe == "-" else f"{r.recipe}+{recipe}"
            if (r.parent, full) not in shipped:     # a shipped child of the same recipe stands for it
                cheap.append(RealRow(f"{r.id}-{recipe}", "in-run", r.parent, full, base=r.id, step=recipe))
    return parents + free + children + cheap


def row_source(row_id: str) -> Path:
    """The shipped file of a parent or child row."""
    return parent_path(row_id) if row_id in REAL_PARENTS else get_child(row_id).path


def row_artifact(row: RealRow, zoo: Zoo) -> Path:
    """The artifact a row benchmarks: the shipped file, or (in-run rows) its base's file compressed by `row.step`
    with `zoo`'s calibration tiles, cached under the zoo's folder by the base file's digest and the code version."""
    if row.role not in ("in-run", "deployment"):
        return row_source(row.id)
    src = row_source(row.base)
    digest = file_digest(src)
    steps = parse_recipe(row.step)
    key = "+".join(slug(st) for st in steps)     # one step: its slug, the key in-run rows had before
    stamp = hashlib.sha256(f"{digest}|{key}|{CODE_VERSION}|{zoo.data_label}".encode()).hexdigest()[:16]
    path = zoo.cache_dir / "real" / f"{row.id}-{stamp}.pt"
    if not path.is_file():
        _compress_file(path, src, f"real row {row.base}", steps, zoo, None,
                       {"real_row": row.id, "base": row.base, "base_digest": digest, "recipe": row.recipe,
                        "calibration_data": zoo.data_label})
    return path


def _compress_file(out: Path, src: Path, label: str, steps, zoo: Zoo, workdir: Path | None, meta: dict,
                   footprint: bool = False, root: Path | None = None) -> None:
    """Apply `steps` to the float model in `src` (through the zoo: its calibration tiles and build threads) and save
    the result at `out` with `meta`, the steps' own meta and the build time (footprint: and the parameters and MACs
    of the chain's last float model). `root`: the float file of the chain's first model (default: `src`)."""
    model, _ = load_float_model(src, label, "the compression steps take magnitude models only")
    t0 = time.perf_counter()
    quant, extra, float_model = None, {}, model
    first = lambda: load_float_model(root or src, "the chain's first model", "a magnitude model")[0]    # noqa: E731
    for step in steps:
        model, quant, extra = zoo.apply_step(step, model, REAL_PROFILE, workdir, root=first)
        if quant is None:
            float_model = model
    cfg = extra.pop("config", None) or model.config
    sizes = {"params": count_params(float_model), "macs": count_macs(float_model)} if footprint else {}
    save_artifact(out, model, cfg, quant,
                  {**meta, **extra, **sizes, "build_seconds": round(time.perf_counter() - t0, 1)})
