"""The model zoo: builds (trains, compresses) and caches every variant for a profile, budget and data source.

Every intermediate model of a recipe (normal, normal+kd, normal+kd+prune, ...) is an artifact of its own, so
shared prefixes are trained once. The Zoo is assembled from its parts: data (`data.py`), the artifact store with
its stamps (`store.py`), build scheduling over processes and shards (`schedule.py`), full-scale twins (`twins.py`);
this module builds one entry: a parent (pretrained, trained or a user's checkpoint) and each compression step.
"""
from __future__ import annotations

import contextlib
import copy
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..budgets import Budget
from ..compress.artifact import load_artifact, load_float_model, save_artifact
from ..compress.quantize import float_conv_layers, int8_layers
from ..compress.recipes import Variant, get_variant
from ..compress.steps import BuildContext, StepConfig, kind_of, slug
from ..data import DataConfig, DataSplit, get_profile
from ..dsp import FrontEnd
from ..errors import ChvoiceError
from ..models.archs import arch_config
from ..models.footprint import count_macs, count_params
from ..models.io import model_from_dict, read_checkpoint
from ..models.unet import UNet, UNetConfig, front_end, start_as_identity
from ..pretrained import teacher_path
from ..train import TrainConfig, train
from .data import ZooData
from .schedule import BuildScheduler
from .store import ArtifactStore
from .twins import TwinFactory

log = logging.getLogger("chvoice.zoo")


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
class Zoo(ZooData, ArtifactStore, BuildScheduler, TwinFactory):
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
        model, quant, extra = self._apply(variant.steps[k - 1], parent, pmeta, profile, workdir,
                                          root=lambda: copy.deepcopy(self._prefix(variant, 0, profile)[0]))
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

    def apply_step(self, s: StepConfig, parent: nn.Module, profile: str, workdir: Path | None = None,
                   root: Callable[[], nn.Module] | None = None) -> tuple[nn.Module, str | None, dict]:
        """One registered step on a float model, outside any chain (chvoice quantize, the real track's in-run
        rows, children derived from a shipped one): -> (model, format, meta). Runs at the zoo's build threads, like
        every build; a training step checkpoints into `workdir` (if given) and resumes from it; `root` gives the
        chain's first model to a step that distils from it."""
        with self._build_threads():
            return self._apply(s, parent, {}, profile, workdir, root)

    @contextlib.contextmanager
    def _build_threads(self):
        """Torch threads of a build (training, calibration): `build_threads`, all cores when 0; restored after."""
        threads = torch.get_num_threads()
        torch.set_num_threads(self.build_threads or os.cpu_count() or 1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)

    def _apply(self, s: StepConfig, parent: nn.Module, pmeta: dict, profile: str, workdir: Path | None = None,
               root: Callable[[], nn.Module] | None = None):
        """Run one registered compression step (compress.steps) on `parent`; a training step checkpoints into
        `workdir` and resumes from it."""
        if pmeta.get("quant"):
            raise ChvoiceError(f"cannot apply {kind_of(s).name} to an already quantized model")
        fe = front_end(parent)      # a model from outside the zoo may read another STFT than the report's
        ctx = BuildContext(budget=self.budget, seed=self.seed, profile=profile,
                           sampler=lambda: self.sampler(profile, fe),
                           calibration=lambda n, norm: self.calibration(profile, n, norm, fe=fe),
                           train_cfg=lambda steps, lr: self._train_cfg(steps, lr=lr), workdir=workdir, root=root)
        r = kind_of(s).apply(ctx, parent, s)
        return r.model, r.quant, {**r.extra, "recipe": list(pmeta.get("recipe", [])) + [slug(s)]}
