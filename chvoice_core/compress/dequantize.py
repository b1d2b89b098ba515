"""A trainable float U-Net rebuilt from a static int8 one (the shipped default lost its float weights).

Static int8 (FX) folds each BatchNorm into the conv before it and stores the conv's weight as int8 with a float
bias. The float model gets the dequantized weights back in its conv (which has no bias) and the bias in the
BatchNorm after it. Each BatchNorm is set so that it changes nothing at inference, yet still trains like one:
its running statistics are the measured mean and variance of its conv's output on calibration tiles, its
affine weight sqrt(var + eps) and its bias mean + folded bias. In eval mode the network then computes exactly
the dequantized int8 network without activation rounding; in train mode batch statistics replace the running
ones, which differ from them only by the batch's sampling noise.
"""
from __future__ import annotations

import torch
from torch import nn

from ..models.unet import UNet, UNetConfig

Tensor = torch.Tensor


def conv_bn_pairs(model: UNet) -> list[tuple[str, str]]:
    """(conv name, BatchNorm name) of every 3x3 conv of a float U-Net, in module order."""
    pairs, last_conv = [], None
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Conv2d):
            last_conv = name
        elif isinstance(mod, nn.BatchNorm2d):
            pairs.append((last_conv, name))
    return pairs


def float_from_int8(state_dict: dict[str, Tensor], config: UNetConfig, calibration: Tensor) -> UNet:
    """The float U-Net of `config` carrying a static-int8 (FX) state dict's weights, BatchNorms re-opened as
    above. calibration: normalised noisy tiles [N, 1, F, T] (training side) that set the BatchNorm statistics.
    Returns the model in eval mode."""
    model = UNet(config).eval()
    convs = dict(model.named_modules())
    with torch.no_grad():
        for conv_name, bn_name in conv_bn_pairs(model):
            w = state_dict[f"{conv_name}.weight"]
            convs[conv_name].weight.copy_(w.dequantize() if w.is_quantized else w)
        out_w = state_dict["outc.weight"]
        model.outc.weight.copy_(out_w.dequantize() if out_w.is_quantized else out_w)
        model.outc.bias.copy_(state_dict["outc.bias"])
        # identity BatchNorms carrying the folded bias: the network now equals the dequantized int8 one
        for conv_name, bn_name in conv_bn_pairs(model):
            bn = convs[bn_name]
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
            bn.weight.fill_(1.0)
            bn.bias.copy_(state_dict[f"{conv_name}.bias"])
        stats = _conv_output_stats(model, calibration)
        for conv_name, bn_name in conv_bn_pairs(model):
            bn, (mean, var) = convs[bn_name], stats[conv_name]
            bias = state_dict[f"{conv_name}.bias"]
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
            bn.weight.copy_((var + bn.eps).sqrt())
            bn.bias.copy_(mean + bias)
    return model.eval()


def _conv_output_stats(model: UNet, tiles: Tensor, batch: int = 16) -> dict[str, tuple[Tensor, Tensor]]:
    """Per-channel mean and (biased, as BatchNorm's batch statistics) variance of every 3x3 conv's output over
    `tiles` [N, C, F, T], the model in eval mode."""
    sums: dict[str, list[Tensor]] = {}
    mods = dict(model.named_modules())

    def hook(name: str):
        def fn(mod: nn.Module, inp: tuple[Tensor, ...], out: Tensor) -> None:
            x = out.double()
            s = sums.setdefault(name, [torch.zeros(out.shape[1], dtype=torch.float64),
                                       torch.zeros(out.shape[1], dtype=torch.float64), torch.zeros((), dtype=torch.float64)])
            s[0] += x.sum(dim=(0, 2, 3))
            s[1] += x.pow(2).sum(dim=(0, 2, 3))
            s[2] += x.numel() / x.shape[1]
        return fn

    handles = [mods[c].register_forward_hook(hook(c)) for c, _ in conv_bn_pairs(model)]
    try:
        with torch.no_grad():
            for i in range(0, len(tiles), batch):
                model(tiles[i:i + batch])
    finally:
        for h in handles:
            h.remove()
    out = {}
    for name, (s1, s2, n) in sums.items():
        mean = s1 / n
        out[name] = (mean.float(), (s2 / n - mean ** 2).clamp_min(0).float())
    return out
