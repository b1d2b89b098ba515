"""The variant table: every row of the report's Table 2 plus static-int8 / QAT / PT2E / ONNX Runtime rows and the
causal model's rows, each a parent architecture and a chain of registered compression steps (compress.steps).
One table drives the zoo, the benchmarks and the report; user recipes (a recipe string or a TOML file, from a
table architecture or a checkpoint of one's own) become variants of the same kind."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ChvoiceError
from ..models.archs import ARCHS
from ..models.io import file_digest
from .steps import (PT2E, QAT, Distil, Dynamic, Int8, Onnx, OrtInt8, Prune, StepConfig, parse_recipe, slug,
                    to_recipe, validate_chain)

# The report's pruning: 30 filters after each of 4 epochs; prune50 aims at half the MACs.
PRUNE_REPORT = Prune(filters_per_round=30, rounds=4)
PRUNE_HALF = Prune(macs=0.5, rounds=4, round_to=8)
DISTIL = Distil(width=32)
DYNAMIC = Dynamic()
STATIC = Int8()
QAT_INT8 = QAT()


@dataclass(frozen=True)
class Variant:
    id: str
    arch: str                      # parent architecture trained from scratch: normal | smaller
    steps: tuple[StepConfig, ...]
    model_label: str               # the report's row group ("Normal Model", "Smaller Model")
    compression: str               # the report's row label ("None", "Pruning", ...)
    in_report: bool                # a row of the report's Table 2
    parent: str | None = None      # uncompressed parent (for speed-ups and paired tests)
    notes: str = field(default="", compare=False)
    teacher: str | None = None     # a user's float checkpoint to start from instead of training `arch`
    teacher_digest: str | None = None

    def validate(self) -> None:
        validate_chain(self.steps, f"variant {self.id}")

    @property
    def recipe(self) -> str:
        return to_recipe(self.steps)

    def prefix_ids(self) -> list[str]:
        """Cache keys of every intermediate model: arch (or the user teacher's digest), arch+step1, ..."""
        keys = [self.arch if self.teacher is None else f"user-{self.teacher_digest}"]
        for s in self.steps:
            keys.append(f"{keys[-1]}+{slug(s)}")
        return keys


def _v(id, arch, steps, label, compression, in_report, notes=""):
    v = Variant(id, arch, tuple(steps), label, compression, in_report, parent=None if not steps else arch, notes=notes)
    v.validate()
    return v


N, S, C = "Normal Model", "Smaller Model", "Causal Model"
VARIANTS: dict[str, Variant] = {v.id: v for v in [
    # the report's Table 2
    _v("normal", "normal", [], N, "None", True),
    _v("normal-prune", "normal", [PRUNE_REPORT], N, "Pruning", True),
    _v("normal-quant", "normal", [DYNAMIC], N, "Quantization", True),
    _v("normal-kd", "normal", [DISTIL], N, "Knowledge Distillation", True),
    _v("normal-prune-quant", "normal", [PRUNE_REPORT, DYNAMIC], N, "Pruning and Quantization", True),
    _v("normal-kd-quant", "normal", [DISTIL, DYNAMIC], N, "Quantization and Knowledge Distillation", True),
    _v("smaller", "smaller", [], S, "None", True),
    _v("smaller-prune", "smaller", [PRUNE_REPORT], S, "Pruning", True),
    _v("smaller-quant", "smaller", [DYNAMIC], S, "Quantization", True),
    _v("smaller-prune-quant", "smaller", [PRUNE_REPORT, DYNAMIC], S, "Pruning and Quantization", True),
    # beyond the report: int8 convolutions, QAT, and aggressive pruning
    _v("normal-int8", "normal", [STATIC], N, "Static int8", False),
    _v("normal-qat", "normal", [QAT_INT8], N, "QAT int8", False),
    _v("normal-prune50", "normal", [PRUNE_HALF], N, "Pruning (50 % MACs)", False),
    _v("normal-kd-int8", "normal", [DISTIL, STATIC], N, "KD + static int8", False),
    _v("normal-kd-prune-int8", "normal", [DISTIL, PRUNE_HALF, STATIC], N, "KD + pruning (50 %) + static int8", False),
    _v("normal-kd-prune-qat", "normal", [DISTIL, PRUNE_HALF, QAT_INT8], N, "KD + pruning (50 %) + QAT int8", False),
    # beyond the report: int8 through torchao PT2E (compiled) and ONNX Runtime (float and QDQ int8), same teacher
    _v("normal-pt2e", "normal", [PT2E()], N, "Static int8 (torchao PT2E)", False),
    _v("normal-onnx", "normal", [Onnx()], N, "ONNX Runtime fp32", False),
    _v("normal-ort-int8", "normal", [OrtInt8()], N, "ONNX Runtime int8 (QDQ)", False),
    # beyond the report: the time-causal U-Net of live mode (streams frame by frame, 31.75 ms), compressed alike
    _v("causal", "causal", [], C, "None (time-causal)", False),
    _v("causal-int8", "causal", [STATIC], C, "Static int8", False),
    _v("causal-prune50-int8", "causal", [PRUNE_HALF, STATIC], C, "Pruning (50 % MACs) + static int8", False),
]}


def get_variant(name: str, extra: tuple[Variant, ...] = ()) -> Variant:
    """A variant of the table, or one of `extra` (user recipes)."""
    for v in extra:
        if v.id == name:
            return v
    try:
        return VARIANTS[name]
    except KeyError:
        known = list(VARIANTS) + [v.id for v in extra]
        raise ChvoiceError(f"unknown variant {name!r}; known: {', '.join(known)}") from None


def report_variants() -> list[str]:
    return [k for k, v in VARIANTS.items() if v.in_report]


def user_variant(name: str, recipe: str, arch: str = "normal", teacher: str | None = None,
                 label: str | None = None) -> Variant:
    """A variant from a recipe string (`distil(width=16)+prune(macs=0.5)+int8`), starting from a parent
    architecture trained by the zoo, or from a user's float checkpoint `teacher` (its file digest keys the cache)."""
    from pathlib import Path

    if not name or not all(c.isalnum() or c in "-_." for c in name):
        raise ChvoiceError(f"recipe name {name!r}: use letters, digits, '-', '_' or '.'")
    if name in VARIANTS:
        raise ChvoiceError(f"recipe name {name!r} is a variant of the table; choose another")
    steps = parse_recipe(recipe) if recipe.strip() not in ("", "-") else ()
    digest = None
    if teacher is not None:
        p = Path(teacher)
        if not p.is_file():
            raise ChvoiceError(f"teacher {teacher}: no such file")
        digest = file_digest(p, 12)
        arch = "user"
    elif arch not in ARCHS:
        raise ChvoiceError(f"unknown architecture {arch!r}; known: {', '.join(ARCHS)}")
    v = Variant(name, arch, tuple(steps), "User recipe", label or to_recipe(steps), False,
                parent=arch if steps and teacher is None else None,
                teacher=None if teacher is None else str(Path(teacher).resolve()), teacher_digest=digest)
    v.validate()
    return v


def load_recipes(path: str) -> list[Variant]:
    """User variants from a TOML file:

        [[recipe]]
        name = "kd16-prune-int8"
        steps = "distil(width=16)+prune(macs=0.5)+int8"
        arch = "normal"                 # or: teacher = "my-model.pt"
    """
    from pathlib import Path

    import tomllib
    try:
        doc = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ChvoiceError(f"recipes file {path}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ChvoiceError(f"recipes file {path}: not valid TOML ({e})") from None
    items = doc.get("recipe")
    if not isinstance(items, list) or not items:
        raise ChvoiceError(f"recipes file {path}: expected [[recipe]] tables with name and steps")
    out, base = [], Path(path).resolve().parent
    for i, r in enumerate(items):
        unknown = set(r) - {"name", "steps", "arch", "teacher", "label"}
        if unknown or "name" not in r or "steps" not in r:
            raise ChvoiceError(f"recipes file {path}: recipe {i + 1} needs name and steps (and optionally arch "
                               f"or teacher, label){'; unknown: ' + ', '.join(sorted(unknown)) if unknown else ''}")
        teacher = r.get("teacher")
        if teacher is not None and not Path(teacher).is_absolute():
            teacher = str(base / teacher)
        out.append(user_variant(r["name"], r["steps"], r.get("arch", "normal"), teacher, r.get("label")))
    if len({v.id for v in out}) != len(out):
        raise ChvoiceError(f"recipes file {path}: recipe names must be distinct")
    return out
