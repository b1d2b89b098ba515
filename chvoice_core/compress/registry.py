"""The machinery of the compression-step registry (`steps` fills it): what a step is (StepKind, registered with a
config dataclass and the function that applies it), what it gets from the zoo (BuildContext) and gives back
(StepResult), and the recipe language over it: `distil(width=16)+prune(macs=0.5)+int8` <-> configs (parse_recipe,
to_recipe, slug for cache keys, make_step, validate_chain). Import it through `compress.steps`, which registers the
steps themselves."""
from __future__ import annotations

import ast
import re
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Callable

import torch
from torch import nn

from ..errors import ChvoiceError

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
    root: Callable[[], nn.Module] | None = None        # -> the chain's first (float) model, when the caller knows it

    def root_model(self, what: str) -> nn.Module:
        """The chain's first model (a fresh copy); a ChvoiceError naming `what` when this build has none."""
        if self.root is None:
            raise ChvoiceError(f"{what} needs the chain's first model, and this build does not know it")
        return self.root()

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
    if sum(kind_of(s).trains == "student" for s in steps) > 1:
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
