"""The real track's registry: the shipped full-width parents and the compressed children derived from them.

Children that need training (distillation, pruning) are built once by `chvoice zoo --real` (budget `real`:
full width, real speech and noise, bf16 on CPUs with bf16 units, resumable) and shipped in the package under
`assets/children/`; each child's meta names its parent (name and file digest), recipe and training record.
Calibration-only steps (static int8 and the like) are applied in the benchmark run itself (`CHEAP_STEPS`), to
every parent and shipped child, calibrated on training-side tiles."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..dsp import FrontEnd
from ..errors import ChvoiceError
from ..models.io import config_from_dict, file_digest, read_checkpoint
from ..pretrained import SHIPPED, assets_dir
from .recipes import Variant, user_variant
from .steps import DEFAULT_QUANT_STEP, Bf16, Onnx, Overlap, parse_recipe, to_recipe

ASSETS = assets_dir()
CHILDREN_DIR = ASSETS / "children"
REAL_PROFILE = "general"    # the shipped models' training distribution: every noise category, rooms, babble

# parent name -> its float weights in the package (fp16 storage); the "default" parent is the float model the
# shipped int8 default was quantized from (pretrained.SHIPPED["default-float"])
REAL_PARENTS: dict[str, Path] = {"default": ASSETS / SHIPPED["default-float"], "live": ASSETS / SHIPPED["live"]}

# in-run, calibration-only steps applied to every float parent and shipped child (the row id gets the step's name)
CHEAP_STEPS: tuple[str, ...] = (DEFAULT_QUANT_STEP,)


@dataclass(frozen=True)
class RealChild:
    id: str          # "<parent>-<what>", the file name under assets/children/
    parent: str      # a key of REAL_PARENTS
    recipe: str      # compress.steps recipe string
    notes: str = ""

    @property
    def path(self) -> Path:
        return CHILDREN_DIR / f"{self.id}.pt"

    def variant(self) -> Variant:
        """The zoo variant that builds this child from its parent's shipped weights."""
        return user_variant(self.id, self.recipe, teacher=str(parent_path(self.parent)), label=self.id)


# Students and pruned models learn the parent's waveforms under the parents' own perceptual loss (the report's
# dB-MSE distillation kept 11 % of the default's SI-SDR gain at width 8: docs/experiments.md). round_to=8 keeps oneDNN's fast shapes.
def _kd(width: int) -> str:
    return f"distil(width={width},loss='perceptual')"


def _prune(macs: float) -> str:
    return f"prune(macs={macs},round_to=8,distil=True)"


def _int8_of(c: RealChild) -> RealChild:
    return RealChild(f"{c.id}-int8", c.parent, f"{c.recipe}+int8", f"{c.id}, static int8 calibrated on real training tiles")


# prune50's widths (24,32,48,48,72,64,64,80,64,64,56,48,48,48,32,32,24,32) with the full-resolution convs' inner
# widths halved and every tensor that meets a max-pool or a skip cat at a multiple of 32 (docs/experiments.md)
SLIM_WIDTHS = "16,32,48,32,72,64,64,64,64,64,56,32,48,32,32,32,16,16"

_TRAINED = [
    RealChild("default-kd16", "default", _kd(16), "width-16 student of the default's waveforms (perceptual loss)"),
    RealChild("default-kd8", "default", _kd(8), "width-8 student of the default's waveforms (perceptual loss)"),
    RealChild("default-prune50", "default", _prune(0.5), "Taylor-pruned to half the MACs in 4 rounds, fine-tuned on its waveforms"),
    RealChild("default-prune25", "default", _prune(0.25), "Taylor-pruned by a quarter of the MACs, fine-tuned on its waveforms"),
    RealChild("default-prune75", "default", _prune(0.75), "Taylor-pruned to a quarter of the MACs, fine-tuned on its waveforms"),
    RealChild("live-kd16", "live", _kd(16), "causal width-16 student of the live model's waveforms (streams)"),
    RealChild("live-prune50", "live", _prune(0.5), "the live model Taylor-pruned to half the MACs (streams)"),
    # prune50 thinned where int8 time goes (the two outermost levels) to widths on the int8 kernels' fast paths,
    # learning from the default itself (3 000 steps, two pruning rounds)
    RealChild("default-prune50-slim", "default", f"{_prune(0.5)}+prune(rounds=2,distil=True,widths='{SLIM_WIDTHS}',"
              "steps=3000,teacher='root')",
              "default-prune50 pruned again at full and half resolution to int8-friendly widths, fine-tuned on the default's waveforms"),
    # QAT of the child that keeps the most (prune25): int8 learned towards the pruned model's own waveforms
    RealChild("default-prune25-qat", "default", f"{_prune(0.25)}+qat(steps=300,distil=True)",
              "default-prune25 quantization-aware trained to int8 (300 steps towards its float waveforms)"),
]


def _overlap_int8(c: RealChild, hop: int) -> RealChild:
    tile = FrontEnd().tile_frames
    return RealChild(f"{c.id}-ovl{hop}-int8", c.parent, f"{c.recipe}+overlap(hop={hop})+int8",
                     f"{c.id} on tiles {hop} frames apart ({tile - hop} of {tile} frames shared, not "
                     f"{tile - FrontEnd().tile_hop}), static int8")


# the trained children whose static int8 ships too (calibrated on real training tiles when built); the others get
# theirs in the benchmark run (CHEAP_STEPS)
_SHIPPED_INT8 = ("default-kd16", "default-kd8", "default-prune25", "default-prune50", "default-prune75", "live-kd16")
# children that run fewer model calls per second of audio (derived from the shipped float child: no training).
# default-prune50-ovl96-int8 (run 6: 12.5x keeping 78 %) gave way to the slim child's, faster and better
_OVERLAP = {"default-prune50-slim": (96, 126)}
REAL_CHILDREN: dict[str, RealChild] = {c.id: c for t in _TRAINED
                                       for c in ([t, _int8_of(t)] if t.id in _SHIPPED_INT8 else [t])
                                       + [_overlap_int8(t, hop) for hop in _OVERLAP.get(t.id, ())]}


def child_hops(parent: str) -> tuple[int, ...]:
    """The tile hops the parent's children run at (their `overlap` steps), sorted."""
    return tuple(sorted({st.hop for c in REAL_CHILDREN.values() if c.parent == parent
                         for st in parse_recipe(c.recipe) if isinstance(st, Overlap)}))


def free_deployments(parent: str, bf16: bool) -> tuple[str, ...]:
    """The parent's training-free deployment choices, as recipes on its float weights: ONNX Runtime fp32 (tile
    models), bf16 autocast (where the CPU has bf16 arithmetic: `bf16`), and every tile hop its children use, in
    bf16 where the CPU has it (there a hop in fp32 is slower at the same quality: bf16 moved PESQ-WB by 0.001 on
    testsets/real), else in fp32. What a user gets without compressing; each child's speed-up is also reported
    against the fastest of them that keeps the parent's quality (reports.real)."""
    cfg = config_from_dict(read_checkpoint(parent_path(parent)), parent)
    tile = not cfg.causal and not cfg.phase
    hops = child_hops(parent) if tile else ()
    chains = ([[Onnx()]] if tile else []) + ([[Bf16()]] if bf16 else [])
    for hop in hops:
        chains.append([Overlap(hop), Bf16()] if bf16 else [Overlap(hop)])
    return tuple(to_recipe(c) for c in chains)


def parent_path(name: str) -> Path:
    try:
        return REAL_PARENTS[name]
    except KeyError:
        raise ChvoiceError(f"unknown real parent {name!r}; known: {', '.join(REAL_PARENTS)}") from None


def get_child(name: str) -> RealChild:
    try:
        return REAL_CHILDREN[name]
    except KeyError:
        raise ChvoiceError(f"unknown real child {name!r}; known: {', '.join(REAL_CHILDREN)}") from None


def shipped_children() -> list[RealChild]:
    """The children whose artifact is in the package and was built from the parent shipped today."""
    digests = {name: file_digest(path) for name, path in REAL_PARENTS.items()}    # each parent hashed once
    return [c for c in REAL_CHILDREN.values() if c.path.is_file() and child_is_current(c, digests[c.parent])]


def child_is_current(child: RealChild, parent_digest: str | None = None) -> bool:
    """A shipped child counts only if its meta names today's parent file (a retrained parent orphans it)."""
    meta = read_checkpoint(child.path).get("meta", {})
    return meta.get("parent_digest") == (parent_digest or file_digest(parent_path(child.parent)))


def shard(children: list[RealChild], index: int, count: int) -> list[RealChild]:
    """Children j with j % count == index - 1 (1-based index): one child a shard when count = len(children)."""
    if not (count >= 1 and 1 <= index <= count):
        raise ChvoiceError(f"shard {index}/{count}: need 1 <= i <= n")
    return [c for j, c in enumerate(children) if j % count == index - 1]
