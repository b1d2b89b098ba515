"""Structural filter pruning of the U-Net.

Importance: first-order Taylor (Molchanov et al. 2017: |mean over positions of activation x gradient| of
each filter's post-ReLU output, averaged over examples, L2-normalised per layer) or L1/L2 weight magnitude.
There is no second-order criterion: an earlier `taylor2` added a Fisher term (-s^2/2 per example) that is
negligible next to s at the scale of these scores, so it ranked filters as `taylor` does, and was removed. Removal is done with Torch-Pruning's
dependency graph, which follows the skip concatenations: the filter, its BatchNorm channel, the next
conv's input channels and the decoder conv that consumes the skip all shrink together.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..errors import ChvoiceError
from ..models.footprint import count_macs
from ..models.unet import UNet

CRITERIA = ("taylor", "l1", "l2")


@dataclass(frozen=True)
class PruneConfig:
    """Either remove `filters_per_round` filters per round, or (target_mac_reduction > 0) remove filters
    until MACs fall by that fraction, spread over `rounds` rounds. Rounds are spread over the fine-tune."""

    criterion: str = "taylor"
    filters_per_round: int = 30        # the report: 30 filters after each of 4 epochs
    rounds: int = 4
    target_mac_reduction: float = 0.0  # e.g. 0.5 halves the MACs
    round_to: int = 1                  # keep layer widths multiples of this (SIMD-friendly)
    min_channels: int = 2
    # rank filters by importance per MAC their removal saves (a knapsack greedy), not by importance alone: a
    # full-resolution filter costs 64-256x a deep one, and int8 time goes where the activations are large
    per_mac: bool = False
    # prune only the convs of the `levels` outermost U-Net levels (1: full resolution; 0: every level): int8 time
    # goes where the activations are large, so a child made faster than a MAC count says thins those first
    levels: int = 0
    # or prune each conv to a given width (prunable_convs order), in equal steps over the rounds: the int8 kernels'
    # fast paths want particular widths (quantized max-pool and cat run 3-10x slower unless channels are a
    # multiple of 32 on AVX-512), which a MAC target cannot ask for
    target_widths: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if any(w < 1 for w in self.target_widths):
            raise ChvoiceError(f"pruning target widths must be positive, got {self.target_widths}")
        if self.levels < 0:
            raise ChvoiceError(f"pruning levels must be 0 (all) or more, got {self.levels}")
        if self.criterion not in CRITERIA:
            raise ChvoiceError(f"unknown pruning criterion {self.criterion!r}; known: {', '.join(CRITERIA)}")
        if not 0.0 <= self.target_mac_reduction < 0.95:
            raise ChvoiceError(f"pruning target_mac_reduction must be in [0, 0.95), got {self.target_mac_reduction}")
        if self.filters_per_round < 0 or self.rounds < 1:
            raise ChvoiceError("pruning needs filters_per_round >= 0 and rounds >= 1")
        if self.target_mac_reduction == 0 and self.filters_per_round == 0 and not self.target_widths:
            raise ChvoiceError("pruning amount is zero: set filters_per_round, target_mac_reduction or target_widths")

    def to_dict(self) -> dict:
        return asdict(self)


def _blocks(model: UNet) -> list[nn.Sequential]:
    return [model.inc] + [d[1] for d in model.downs] + [u.conv for u in model.ups]


def prunable_convs(model: UNet) -> list[nn.Conv2d]:
    """The 3x3 convs in spec order (inc, downs, ups), each followed by BatchNorm and ReLU (causal blocks put
    a StreamPad before each conv)."""
    return [m for blk in _blocks(model) for m in blk if isinstance(m, nn.Conv2d)]


def conv_levels(model: UNet) -> list[int]:
    """The U-Net level of each prunable conv, in prunable_convs order (0: full resolution, depth: the bottleneck)."""
    d = model.config.depth
    levels = [0] + [i + 1 for i in range(d)] + [d - 1 - j for j in range(d)]
    return [lv for blk, lv in zip(_blocks(model), levels) for m in blk if isinstance(m, nn.Conv2d)]


def _relus(model: UNet) -> list[nn.Module]:
    return [m for blk in _blocks(model) for m in blk if isinstance(m, nn.ReLU)]


class TaylorTracker:
    """Accumulates per-filter Taylor scores over training steps through forward/backward hooks."""

    def __init__(self, model: UNet):
        self.sums = [torch.zeros(c.out_channels) for c in prunable_convs(model)]
        self.count = 0
        self.handles = []
        for i, relu in enumerate(_relus(model)):
            self.handles.append(relu.register_forward_hook(self._forward_hook(i)))

    def _forward_hook(self, i: int):
        def hook(mod, inp, out):
            if not out.requires_grad:
                return
            act = out.detach()

            def grad_hook(g):
                s = (act * g).mean(dim=(2, 3))          # [B, C]: mean over positions of a * dL/da
                self.sums[i] += s.abs().sum(0).cpu()
                if i == 0:
                    self.count += s.shape[0]
            out.register_hook(grad_hook)
        return hook

    def scores(self) -> list[torch.Tensor]:
        if self.count == 0:
            raise ChvoiceError("Taylor pruning needs at least one training step before a pruning round")
        raw = [s / self.count for s in self.sums]
        return [r / (r.norm() + 1e-12) for r in raw]

    def reset(self, model: UNet) -> None:
        self.remove()
        self.__init__(model)

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []


def magnitude_scores(model: UNet, p: int) -> list[torch.Tensor]:
    out = []
    for conv in prunable_convs(model):
        s = conv.weight.detach().flatten(1).norm(p=p, dim=1)
        out.append(s / (s.norm() + 1e-12))
    return out


def select_filters(scores: list[torch.Tensor], n: int, cfg: PruneConfig) -> list[list[int]]:
    """Globally rank the (layer-normalised) scores and pick the n least important filters, keeping at
    least min_channels per layer and widths that are multiples of round_to where possible."""
    flat = torch.cat([torch.stack([s, torch.full_like(s, li), torch.arange(len(s), dtype=s.dtype)], 1)
                      for li, s in enumerate(scores)])
    order = flat[:, 0].argsort()
    counts = [0] * len(scores)
    for row in flat[order][:n]:
        li = int(row[1])
        if len(scores[li]) - counts[li] > cfg.min_channels:
            counts[li] += 1
    picks = []
    for li, s in enumerate(scores):
        w = len(s)
        keep = w - counts[li]
        if cfg.round_to > 1 and counts[li]:
            keep = max(cfg.min_channels, cfg.round_to * max(1, round(keep / cfg.round_to)))
        keep = min(w, max(cfg.min_channels, keep))
        picks.append(s.argsort()[: w - keep].tolist())
    return picks


def remove_filters(model: UNet, picks: list[list[int]]) -> UNet:
    """Structurally remove the picked output filters of each prunable conv; returns a fresh UNet built
    from the shrunken spec (so `config.widths` records the new widths) with the surviving weights."""
    import torch_pruning as tp

    model = model.cpu()
    was_training = model.training
    model.eval()
    dg = tp.DependencyGraph().build_dependency(model, example_inputs=torch.zeros(1, 1, 128, 128))
    for conv, idxs in zip(prunable_convs(model), picks):
        if not idxs:
            continue
        group = dg.get_pruning_group(conv, tp.prune_conv_out_channels, idxs=sorted(idxs))
        if not dg.check_pruning_group(group):
            raise ChvoiceError(f"pruning would remove every filter of a layer ({len(idxs)} of {conv.out_channels})")
        group.prune()
    widths = tuple(c.out_channels for c in prunable_convs(model))
    fresh = UNet(model.config.with_widths(widths))
    fresh.load_state_dict(model.state_dict())
    return fresh.train(was_training)


class Pruner:
    """Drives pruning rounds during a fine-tune (plug `on_step` into train())."""

    def __init__(self, model: UNet, cfg: PruneConfig, total_steps: int):
        self.cfg = cfg
        self.base_macs = count_macs(model)
        self.round_steps = [round((i + 1) * total_steps / (cfg.rounds + 1)) - 1 for i in range(cfg.rounds)]
        if total_steps < cfg.rounds + 1:
            self.round_steps = list(range(cfg.rounds))
        self.rounds_done = 0
        self.tracker = TaylorTracker(model) if cfg.criterion == "taylor" else None
        self.log: list[dict] = []

    def scores(self, model: UNet) -> list[torch.Tensor]:
        scores = (self.tracker.scores() if self.tracker is not None
                  else magnitude_scores(model, 1 if self.cfg.criterion == "l1" else 2))
        if self.cfg.per_mac:
            costs = filter_macs(model)
            mean = sum(costs) / len(costs)
            scores = [s / (c / mean) for s, c in zip(scores, costs)]
        if self.cfg.levels:         # the other levels' filters rank last and are never picked (prune_round)
            scores = [s if lv < self.cfg.levels else torch.full_like(s, float("inf"))
                      for s, lv in zip(scores, conv_levels(model))]
        return scores

    def prune_round(self, model: UNet) -> UNet:
        cfg = self.cfg
        scores = self.scores(model)
        if cfg.target_widths:
            widths = [len(s) for s in scores]
            if len(cfg.target_widths) != len(widths) or any(t > w for t, w in zip(cfg.target_widths, widths)):
                raise ChvoiceError(f"pruning target widths {cfg.target_widths} do not fit the model's {tuple(widths)} "
                                   f"({len(widths)} convs, none wider than now)")
            left = cfg.rounds - self.rounds_done
            cut = [-(-(w - t) // left) for w, t in zip(widths, cfg.target_widths)]   # the last round lands exactly
            n = sum(cut)
            pruned = remove_filters(model, [s.argsort()[:k].tolist() for s, k in zip(scores, cut)])
        elif cfg.target_mac_reduction > 0:
            goal = self.base_macs * (1 - cfg.target_mac_reduction * (self.rounds_done + 1) / cfg.rounds)
            total = sum(len(s) for s in scores if torch.isfinite(s).all())    # the prunable filters
            n, pruned = 0, model
            # grow the number of removed filters until this round's MAC goal is met
            while count_macs(pruned) > goal and n < total:
                n = min(total, n + max(1, total // 100))
                pruned = remove_filters(_clone(model), select_filters(scores, n, cfg))
        else:
            n = cfg.filters_per_round
            pruned = remove_filters(model, select_filters(scores, n, cfg))
        self.rounds_done += 1
        self.log.append({"round": self.rounds_done, "filters_removed": n, "macs": count_macs(pruned),
                         "widths": list(pruned.config.conv_widths())})
        if self.tracker is not None:
            self.tracker.reset(pruned)
        return pruned

    def on_step(self, step: int, model: UNet) -> UNet | None:
        if self.rounds_done < self.cfg.rounds and step == self.round_steps[self.rounds_done]:
            return self.prune_round(model)
        return None

    def close(self) -> None:
        if self.tracker is not None:
            self.tracker.remove()


def filter_macs(model: UNet) -> list[float]:
    """MACs per tile that removing one filter of each prunable conv saves (its own and its consumers'), in
    prunable_convs order."""
    base = count_macs(model)
    n = len(prunable_convs(model))
    return [float(base - count_macs(remove_filters(_clone(model), [[0] if j == i else [] for j in range(n)])))
            for i in range(n)]


def _clone(model: UNet) -> UNet:
    m = UNet(model.config)
    m.load_state_dict(model.state_dict())
    return m.train(model.training)
