"""The variant table: every row of the report's Table 2 plus static-int8 / QAT rows, each a parent
architecture and a chain of compression steps. One table drives the zoo, the benchmarks and the report."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ChvoiceError

STEP_KINDS = ("distil", "prune", "quant-dynamic", "quant-static", "qat")
QUANT_STEPS = ("quant-dynamic", "quant-static", "qat")


@dataclass(frozen=True)
class Step:
    kind: str
    params: tuple[tuple[str, object], ...] = ()

    @property
    def p(self) -> dict:
        return dict(self.params)

    @property
    def slug(self) -> str:
        return {"distil": "kd", "prune": "prune", "quant-dynamic": "quant", "quant-static": "int8",
                "qat": "qat"}[self.kind] + "".join(f"_{k}{v}" for k, v in self.params)


def step(kind: str, **params) -> Step:
    if kind not in STEP_KINDS:
        raise ChvoiceError(f"unknown compression step {kind!r}; known: {', '.join(STEP_KINDS)}")
    return Step(kind, tuple(sorted(params.items())))


# The report's pruning: 30 filters after each of 4 epochs; prune50 aims at half the MACs.
PRUNE_REPORT = step("prune", criterion="taylor", filters_per_round=30, rounds=4)
PRUNE_HALF = step("prune", criterion="taylor", target_mac_reduction=0.5, rounds=4, round_to=8)
DISTIL = step("distil", student_width=32, alpha=0.0)
DYNAMIC = step("quant-dynamic")
STATIC = step("quant-static", backend="x86")
QAT = step("qat", backend="x86")


@dataclass(frozen=True)
class Variant:
    id: str
    arch: str                      # parent architecture trained from scratch: normal | smaller
    steps: tuple[Step, ...]
    model_label: str               # the report's row group ("Normal Model", "Smaller Model")
    compression: str               # the report's row label ("None", "Pruning", ...)
    in_report: bool                # a row of the report's Table 2
    parent: str | None = None      # uncompressed parent (for speed-ups and paired tests)
    notes: str = field(default="", compare=False)

    def validate(self) -> None:
        seen_quant = None
        for s in self.steps:
            if seen_quant is not None:
                raise ChvoiceError(f"variant {self.id}: step {s.kind!r} after {seen_quant!r} — a quantized model "
                                   f"cannot be distilled, pruned or quantized again")
            if s.kind in QUANT_STEPS:
                seen_quant = s.kind
        if [s.kind for s in self.steps].count("distil") > 1:
            raise ChvoiceError(f"variant {self.id}: only one distillation step")

    def prefix_ids(self) -> list[str]:
        """Cache keys of every intermediate model: arch, arch+step1, ..."""
        keys = [self.arch]
        for s in self.steps:
            keys.append(f"{keys[-1]}+{s.slug}")
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
    _v("normal-qat", "normal", [QAT], N, "QAT int8", False),
    _v("normal-prune50", "normal", [PRUNE_HALF], N, "Pruning (50 % MACs)", False),
    _v("normal-kd-int8", "normal", [DISTIL, STATIC], N, "KD + static int8", False),
    _v("normal-kd-prune-int8", "normal", [DISTIL, PRUNE_HALF, STATIC], N, "KD + pruning (50 %) + static int8", False),
    _v("normal-kd-prune-qat", "normal", [DISTIL, PRUNE_HALF, QAT], N, "KD + pruning (50 %) + QAT int8", False),
    # beyond the report: the time-causal U-Net of live mode (streams frame by frame, 31.75 ms), compressed alike
    _v("causal", "causal", [], C, "None (time-causal)", False),
    _v("causal-int8", "causal", [STATIC], C, "Static int8", False),
    _v("causal-prune50-int8", "causal", [PRUNE_HALF, STATIC], C, "Pruning (50 % MACs) + static int8", False),
]}


def get_variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise ChvoiceError(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}") from None


def report_variants() -> list[str]:
    return [k for k, v in VARIANTS.items() if v.in_report]
