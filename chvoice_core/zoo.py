"""The model zoo: builds (trains, compresses) and caches every variant for a profile, budget and data source.

Every intermediate model of a recipe (normal, normal+kd, normal+kd+prune, ...) is an artifact of its own, so
shared prefixes are trained once. Cache entries are stamped with the code version, budget, data source and
profile; a stale or corrupt entry is rebuilt, never trusted.
"""
from __future__ import annotations

import contextlib

import copy
import hashlib
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from .budgets import Budget
from .compress.artifact import load_artifact, load_float_model, save_artifact
from .compress.quantize import float_conv_layers, int8_layers
from .compress.recipes import Variant, get_variant
from .compress.steps import BuildContext, StepConfig, kind_of, quant_format, slug
from .data import DataConfig, DataSplit, TestSetConfig, build_testset, get_profile, load_data
from .data.pairs import PairSampler
from .data.rooms import TEST_ROOM_SEED, TRAIN_ROOM_SEED
from .dsp import FrontEnd, normalise, normalise_fixed
from .errors import ChvoiceError
from .models.archs import arch_config
from .models.io import file_digest
from .models.unet import UNet, UNetConfig, count_macs, count_params, front_end, inference_layout, start_as_identity
from .parallel import one_thread_worker
from .train import TrainConfig, train
from .losses import db_pairs
from .version import CODE_VERSION

log = logging.getLogger("chvoice.zoo")
TWIN_CALIBRATION_PROFILE = "weighted"   # twins of every profile are calibrated alike: only value ranges matter


@dataclass
class Entry:
    """A built model and what the benchmarks report about it."""

    variant: str
    profile: str
    model: nn.Module
    meta: dict[str, Any]
    path: Path

    @property
    def config(self) -> UNetConfig:
        return self.meta["config"]


@dataclass
class Zoo:
    budget: Budget
    data: DataConfig = field(default_factory=DataConfig)
    cache_dir: Path = Path(".chvoice-cache")
    device: str = "cpu"
    seed: int = 0
    progress: bool = True
    build_threads: int = 0     # torch threads while training/compressing (0: all cores)
    test_seconds: float = 3.0  # test utterances are cropped to this length (scoring cost grows with it)
    fe: FrontEnd = field(default_factory=FrontEnd)
    use_pretrained: bool = True   # start from the shipped teachers where they fit (quick budget, built-in data)
    extra_variants: tuple[Variant, ...] = ()   # user recipes beside the table (compress.recipes.user_variant)

    def __post_init__(self) -> None:
        self.cache_dir = Path(self.cache_dir)
        self._split: DataSplit | None = None
        self._entries: dict[tuple[str, str], Entry] = {}
        self._testsets: dict[str, list] = {}
        self._calibration: dict[str, torch.Tensor] = {}
        self._full: dict[str, tuple[nn.Module, dict]] = {}   # full-scale twins by architecture digest
        self._pretrained: dict[tuple[str, str], tuple[nn.Module, dict] | None] = {}
        self._broad: DataSplit | None = None
        self._built: set[Path] = set()      # cache entries this zoo built (not found cached)

    # ------------------------------------------------------------------ data
    @property
    def split(self) -> DataSplit:
        if self._split is None:
            self._split = load_data(self._data_with_cache())
        return self._split

    def _data_with_cache(self) -> DataConfig:
        return self.data if self.data.cache_dir else replace(self.data, cache_dir=str(self.cache_dir / "data"))

    def split_for(self, profile: str) -> DataSplit:
        """The report's profiles use the plain split; broad ones (`general`) add every noise category and babble."""
        if get_profile(profile).category_probs is not None:
            return self.split
        if self._broad is None:
            self._broad = load_data(self._data_with_cache(), broad=True)
        return self._broad

    @property
    def data_label(self) -> str:
        return self.data.label

    def sampler(self, profile: str, fe: FrontEnd | None = None) -> PairSampler:
        """Training pairs of one tile of `fe` (default: the zoo's, the report's front end)."""
        p, split = get_profile(profile), self.split_for(profile)
        return PairSampler(split.train_speech, split.train_noise, p, (fe or self.fe).tile_samples, seed=self.seed,
                           rooms=split.rooms(seed=TRAIN_ROOM_SEED) if p.p_room else None)

    def testset(self, profile: str, n: int | None = None) -> list:
        n = n or self.budget.test_utterances
        key = f"{profile}:{n}"
        if key not in self._testsets:
            p, split = get_profile(profile), self.split_for(profile)
            self._testsets[key] = build_testset(split.test_speech, split.test_noise, p,
                                                TestSetConfig(n=n, max_seconds=self.test_seconds),
                                                rooms=split.rooms(seed=TEST_ROOM_SEED) if p.p_room else None)
        return self._testsets[key]

    def calibration(self, profile: str, n: int = 256, causal: bool = False, fe: FrontEnd | None = None) -> torch.Tensor:
        """Normalised noisy training tiles [n, 1, F, T] for static-quantization calibration (causal: with the
        causal models' fixed standardisation), through `fe` (default: the zoo's)."""
        fe = fe or self.fe
        key = f"{profile}:{n}:{fe.n_fft}/{fe.hop}"      # the same mixtures for causal and offline models
        if key not in self._calibration:
            s = self.sampler(profile, fe)
            tiles = []
            for i in range(0, n, 16):
                noisy, clean = s.batch(10_000_000 + i, min(16, n - i))
                tiles.append(db_pairs(noisy, clean, fe, torch.device("cpu"))[0])
            self._calibration[key] = torch.cat(tiles)
        return (normalise_fixed if causal else normalise)(self._calibration[key])[0]

    # ------------------------------------------------------------------ cache
    def _dir(self, profile: str) -> Path:
        slug = re.sub(r"[^a-z0-9]+", "-", self.data_label.lower()).strip("-")
        digest = hashlib.sha256(str(self.data.resolved()).encode()).hexdigest()[:8]
        return self.cache_dir / "zoo" / self.budget.name / f"{slug}-{digest}" / profile

    def _stamp(self, key: str, profile: str) -> dict:
        stamp = {"code_version": CODE_VERSION, "budget": self.budget.name, "data": self.data_label,
                 "profile": profile, "key": key, "seed": self.seed}
        arch = key.split("+")[0]
        if self.pretrained_parent(arch, profile) is not None:
            from .pretrained import teacher_path
            stamp["pretrained"] = file_digest(teacher_path(arch, profile))
        return stamp

    def _load_cached(self, path: Path, stamp: dict) -> tuple[nn.Module, dict] | None:
        if not path.is_file():
            return None
        try:
            model, meta = load_artifact(path)
        except ChvoiceError as e:
            log.warning("rebuilding %s: %s", path.name, e)
            return None
        if meta.get("stamp") != stamp:
            log.warning("rebuilding %s: stale cache entry (%s)", path.name, meta.get("stamp"))
            return None
        return model, meta

    # ------------------------------------------------------------------ building
    def variant(self, variant_id: str) -> Variant:
        """A variant of the table or one of this zoo's user recipes."""
        return get_variant(variant_id, self.extra_variants)

    def entry(self, variant_id: str, profile: str) -> Entry:
        """The trained/compressed model of a variant for a profile (built on first use, then cached)."""
        variant = self.variant(variant_id)
        get_profile(profile)
        key = (variant_id, profile)
        if key not in self._entries:
            model, meta, path = self._prefix(variant, len(variant.steps), profile)
            self._entries[key] = Entry(variant_id, profile, model, meta, path)
        return self._entries[key]

    def _prefix(self, variant: Variant, k: int, profile: str) -> tuple[nn.Module, dict, Path]:
        key = variant.prefix_ids()[k]
        path = self._dir(profile) / f"{key}.pt"
        stamp = self._stamp(key, profile)
        cached = self._load_cached(path, stamp)
        if cached is not None:
            return cached[0], cached[1], path
        t0 = time.perf_counter()
        with self._build_threads():
            model, quant, extra, base = self._build_step(variant, k, profile)
        cfg = extra.pop("config", None) or model.config
        float_twin = UNet(cfg)
        meta = {"stamp": stamp, "build_seconds": round(time.perf_counter() - t0, 1),
                "params": count_params(float_twin), "macs": count_macs(float_twin),
                "int8_layers": int8_layers(model), "float_convs": float_conv_layers(model), **extra}
        meta["base_config"] = base.to_dict() if isinstance(base, UNetConfig) else base
        save_artifact(path, model, cfg, quant, meta)
        self._built.add(path)
        model, meta = load_artifact(path)     # what the benchmarks use is exactly what was saved
        return model, meta, path

    def _build_step(self, variant: Variant, k: int, profile: str):
        if k == 0:
            model, quant, extra = (self._user_teacher(variant) if variant.teacher
                                   else self._train_parent(variant.arch, profile))
            return model, quant, extra, model.config
        parent, pmeta, _ = self._prefix(variant, k - 1, profile)
        workdir = (self._dir(profile) / "partial" / variant.prefix_ids()[k]) if self.budget.resumable else None
        model, quant, extra = self._apply(variant.steps[k - 1], parent, pmeta, profile, workdir)
        if pmeta.get("pretrained"):
            extra["pretrained"] = pmeta["pretrained"]   # the chain started from a shipped teacher
        # a distilled student's facts, and the last training stage's record, down the chain (a step's own win)
        for key in ("student_width", "full_base_width", "student_width_raised", "train_steps", "train_seconds", "lr"):
            if key in pmeta:
                extra.setdefault(key, pmeta[key])
        return model, quant, extra, extra.pop("base_config", pmeta["base_config"])

    def _train_cfg(self, steps: int, lr: float = 4e-4) -> TrainConfig:
        b = self.budget
        return TrainConfig(steps=steps, batch_size=b.batch_size, lr=lr, seed=self.seed, device=self.device,
                           log_every=b.log_every, checkpoint_every=b.checkpoint_every if b.resumable else 10 ** 9,
                           progress=self.progress, amp=b.amp, schedule=b.schedule, warmup_steps=b.warmup_steps)

    def pretrained_parent(self, arch: str, profile: str) -> tuple[nn.Module, dict] | None:
        """The shipped pretrained teacher for (arch, profile), if one fits this zoo: same budget widths and
        the built-in data it was trained on. Its meta says how it was trained (tools/build_teachers.py)."""
        if (arch, profile) not in self._pretrained:
            self._pretrained[(arch, profile)] = self._load_pretrained(arch, profile)
        found = self._pretrained[(arch, profile)]
        return None if found is None else (copy.deepcopy(found[0]), dict(found[1]))

    def _load_pretrained(self, arch: str, profile: str) -> tuple[nn.Module, dict] | None:
        from .models.io import model_from_dict, read_checkpoint
        from .pretrained import teacher_path
        if not self.use_pretrained:
            return None
        path = teacher_path(arch, profile)
        if path is None:
            return None
        ckpt = read_checkpoint(path)
        meta = dict(ckpt.get("meta", {}))
        want = arch_config(arch, self.budget.width_divisor)
        if meta.get("budget") != self.budget.name or meta.get("data") != self.data_label or meta.get("seed") != self.seed:
            return None
        model = model_from_dict(ckpt, str(path))
        if model.config != want:
            return None
        return model.float().eval(), meta

    def _train_parent(self, arch: str, profile: str):
        pre = self.pretrained_parent(arch, profile)
        if pre is not None:
            model, meta = pre
            log.info("using the pretrained %s teacher for %s (%s steps)", arch, profile, meta.get("train_steps"))
            return model, None, {"recipe": [], "pretrained": {k: meta[k] for k in meta if k != "loss_history"}}
        if self.budget.steps == 0:
            raise ChvoiceError(f"the {self.budget.name} budget compresses shipped parents; it trains no {arch} parent")
        torch.manual_seed(self.seed)   # initial weights must not depend on what this process built before
        model = start_as_identity(UNet(arch_config(arch, self.budget.width_divisor)))
        log.info("training %s for %s (%d steps)", arch, profile, self.budget.steps)
        r = train(model, self.sampler(profile), self._train_cfg(self.budget.steps))
        return r["model"].cpu().eval(), None, {"loss_history": r["history"], "recipe": []}

    def _user_teacher(self, variant: Variant):
        """A user's float checkpoint as the chain's parent (its digest, not its path, keys the cache)."""
        model, _ = load_float_model(variant.teacher, f"teacher {variant.teacher}",
                                    "the compression steps take magnitude models only (for now)")
        return model, None, {"recipe": [], "teacher": {"path": variant.teacher,
                                                                      "digest": variant.teacher_digest}}

    def apply_step(self, s: StepConfig, parent: nn.Module, profile: str) -> tuple[nn.Module, str | None, dict]:
        """One registered step on a float model, outside any chain (chvoice quantize, the real track's in-run
        rows): -> (model, format, meta). Runs at the zoo's build threads, like every build."""
        with self._build_threads():
            return self._apply(s, parent, {}, profile)

    @contextlib.contextmanager
    def _build_threads(self):
        """Torch threads of a build (training, calibration): `build_threads`, all cores when 0; restored after."""
        threads = torch.get_num_threads()
        torch.set_num_threads(self.build_threads or os.cpu_count() or 1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)

    def _apply(self, s: StepConfig, parent: nn.Module, pmeta: dict, profile: str, workdir: Path | None = None):
        """Run one registered compression step (compress.steps) on `parent`; a training step checkpoints into
        `workdir` and resumes from it."""
        if pmeta.get("quant"):
            raise ChvoiceError(f"cannot apply {kind_of(s).name} to an already quantized model")
        fe = front_end(parent)      # a model from outside the zoo may read another STFT than the report's
        ctx = BuildContext(budget=self.budget, seed=self.seed, profile=profile,
                           sampler=lambda: self.sampler(profile, fe),
                           calibration=lambda n, causal: self.calibration(profile, n, causal=causal, fe=fe),
                           train_cfg=lambda steps, lr: self._train_cfg(steps, lr=lr), workdir=workdir)
        r = kind_of(s).apply(ctx, parent, s)
        return r.model, r.quant, {**r.extra, "recipe": list(pmeta.get("recipe", [])) + [slug(s)]}

    # ------------------------------------------------------------------ parallel building
    def prebuild(self, variants: list[str], profiles: list[str], workers: int = 2,
                 log: "Callable[[str], None] | None" = print) -> None:
        """Build every (variant, profile) into the cache with `workers` processes of one torch thread each:
        small U-Nets use a second thread poorly, so two single-threaded builds finish sooner than two-threaded
        builds one after the other. First the simulated rooms of the profiles that use them (`general`: simulated
        in parallel once rather than by each build that needs them), then the parent architectures, then one job
        per (profile, first compression step), the costliest first by training steps: a chain's variants share
        their cached prefixes, and finer jobs keep both workers busy (the default run's zoo, cold, back to back on
        one 2-core VM: 565 s with one job per profile and parent, 502 s with these jobs; 924 s of builds in all)."""
        missing = [(v, p) for p in profiles for v in variants if not self._is_cached(v, p)]
        if not missing:
            return
        if workers <= 1:
            for v, p in missing:
                self.entry(v, p)
            return
        for p in sorted({p for _, p in missing}):
            if get_profile(p).p_room and not self.split_for(p).rirs:     # measured rooms are read, not simulated
                for seed in (TRAIN_ROOM_SEED, TEST_ROOM_SEED):
                    self.split_for(p).rooms(seed=seed, workers=workers)
        self._run_phases(self.build_plan(missing), workers, log)

    def build_plan(self, missing: list[tuple[str, str]]) -> list[list[tuple[str, list[str]]]]:
        """The (variant, profile) pairs to build as two phases of (profile, variants) jobs: the parent
        architectures (each once), then one job per (profile, first compression step), costliest first."""
        roots: dict[tuple[str, str], list[str]] = {}
        jobs: dict[tuple[str, str], list[str]] = {}
        for v, p in missing:
            keys = self.variant(v).prefix_ids()
            (roots if len(keys) == 1 else jobs).setdefault((p, keys[min(1, len(keys) - 1)]), []).append(v)
        for (p, _), vs in jobs.items():     # a chain's parent is built first, once, in the roots phase
            root = self._root_variant(vs[0])
            if root is not None and not self._is_cached(root, p):
                roots.setdefault((p, self.variant(root).prefix_ids()[0]), [root])
        order = sorted(jobs.items(), key=lambda kv: -self._build_cost(kv[1]))
        return [[(p, vs) for (p, _), vs in roots.items()], [(p, vs) for (p, _), vs in order]]

    def _root_variant(self, variant_id: str) -> str | None:
        """The variant that is `variant_id`'s parent architecture alone, if the table has one."""
        var = self.variant(variant_id)
        try:
            root = self.variant(var.arch)
        except ChvoiceError:
            return None
        return root.id if var.teacher is None and not root.steps else None

    def _build_cost(self, variants: list[str]) -> int:
        """Optimiser steps a job runs (each shared prefix once), plus one per model: the schedule's weight."""
        cost: dict[str, int] = {}
        for v in variants:
            var = self.variant(v)
            for key, step in zip(var.prefix_ids()[1:], var.steps):
                cost[key] = kind_of(step).train_steps(self.budget) + 1
        return sum(cost.values())

    def _run_phases(self, phases: list[list[tuple[str, list[str]]]], workers: int,
                    log: "Callable[[str], None] | None") -> None:
        """Run the (profile, variants) jobs of each phase in one pool of worker processes, a phase after the
        previous one has finished; a single job in all builds in this process."""
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed
        jobs = [job for phase in phases for job in phase]
        if len(jobs) == 1:
            p, vs = jobs[0]
            for v in vs:
                self.entry(v, p)
            return
        with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=mp.get_context("spawn"),
                                 initializer=one_thread_worker) as pool:
            for phase in phases:
                futures = [pool.submit(_build_job, self.budget, self.data, str(self.cache_dir), self.device,
                                       self.seed, self.test_seconds, p, vs, self.extra_variants) for p, vs in phase]
                for f in as_completed(futures):
                    for line in f.result():
                        if log:
                            log(line)

    def chains(self, variants: list[str], profiles: list[str]) -> list[tuple[str, str, list[str]]]:
        """The zoo's independent build jobs, in a fixed order: (profile, parent, variants). Variants of one
        chain share cached prefixes, so a chain is never split between machines."""
        jobs: dict[tuple[str, str], list[str]] = {}
        for p in profiles:
            for v in variants:
                jobs.setdefault((p, self.variant(v).prefix_ids()[0]), []).append(v)
        return [(p, a, vs) for (p, a), vs in sorted(jobs.items())]

    def build_shard(self, variants: list[str], profiles: list[str], index: int, count: int,
                    log: "Callable[[str], None] | None" = print) -> list[tuple[str, str]]:
        """Build shard `index` of `count` (1-based) of the zoo into the shared cache: chains j with
        j % count == index - 1. Every shard of a Slurm array / Kubernetes indexed Job / torchrun group runs this
        with its own index against one cache folder; entries are written atomically and stamped, so the
        benchmark run afterwards finds them all. Returns the (variant, profile) pairs of this shard."""
        if not (count >= 1 and 1 <= index <= count):
            raise ChvoiceError(f"shard {index}/{count}: need 1 <= i <= n")
        done = []
        for j, (p, _, vs) in enumerate(self.chains(variants, profiles)):
            if j % count != index - 1:
                continue
            for v in vs:
                t0 = time.perf_counter()
                cached = self.entry(v, p).path not in self._built
                done.append((v, p))
                if log:
                    log(f"zoo shard {index}/{count}: {v} for {p} "
                        f"{'cached' if cached else f'built in {time.perf_counter() - t0:.0f} s'}")
        return done

    def _is_cached(self, variant_id: str, profile: str) -> bool:
        v = self.variant(variant_id)
        key = v.prefix_ids()[-1]
        return self._load_cached(self._dir(profile) / f"{key}.pt", self._stamp(key, profile)) is not None

    # ------------------------------------------------------------------ full-scale twins for latency
    def full_scale(self, variant_id: str, profile: str) -> tuple[nn.Module, dict]:
        """The variant's architecture at the report's full widths (64/32), with the same per-layer pruning
        ratios and the same quantization, for latency. Weights are untrained (speed does not depend on them),
        so a twin depends on its architecture and quantization only: variants and profiles that share those
        share one twin, built once and cached on disk like the zoo's entries."""
        e = self.entry(variant_id, profile)
        if self.budget.width_divisor == 1 or self.variant(variant_id).teacher:   # user teachers: their own scale
            return e.model, e.meta
        full_cfg, quant = self._full_config(e), quant_format(e.meta.get("quant")).twin_format
        spec = {"config": full_cfg.to_dict(), "quant": quant}
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
        if digest in self._full:
            return self._full[digest]
        shape = f"w{full_cfg.base_width}" + ("-pruned" if full_cfg.widths else "")
        path = self._twin_dir() / f"{shape}-{quant or 'fp32'}-{digest}.pt"
        stamp = {"code_version": CODE_VERSION, "data": self.data_label, "twin": spec}
        cached = self._load_cached(path, stamp)
        if cached is None:
            model = self._build_twin(full_cfg, quant)
            twin = UNet(full_cfg)
            save_artifact(path, model, full_cfg, quant, {"stamp": stamp, "params": count_params(twin),
                                                         "macs": count_macs(twin), "int8_layers": int8_layers(model)})
            cached = load_artifact(path)
        inference_layout(cached[0], self.device)
        self._full[digest] = cached
        return cached

    def _twin_dir(self) -> Path:
        return self._dir(TWIN_CALIBRATION_PROFILE).parent / "twins"

    def _full_config(self, e: Entry) -> UNetConfig:
        cfg, base = e.config, UNetConfig.from_dict(e.meta["base_config"])
        full_base = replace(base, base_width=e.meta.get("full_base_width", base.base_width * self.budget.width_divisor),
                            widths=None)
        if cfg.widths is None:
            return full_base
        ratios = [w / b for w, b in zip(cfg.conv_widths(), base.conv_widths())]
        full_widths = [max(1, round(r * fw)) for r, fw in zip(ratios, full_base.conv_widths())]
        return full_base.with_widths(tuple(max(8, 8 * round(w / 8)) for w in full_widths))

    def _build_twin(self, cfg: UNetConfig, quant: str | None) -> nn.Module:
        torch.manual_seed(0)
        model = UNet(cfg)
        # untrained weights: a few real tiles give realistic BatchNorm statistics and int8 ranges
        calib = self.calibration(TWIN_CALIBRATION_PROFILE, 8)[:4]
        with torch.no_grad():
            model.train()
            model(calib)
        model.eval()
        return quant_format(quant).twin(model, calib)


def _build_job(budget: Budget, data: DataConfig, cache_dir: str, device: str, seed: int, test_seconds: float,
               profile: str, variants: list[str], extra: tuple[Variant, ...] = ()) -> list[str]:
    """Worker process (one thread, see parallel.one_thread_worker): build a chain of variants for one profile."""
    zoo = Zoo(budget, data, cache_dir=Path(cache_dir), device=device, seed=seed, progress=False, build_threads=1,
              test_seconds=test_seconds, extra_variants=tuple(extra))
    lines = []
    for v in variants:
        t0 = time.perf_counter()
        zoo.entry(v, profile)
        lines.append(f"zoo: built {v} for {profile} in {time.perf_counter() - t0:.0f} s")
    return lines
