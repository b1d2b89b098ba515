"""What a model costs, counted: parameters, and multiply-accumulates per tile of its front end."""
from __future__ import annotations

import torch
from torch import nn

from .unet import front_end

Tensor = torch.Tensor


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, shape: tuple[int, ...] | None = None) -> int:
    """Multiply-accumulates of the conv layers for one forward pass on a zero tensor of `shape` (default: one
    tile of the model's front end, 128 frames of its bins, with its input channels)."""
    if shape is None:
        cfg, fe = getattr(model, "config", None), front_end(model)
        shape = (1, cfg.in_channels if cfg is not None else 1, fe.n_bins, fe.tile_frames)
    total = 0

    def hook(mod: nn.Module, inp: tuple[Tensor, ...], out: Tensor) -> None:
        nonlocal total
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1]
            total += out.numel() * (mod.in_channels // mod.groups) * k
        elif isinstance(mod, nn.ConvTranspose2d):
            k = mod.kernel_size[0] * mod.kernel_size[1]
            total += inp[0].numel() * (mod.out_channels // mod.groups) * k

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(shape))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total
