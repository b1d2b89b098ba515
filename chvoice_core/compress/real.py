"""The real track's registry: the shipped full-width parents and the compressed children derived from them.

Children that need training (distillation, pruning) are built once by `chvoice zoo build --real` (budget `real`:
full width, real speech and noise, bf16 on CPUs with bf16 units, resumable) and shipped in the package under
`assets/children/`; each child's meta names its parent (name and file digest), recipe and training record.
Calibration-only steps (static int8 and the like) are applied in the benchmark run itself (`CHEAP_STEPS`), to
every parent and shipped child, calibrated on training-side tiles."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ChvoiceError
from ..models.io import file_digest
from .recipes import Variant, user_variant
from .steps import DEFAULT_QUANT_STEP

ASSETS = Path(__file__).resolve().parent.parent / "assets"
CHILDREN_DIR = ASSETS / "children"
REAL_PROFILE = "general"    # the shipped models' training distribution: every noise category, rooms, babble

# name -> the parent's float weights in the package (fp16 storage)
REAL_PARENTS: dict[str, Path] = {"default": ASSETS / "default-float.pt", "live": ASSETS / "live.pt"}

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
REAL_CHILDREN: dict[str, RealChild] = {c.id: c for c in [
    RealChild("default-kd16", "default", "distil(width=16,loss='perceptual')",
              "width-16 student of the default's waveforms (perceptual loss)"),
    RealChild("default-kd8", "default", "distil(width=8,loss='perceptual')",
              "width-8 student of the default's waveforms (perceptual loss)"),
    RealChild("default-kd16-int8", "default", "distil(width=16,loss='perceptual')+int8",
              "the width-16 student, static int8 calibrated on real training tiles"),
    RealChild("default-kd8-int8", "default", "distil(width=8,loss='perceptual')+int8",
              "the width-8 student, static int8 calibrated on real training tiles"),
    RealChild("default-prune50", "default", "prune(macs=0.5,round_to=8,distil=True)",
              "Taylor pruning to half the MACs in 4 rounds, fine-tuned on the parent's outputs"),
    RealChild("default-prune75", "default", "prune(macs=0.75,round_to=8,distil=True)",
              "Taylor pruning to a quarter of the MACs in 4 rounds, fine-tuned on the parent's outputs"),
    RealChild("live-kd16", "live", "distil(width=16,loss='perceptual')",
              "causal width-16 student of the live model's waveforms (streams)"),
    RealChild("live-kd16-int8", "live", "distil(width=16,loss='perceptual')+int8",
              "the causal width-16 student, static int8 (streams)"),
    RealChild("live-prune50", "live", "prune(macs=0.5,round_to=8,distil=True)",
              "the live model pruned to half the MACs (streams)"),
]}


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
    from ..models.io import read_checkpoint
    meta = read_checkpoint(child.path).get("meta", {})
    return meta.get("parent_digest") == (parent_digest or file_digest(parent_path(child.parent)))


def shard(children: list[RealChild], index: int, count: int) -> list[RealChild]:
    """Children j with j % count == index - 1 (1-based index): one child a shard when count = len(children)."""
    if not (count >= 1 and 1 <= index <= count):
        raise ChvoiceError(f"shard {index}/{count}: need 1 <= i <= n")
    return [c for j, c in enumerate(children) if j % count == index - 1]
