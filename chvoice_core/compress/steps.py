"""The registry of compression steps: each step is a small config dataclass handled by one registered function,
and each quantized artifact format by one registered loader (the torchao pattern). The variant table, the zoo,
the artifact loader, the benchmark suite, the report and user recipes all go through this module (its machinery and
recipe language live in `registry`, the artifact formats in `formats`); no other module names a step by string.

A recipe is a chain of steps, written `distil(width=16)+prune(macs=0.5)+int8` (see `parse_recipe`):

| step | config | what it does |
|---|---|---|
| distil | Distil(width, alpha) | train a narrower student on the teacher's outputs (the report's KD) |
| prune | Prune(criterion, filters_per_round, rounds, macs, round_to, distil, per_mac) | remove filters while fine-tuning |
| overlap | Overlap(hop) | run offline on tiles that overlap less (fewer model calls per second of audio) |
| dynamic | Dynamic() | the report's `quantize_dynamic` (leaves every conv in float) |
| int8 | Int8(backend, calibration_tiles) | static int8 post-training quantization, FX graph mode |
| qat | QAT(backend, lr, steps, distil) | quantization-aware fine-tune (distil: towards the parent's waveforms), converted to the same int8 kernels |
| pt2e | PT2E(calibration_tiles) | static int8 through torchao PT2E (X86InductorQuantizer) + torch.compile |
| pt2e-qat | PT2EQAT(lr) | quantization-aware fine-tune through torchao PT2E, converted and compiled alike |
| onnx | Onnx() | the float model exported to ONNX, run by ONNX Runtime |
| ort-int8 | OrtInt8(calibration_tiles, per_channel) | ONNX Runtime static QDQ int8 (u8 activations, s8 weights) |
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from ..dsp import FrontEnd
from ..errors import ChvoiceError
from ..models.kinds import kind_of as model_kind
from ..models.unet import UNet, normaliser_for, start_as_identity
from ..train import train
from .bf16 import Bf16Model
from .distill import DistillConfig, teacher_target, teacher_waveform
# the registry's machinery and the artifact formats, importable from here as before
from .formats import FORMATS, QuantFormat, quant_format
from .ort import OrtTileModel, quantize_graph, tile_graph
from .pruning import PruneConfig, Pruner
from .pt2e import Pt2eInt8, pt2e_int8
from .pt2e import prepare_qat as pt2e_prepare_qat
from .quantize import StaticQuantConfig, convert, dynamic_int8, static_int8
from .quantize import prepare_qat as fx_prepare_qat
from .registry import (ALIASES, DEFAULT_QUANT_STEP, STEPS, BuildContext, StepConfig, StepKind, StepResult, describe,
                       dynamic_only, kind_of, make_step, parse_recipe, register, reshapes, runs_int8, slug,
                       step_kind, to_recipe, validate_chain)

__all__ = ["Distil", "Prune", "Overlap", "Dynamic", "Int8", "QAT", "PT2E", "PT2EQAT", "Onnx", "OrtInt8", "Bf16",
           "PERCEPTUAL_DISTIL_SISDR", "FORMATS", "QuantFormat", "quant_format", "ALIASES", "DEFAULT_QUANT_STEP", "STEPS",
           "BuildContext", "StepConfig", "StepKind", "StepResult", "describe", "dynamic_only", "kind_of", "make_step",
           "parse_recipe", "register", "reshapes", "runs_int8", "slug", "step_kind", "to_recipe", "validate_chain"]


# ----------------------------------------------------------------------------------------------- step configs
@dataclass(frozen=True)
class Distil:
    width: int = 32          # the student's base width at full scale (a budget divides it like every width)
    alpha: float = 0.0       # weight of the clean target (0: the report's pure teacher targets)
    loss: str = "db-mse"     # db-mse on dB tiles (the report's KD) | perceptual (the teacher's waveforms, PERCEPTUAL)

    def __post_init__(self) -> None:
        DistillConfig(student_width=self.width, alpha=self.alpha)
        if self.width < 1:
            raise ChvoiceError(f"distil width must be at least 1, got {self.width}")
        if self.loss not in ("db-mse", "perceptual"):
            raise ChvoiceError(f"distil loss {self.loss!r}: db-mse or perceptual")


@dataclass(frozen=True)
class Prune:
    criterion: str = "taylor"
    filters_per_round: int = 0   # remove this many filters per round (full-scale count) ...
    rounds: int = 4
    macs: float = 0.0            # ... or remove filters until MACs fall by this fraction
    round_to: int = 1            # keep layer widths multiples of this (full scale)
    distil: bool = False         # fine-tune towards the unpruned parent's waveforms (perceptual loss), not clean dB
    per_mac: bool = False        # rank filters by importance per MAC saved (pruning.PruneConfig.per_mac)
    levels: int = 0              # prune only the `levels` outermost U-Net levels (pruning.PruneConfig.levels)
    widths: str = ""             # or prune to these conv widths, "16,32,...": pruning.PruneConfig.target_widths
    steps: int = 0               # fine-tune steps (0: the budget's finetune_steps)
    teacher: str = "parent"      # distil towards: "parent" (the model this step prunes) | "root" (the chain's first)

    def __post_init__(self) -> None:
        PruneConfig(criterion=self.criterion, filters_per_round=self.filters_per_round, rounds=self.rounds,
                    target_mac_reduction=self.macs, round_to=self.round_to, per_mac=self.per_mac,
                    levels=self.levels, target_widths=self._widths())    # one set of checks
        if self.steps < 0:
            raise ChvoiceError(f"prune steps must be 0 (the budget's) or more, got {self.steps}")
        if self.widths.strip() and (self.macs or self.filters_per_round):
            raise ChvoiceError("prune: give widths, or macs / filters_per_round, not both")
        if self.teacher not in ("parent", "root"):
            raise ChvoiceError(f"prune teacher {self.teacher!r}: parent or root")
        if self.teacher == "root" and not self.distil:
            raise ChvoiceError("prune(teacher='root') distils: set distil=True")

    def _widths(self) -> tuple[int, ...]:
        try:
            return tuple(int(w) for w in self.widths.split(",")) if self.widths.strip() else ()
        except ValueError:
            raise ChvoiceError(f"prune widths {self.widths!r}: write comma-separated integers") from None

    def target_widths(self, divisor: int) -> tuple[int, ...]:
        """`widths` as integers, at a budget's width divisor."""
        return tuple(max(1, w // divisor) for w in self._widths())


@dataclass(frozen=True)
class Overlap:
    hop: int = 64                # frames between the starts of the 128-frame tiles offline (UNetConfig.tile_hop)

    def __post_init__(self) -> None:
        tile = FrontEnd().tile_frames          # the bound UNetConfig.tile_hop checks too, named here at parse time
        if not 1 <= self.hop <= tile:
            raise ChvoiceError(f"overlap hop {self.hop}: must be 1..{tile} frames (a tile is {tile})")


@dataclass(frozen=True)
class Dynamic:
    pass


@dataclass(frozen=True)
class Int8:
    backend: str = "x86"
    calibration_tiles: int = 256


@dataclass(frozen=True)
class QAT:
    backend: str = "x86"
    lr: float = 1e-4
    steps: int = 0               # fine-tune steps (0: the budget's finetune_steps)
    distil: bool = False         # fine-tune towards the float parent's waveforms (perceptual loss), not clean dB

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ChvoiceError(f"qat steps must be 0 (the budget's) or more, got {self.steps}")


@dataclass(frozen=True)
class PT2E:
    calibration_tiles: int = 256


@dataclass(frozen=True)
class PT2EQAT:
    lr: float = 1e-4


@dataclass(frozen=True)
class Onnx:
    pass


@dataclass(frozen=True)
class Bf16:
    pass


@dataclass(frozen=True)
class OrtInt8:
    calibration_tiles: int = 64
    per_channel: bool = True


# ----------------------------------------------------------------------------------------------- the steps
# the SI-SDR weight of perceptual distillation: the shipped parents' own (their meta: sisdr_weight 0.6)
PERCEPTUAL_DISTIL_SISDR = 0.6


def _on_parent_waveforms(cfg, parent: nn.Module, alpha: float = 0.0) -> tuple[Any, dict[str, Any]]:
    """(config, train() keywords) that train towards the parent's waveforms under the perceptual loss."""
    return (replace(cfg, loss="perceptual", sisdr_weight=PERCEPTUAL_DISTIL_SISDR),
            {"wave_target": teacher_waveform(copy.deepcopy(parent), alpha)})


def _float32(cfg):
    """A training config without bf16 autocast: fake-quantization observers must see float32 ranges."""
    return replace(cfg, amp="none")


@register("distil", Distil, "kd", "Knowledge distillation", trains="student")
def _distil(ctx: BuildContext, parent: nn.Module, s: Distil) -> StepResult:
    scaled = s.width // ctx.budget.width_divisor
    # a budget's student never goes under width 4; when that lifts it, the meta says so, and the full-scale twin
    # that latency is timed on keeps the asked width (full_base_width), not 4 x the divisor
    student_cfg = replace(parent.config, base_width=max(4, scaled), widths=None)
    torch.manual_seed(ctx.seed)
    student = start_as_identity(UNet(student_cfg))
    cfg = ctx.train_cfg(ctx.budget.student_steps, ctx.budget.distill_lr)
    if s.loss == "perceptual":
        cfg, target = _on_parent_waveforms(cfg, parent, s.alpha)
    else:
        target = {"target_fn": teacher_target(copy.deepcopy(parent), s.alpha)}
    r = train(student, ctx.sampler(), cfg, **target, **ctx.resume_args())
    return StepResult(r["model"].cpu().eval(), None, {
        "loss_history": r["history"], "base_config": student_cfg, "lr": ctx.budget.distill_lr,
        "train_steps": r["steps"], "train_seconds": r["seconds"],
        "student_width": student_cfg.base_width, "full_base_width": s.width,
        **({"student_width_raised": f"width {s.width} / {ctx.budget.width_divisor} = {s.width / ctx.budget.width_divisor:g}"
                                    f" is under 4: trained at 4"} if scaled < 4 else {})})


@register("prune", Prune, "prune", "Pruning", reshapes=True, trains="finetune")
def _prune(ctx: BuildContext, parent: nn.Module, s: Prune) -> StepResult:
    div = ctx.budget.width_divisor
    pc = PruneConfig(criterion=s.criterion, filters_per_round=max(1, s.filters_per_round // div) if s.filters_per_round else 0,
                     rounds=s.rounds, target_mac_reduction=s.macs, round_to=max(1, s.round_to // div), per_mac=s.per_mac,
                     levels=s.levels, target_widths=s.target_widths(div))
    model = copy.deepcopy(parent).train()
    steps = s.steps or ctx.budget.finetune_steps
    pruner = Pruner(model, pc, steps)
    # a parent trained on another loss (the shipped models: perceptual) keeps its behaviour only when the
    # fine-tune follows its outputs; the report's pruning fine-tunes on the clean targets
    cfg, target = ctx.train_cfg(steps, 4e-4), {}
    if s.distil:
        # a second pruning of a pruned child may learn from the chain's first model (the real parent) rather than
        # from the pruned model it starts from, whose quality would cap it
        cfg, target = _on_parent_waveforms(cfg, parent if s.teacher == "parent" else ctx.root_model("prune(teacher='root')"))
    r = train(model, ctx.sampler(), cfg, on_step=pruner.on_step, **target)
    pruner.close()
    return StepResult(r["model"].cpu().eval(), None, {"loss_history": r["history"], "prune_log": pruner.log,
                                                      "prune_config": pc.to_dict(), "distilled": s.distil,
                                                      "lr": 4e-4, "train_steps": r["steps"], "train_seconds": r["seconds"]})


@register("overlap", Overlap, "overlap", "Tile overlap")
def _overlap(ctx: BuildContext, parent: nn.Module, s: Overlap) -> StepResult:
    # the same weights, run on tiles that overlap less: (128 - hop) shared frames instead of 64, so about
    # 128 / hop model frames per frame of audio instead of 2 (no calibration, no training)
    kind = model_kind(parent)
    if kind != "tile":
        raise ChvoiceError(f"overlap(hop={s.hop}): only tile models run on overlapping tiles (this one is {kind})")
    model = copy.deepcopy(parent)
    model.config = replace(parent.config, tile_hop=s.hop)
    return StepResult(model, None, {"config": model.config})


@register("dynamic", Dynamic, "quant", "Dynamic int8 (the report's)", final=True, dynamic=True)
def _dynamic(ctx: BuildContext, parent: nn.Module, s: Dynamic) -> StepResult:
    return StepResult(dynamic_int8(copy.deepcopy(parent)), "dynamic", {"config": parent.config})


@register("int8", Int8, "int8", "Static int8 (FX)", final=True, int8=True)
def _int8(ctx: BuildContext, parent: nn.Module, s: Int8) -> StepResult:
    q = static_int8(copy.deepcopy(parent), ctx.calibration(s.calibration_tiles, normaliser_for(parent)),
                    StaticQuantConfig(backend=s.backend, calibration_tiles=s.calibration_tiles))
    return StepResult(q, "static", {"config": parent.config, "calibration_tiles": s.calibration_tiles})


@register("qat", QAT, "qat", "QAT int8 (FX)", final=True, int8=True, trains="finetune")
def _qat(ctx: BuildContext, parent: nn.Module, s: QAT) -> StepResult:
    prepared = fx_prepare_qat(copy.deepcopy(parent), s.backend)
    cfg, target = _float32(ctx.train_cfg(s.steps or ctx.budget.finetune_steps, s.lr)), {}
    if s.distil:     # the shipped parents' children follow their parent's outputs (as prune(distil=True) does)
        cfg, target = _on_parent_waveforms(cfg, parent)
    r = train(prepared, ctx.sampler(), cfg, **target)
    return StepResult(convert(r["model"].cpu()), "qat", {"config": parent.config, "loss_history": r["history"],
                                                         "distilled": s.distil, "lr": s.lr, "train_steps": r["steps"],
                                                         "train_seconds": r["seconds"]})


@register("pt2e", PT2E, "pt2e", "Static int8 (torchao PT2E, compiled)", final=True, int8=True)
def _pt2e(ctx: BuildContext, parent: nn.Module, s: PT2E) -> StepResult:
    return StepResult(pt2e_int8(parent, ctx.calibration(s.calibration_tiles, normaliser_for(parent))), "pt2e",
                      {"config": parent.config, "calibration_tiles": s.calibration_tiles})


@register("pt2e-qat", PT2EQAT, "pt2eqat", "QAT int8 (torchao PT2E, compiled)", final=True, int8=True,
          trains="finetune")
def _pt2e_qat(ctx: BuildContext, parent: nn.Module, s: PT2EQAT) -> StepResult:
    r = train(pt2e_prepare_qat(parent), ctx.sampler(), _float32(ctx.train_cfg(ctx.budget.finetune_steps, s.lr)))
    return StepResult(Pt2eInt8(r["model"].cpu(), parent.config).eval(), "pt2e-qat",
                      {"config": parent.config, "loss_history": r["history"]})


@register("bf16-autocast", Bf16, "bf16", "bf16 autocast (CPU)", final=True)
def _bf16(ctx: BuildContext, parent: nn.Module, s: Bf16) -> StepResult:
    return StepResult(Bf16Model(copy.deepcopy(parent)), "bf16", {"config": parent.config})


@register("onnx", Onnx, "onnx", "ONNX Runtime fp32", final=True)
def _onnx(ctx: BuildContext, parent: nn.Module, s: Onnx) -> StepResult:
    return StepResult(OrtTileModel(tile_graph(parent)), "onnx", {"config": parent.config})


@register("ort-int8", OrtInt8, "ortq", "ONNX Runtime static int8 (QDQ)", final=True, int8=True)
def _ort_int8(ctx: BuildContext, parent: nn.Module, s: OrtInt8) -> StepResult:
    graph = quantize_graph(tile_graph(parent), ctx.calibration(s.calibration_tiles, normaliser_for(parent)), s.per_channel)
    return StepResult(OrtTileModel(graph), "onnx-int8", {"config": parent.config,
                                                         "calibration_tiles": s.calibration_tiles})
