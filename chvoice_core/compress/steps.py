"""The registry of compression steps: each step is a small config dataclass handled by one registered function,
and each quantized artifact format by one registered loader (the torchao pattern). The variant table, the zoo,
the artifact loader, the benchmark suite, the report and user recipes all go through this module; no other module
names a step by string.

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

import ast
import copy
import re
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any, Callable

import torch
from torch import nn

from ..errors import ChvoiceError
from ..models.unet import normaliser_for


# ----------------------------------------------------------------------------------------------- step configs
@dataclass(frozen=True)
class Distil:
    width: int = 32          # the student's base width at full scale (a budget divides it like every width)
    alpha: float = 0.0       # weight of the clean target (0: the report's pure teacher targets)
    loss: str = "db-mse"     # db-mse on dB tiles (the report's KD) | perceptual (the teacher's waveforms, PERCEPTUAL)

    def __post_init__(self) -> None:
        from .distill import DistillConfig
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

    def __post_init__(self) -> None:
        from .pruning import PruneConfig
        PruneConfig(criterion=self.criterion, filters_per_round=self.filters_per_round, rounds=self.rounds,
                    target_mac_reduction=self.macs, round_to=self.round_to, per_mac=self.per_mac)    # one set of checks


@dataclass(frozen=True)
class Overlap:
    hop: int = 64                # frames between the starts of the 128-frame tiles offline (UNetConfig.tile_hop)

    def __post_init__(self) -> None:
        if not 1 <= self.hop <= 128:
            raise ChvoiceError(f"overlap hop {self.hop}: must be 1..128 frames (a tile is 128)")


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
class OrtInt8:
    calibration_tiles: int = 64
    per_channel: bool = True


StepConfig = Any   # any registered config dataclass instance


@dataclass
class BuildContext:
    """What a step may use from the zoo that runs it: the budget, the profile's training pairs and calibration
    tiles, and a training configuration."""

    budget: Any                                        # budgets.Budget
    seed: int
    profile: str
    sampler: Callable[[], Any]                         # -> data.pairs.PairSampler
    calibration: Callable[[int, Callable], torch.Tensor]   # (n, the model's normaliser) -> tiles [n, 1, F, T]
    train_cfg: Callable[[int, float], Any]             # (steps, lr) -> train.TrainConfig
    workdir: Any = None                                # Path for a training step's checkpoints (resume), or None

    def resume_args(self) -> dict[str, Any]:
        """train() keywords that checkpoint into the workdir and resume from it (none without a workdir)."""
        return {} if self.workdir is None else {"out_dir": self.workdir, "resume": True}


@dataclass
class StepResult:
    model: nn.Module
    quant: str | None = None                 # artifact format name (a registered QuantFormat) or None: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepKind:
    name: str                # as written in recipes
    config: type
    apply: Callable[[BuildContext, nn.Module, Any], StepResult]
    slug: str                # short name in cache keys
    label: str               # human name ("Static int8 (FX)")
    final: bool = False      # ends a chain (quantization, export): nothing can follow it
    int8: bool = False       # its convolutions run int8 kernels
    reshapes: bool = False   # the resulting architecture depends on the data (pruning)
    dynamic: bool = False    # the report's dynamic quantization (no conv runs int8)
    trains: str = ""         # "student": trains budget.student_steps; "finetune": budget.finetune_steps

    def train_steps(self, budget) -> int:
        """Optimiser steps this step runs at `budget` (0: none): what the zoo schedules its builds by."""
        return {"student": budget.student_steps, "finetune": budget.finetune_steps}.get(self.trains, 0)


STEPS: dict[str, StepKind] = {}
_BY_CONFIG: dict[type, StepKind] = {}


def register(name: str, config: type, slug: str, label: str, **flags) -> Callable:
    def deco(fn: Callable) -> Callable:
        kind = StepKind(name, config, fn, slug, label, **flags)
        STEPS[name] = kind
        _BY_CONFIG[config] = kind
        return fn
    return deco


def kind_of(cfg: StepConfig) -> StepKind:
    try:
        return _BY_CONFIG[type(cfg)]
    except KeyError:
        raise ChvoiceError(f"{cfg!r} is not a registered compression step") from None


def slug(cfg: StepConfig) -> str:
    """Cache-key name of a configured step: its slug plus every non-default parameter."""
    k = kind_of(cfg)
    parts = [f"_{f.name}{getattr(cfg, f.name)}" for f in fields(cfg)
             if f.default is MISSING or getattr(cfg, f.name) != f.default]
    return k.slug + "".join(parts)


def to_recipe(steps: tuple[StepConfig, ...] | list[StepConfig]) -> str:
    """The recipe string of a chain (parse_recipe's inverse); '-' for none."""
    out = []
    for s in steps:
        args = ",".join(f"{f.name}={getattr(s, f.name)!r}" for f in fields(s)
                        if getattr(s, f.name) != f.default)
        out.append(kind_of(s).name + (f"({args})" if args else ""))
    return "+".join(out) or "-"


_TERM = re.compile(r"^\s*([a-z0-9-]+)\s*(?:\((.*)\))?\s*$", re.S)


DEFAULT_QUANT_STEP = "int8"     # what `chvoice quantize` applies unless told otherwise
ALIASES = {"static": "int8", "quant": "dynamic", "kd": "distil"}   # older names still accepted


def step_kind(name: str) -> StepKind:
    """The registered step of a name (or an older alias)."""
    name = ALIASES.get(name, name)
    if name not in STEPS:
        raise ChvoiceError(f"unknown compression step {name!r}; known: {', '.join(STEPS)}")
    return STEPS[name]


def make_step(name: str, **params) -> StepConfig:
    """A configured step by name: make_step('prune', macs=0.5) -> Prune(macs=0.5)."""
    kind = step_kind(name)
    name, cls = kind.name, kind.config
    known = {f.name: f for f in fields(cls)}
    for k, v in params.items():
        if k not in known:
            raise ChvoiceError(f"step {name}: unknown parameter {k!r}; known: {', '.join(known) or 'none'}")
        want = type(known[k].default)
        if want is float and isinstance(v, int) and not isinstance(v, bool):
            params[k] = float(v)
        elif not isinstance(v, want) or (want is int and isinstance(v, bool)):
            raise ChvoiceError(f"step {name}: {k}={v!r} should be {want.__name__}")
    return cls(**params)


def parse_recipe(text: str) -> tuple[StepConfig, ...]:
    """'distil(width=16)+prune(macs=0.5)+int8' -> (Distil(width=16), Prune(macs=0.5), Int8()); validated."""
    if not text or not text.strip():
        raise ChvoiceError("empty recipe: give steps like 'distil(width=16)+prune(macs=0.5)+int8'")
    steps = []
    for term in _split_terms(text):
        m = _TERM.match(term)
        if not m:
            raise ChvoiceError(f"recipe term {term.strip()!r}: write name or name(key=value, ...)")
        params = {}
        if m.group(2) and m.group(2).strip():
            try:
                call = ast.parse(f"f({m.group(2)})", mode="eval").body
                if call.args:
                    raise ValueError("positional arguments")
                params = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
            except (SyntaxError, ValueError) as e:
                raise ChvoiceError(f"recipe term {term.strip()!r}: parameters must be key=literal ({e})") from None
        steps.append(make_step(m.group(1), **params))
    validate_chain(steps)
    return tuple(steps)


def _split_terms(text: str) -> list[str]:
    terms, depth, cur = [], 0, ""
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if ch == "+" and depth == 0:
            terms.append(cur)
            cur = ""
        else:
            cur += ch
    return terms + [cur]


def validate_chain(steps, name: str = "recipe") -> None:
    """A quantized model cannot be distilled, pruned or quantized again; one distillation at most."""
    seen_quant = None
    for s in steps:
        k = kind_of(s)
        if seen_quant is not None:
            raise ChvoiceError(f"{name}: step {k.name!r} after {seen_quant!r} — a quantized model cannot be "
                               f"distilled, pruned or quantized again")
        if k.final:
            seen_quant = k.name
    if sum(isinstance(s, Distil) for s in steps) > 1:
        raise ChvoiceError(f"{name}: only one distillation step")


def reshapes(steps) -> bool:
    return any(kind_of(s).reshapes for s in steps)


def dynamic_only(steps) -> bool:
    return any(kind_of(s).dynamic for s in steps)


def runs_int8(steps) -> bool:
    return any(kind_of(s).int8 for s in steps)


def describe(steps) -> dict:
    """What the benchmark records about a chain: step names, recipe string and flags the report reads."""
    return {"recipe": [kind_of(s).name for s in steps], "recipe_string": to_recipe(steps),
            "int8_recipe": runs_int8(steps), "dynamic_quant": dynamic_only(steps), "reshapes": reshapes(steps)}


# ----------------------------------------------------------------------------------------------- the steps
# the SI-SDR weight of perceptual distillation: the shipped parents' own (their meta: sisdr_weight 0.6)
PERCEPTUAL_DISTIL_SISDR = 0.6


def _on_parent_waveforms(cfg, parent: nn.Module, alpha: float = 0.0) -> tuple[Any, dict[str, Any]]:
    """(config, train() keywords) that train towards the parent's waveforms under the perceptual loss."""
    from .distill import teacher_waveform
    return (replace(cfg, loss="perceptual", sisdr_weight=PERCEPTUAL_DISTIL_SISDR),
            {"wave_target": teacher_waveform(copy.deepcopy(parent), alpha)})


def _float32(cfg):
    """A training config without bf16 autocast: fake-quantization observers must see float32 ranges."""
    return replace(cfg, amp="none")


@register("distil", Distil, "kd", "Knowledge distillation", trains="student")
def _distil(ctx: BuildContext, parent: nn.Module, s: Distil) -> StepResult:
    from ..models.unet import UNet, start_as_identity
    from ..train import train
    from .distill import teacher_target
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
    from ..train import train
    from .pruning import PruneConfig, Pruner
    div = ctx.budget.width_divisor
    pc = PruneConfig(criterion=s.criterion, filters_per_round=max(1, s.filters_per_round // div) if s.filters_per_round else 0,
                     rounds=s.rounds, target_mac_reduction=s.macs, round_to=max(1, s.round_to // div), per_mac=s.per_mac)
    model = copy.deepcopy(parent).train()
    steps = ctx.budget.finetune_steps
    pruner = Pruner(model, pc, steps)
    # a parent trained on another loss (the shipped models: perceptual) keeps its behaviour only when the
    # fine-tune follows its outputs; the report's pruning fine-tunes on the clean targets
    cfg, target = ctx.train_cfg(steps, 4e-4), {}
    if s.distil:
        cfg, target = _on_parent_waveforms(cfg, parent)
    r = train(model, ctx.sampler(), cfg, on_step=pruner.on_step, **target)
    pruner.close()
    return StepResult(r["model"].cpu().eval(), None, {"loss_history": r["history"], "prune_log": pruner.log,
                                                      "prune_config": pc.to_dict(), "distilled": s.distil,
                                                      "lr": 4e-4, "train_steps": r["steps"], "train_seconds": r["seconds"]})


@register("overlap", Overlap, "overlap", "Tile overlap")
def _overlap(ctx: BuildContext, parent: nn.Module, s: Overlap) -> StepResult:
    # the same weights, run on tiles that overlap less: (128 - hop) shared frames instead of 64, so about
    # 128 / hop model frames per frame of audio instead of 2 (no calibration, no training)
    from ..families import family_of
    if family_of(parent).name != "tile":
        raise ChvoiceError(f"overlap(hop={s.hop}): only tile models run on overlapping tiles "
                           f"(this one is {family_of(parent).name})")
    model = copy.deepcopy(parent)
    model.config = replace(parent.config, tile_hop=s.hop)
    return StepResult(model, None, {"config": model.config})


@register("dynamic", Dynamic, "quant", "Dynamic int8 (the report's)", final=True, dynamic=True)
def _dynamic(ctx: BuildContext, parent: nn.Module, s: Dynamic) -> StepResult:
    from .quantize import dynamic_int8
    return StepResult(dynamic_int8(copy.deepcopy(parent)), "dynamic", {"config": parent.config})


@register("int8", Int8, "int8", "Static int8 (FX)", final=True, int8=True)
def _int8(ctx: BuildContext, parent: nn.Module, s: Int8) -> StepResult:
    from .quantize import StaticQuantConfig, static_int8
    q = static_int8(copy.deepcopy(parent), ctx.calibration(s.calibration_tiles, normaliser_for(parent)),
                    StaticQuantConfig(backend=s.backend, calibration_tiles=s.calibration_tiles))
    return StepResult(q, "static", {"config": parent.config, "calibration_tiles": s.calibration_tiles})


@register("qat", QAT, "qat", "QAT int8 (FX)", final=True, int8=True, trains="finetune")
def _qat(ctx: BuildContext, parent: nn.Module, s: QAT) -> StepResult:
    from ..train import train
    from .quantize import convert, prepare_qat
    prepared = prepare_qat(copy.deepcopy(parent), s.backend)
    cfg, target = _float32(ctx.train_cfg(s.steps or ctx.budget.finetune_steps, s.lr)), {}
    if s.distil:     # the shipped parents' children follow their parent's outputs (as prune(distil=True) does)
        cfg, target = _on_parent_waveforms(cfg, parent)
    r = train(prepared, ctx.sampler(), cfg, **target)
    return StepResult(convert(r["model"].cpu()), "qat", {"config": parent.config, "loss_history": r["history"],
                                                         "distilled": s.distil, "lr": s.lr, "train_steps": r["steps"],
                                                         "train_seconds": r["seconds"]})


@register("pt2e", PT2E, "pt2e", "Static int8 (torchao PT2E, compiled)", final=True, int8=True)
def _pt2e(ctx: BuildContext, parent: nn.Module, s: PT2E) -> StepResult:
    from .pt2e import pt2e_int8
    return StepResult(pt2e_int8(parent, ctx.calibration(s.calibration_tiles, normaliser_for(parent))), "pt2e",
                      {"config": parent.config, "calibration_tiles": s.calibration_tiles})


@register("pt2e-qat", PT2EQAT, "pt2eqat", "QAT int8 (torchao PT2E, compiled)", final=True, int8=True,
          trains="finetune")
def _pt2e_qat(ctx: BuildContext, parent: nn.Module, s: PT2EQAT) -> StepResult:
    from ..train import train
    from .pt2e import Pt2eInt8, prepare_qat
    r = train(prepare_qat(parent), ctx.sampler(), _float32(ctx.train_cfg(ctx.budget.finetune_steps, s.lr)))
    return StepResult(Pt2eInt8(r["model"].cpu(), parent.config).eval(), "pt2e-qat",
                      {"config": parent.config, "loss_history": r["history"]})


@register("onnx", Onnx, "onnx", "ONNX Runtime fp32", final=True)
def _onnx(ctx: BuildContext, parent: nn.Module, s: Onnx) -> StepResult:
    from .ort import OrtTileModel, tile_graph
    return StepResult(OrtTileModel(tile_graph(parent)), "onnx", {"config": parent.config})


@register("ort-int8", OrtInt8, "ortq", "ONNX Runtime static int8 (QDQ)", final=True, int8=True)
def _ort_int8(ctx: BuildContext, parent: nn.Module, s: OrtInt8) -> StepResult:
    from .ort import OrtTileModel, quantize_graph, tile_graph
    graph = quantize_graph(tile_graph(parent), ctx.calibration(s.calibration_tiles, normaliser_for(parent)), s.per_channel)
    return StepResult(OrtTileModel(graph), "onnx-int8", {"config": parent.config,
                                                         "calibration_tiles": s.calibration_tiles})


# ----------------------------------------------------------------------------------------------- artifact formats
@dataclass(frozen=True)
class QuantFormat:
    """How an artifact of one quantization format is rebuilt before its state dict is loaded, and how its
    full-scale twin (untrained weights, for architecture latency) is made."""

    name: str
    skeleton: Callable[[nn.Module, dict], nn.Module]          # (float model, checkpoint) -> module to load into
    twin: Callable[[nn.Module, torch.Tensor], nn.Module]       # (float model, calibration tiles) -> model
    twin_format: str | None = None                             # the twin's format (QAT twins are static int8)


FORMATS: dict[str | None, QuantFormat] = {}


def _register_format(f: QuantFormat) -> None:
    FORMATS[f.name] = f


def quant_format(name: str | None) -> QuantFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise ChvoiceError(f"unknown quantization format {name!r} (saved by a newer chvoice?)") from None


def _static_skeleton(m, ckpt):
    from .quantize import skeleton_static
    return skeleton_static(m, ckpt.get("backend", "x86"))


def _static_twin(m, calib):
    from .quantize import static_int8
    return static_int8(m, calib)


def _dynamic_fn(m, _):
    from .quantize import dynamic_int8
    return dynamic_int8(m)


def _pt2e_skeleton(m, ckpt):
    from .pt2e import pt2e_skeleton
    return pt2e_skeleton(m)


def _pt2e_qat_skeleton(m, ckpt):
    from .pt2e import pt2e_skeleton
    return pt2e_skeleton(m, qat=True)


def _pt2e_twin(m, calib):
    from .pt2e import pt2e_int8
    return pt2e_int8(m, calib)


def _ort_skeleton(m, ckpt):
    from .ort import OrtTileModel
    return OrtTileModel.empty()


def _onnx_twin(m, calib):
    from .ort import OrtTileModel, tile_graph
    return OrtTileModel(tile_graph(m))


def _ort_int8_twin(m, calib):
    from .ort import OrtTileModel, quantize_graph, tile_graph
    return OrtTileModel(quantize_graph(tile_graph(m), calib, True))


for _f in (QuantFormat(None, lambda m, ckpt: m, lambda m, calib: m),
           QuantFormat("dynamic", _dynamic_fn, _dynamic_fn, "dynamic"),
           QuantFormat("static", _static_skeleton, _static_twin, "static"),
           QuantFormat("qat", _static_skeleton, _static_twin, "static"),
           QuantFormat("pt2e", _pt2e_skeleton, _pt2e_twin, "pt2e"),
           QuantFormat("pt2e-qat", _pt2e_qat_skeleton, _pt2e_twin, "pt2e"),   # QAT twins: the same PT2E kernels
           QuantFormat("onnx", _ort_skeleton, _onnx_twin, "onnx"),
           QuantFormat("onnx-int8", _ort_skeleton, _ort_int8_twin, "onnx-int8")):
    _register_format(_f)
