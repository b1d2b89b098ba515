"""The architectures of the variant table: the report's normal and smaller U-Nets, the width-32 student, and the
time-causal U-Net of live mode (width 64 at every level, 2 frames of lookahead: 31.75 ms)."""
from __future__ import annotations

from dataclasses import replace

from ..errors import ChvoiceError
from .unet import UNetConfig

ARCHS: dict[str, UNetConfig] = {
    "normal": UNetConfig(depth=4, base_width=64),    # 13.4 M parameters, 7.7 GMAC per tile
    "smaller": UNetConfig(depth=3, base_width=64),   # one down and one up block fewer
    "student": UNetConfig(depth=4, base_width=32),   # the distillation student (~25 % of normal's size)
    "causal": UNetConfig(depth=4, base_width=64, causal=True, lookahead=2),   # 0.8 M parameters, 5.2 GMAC per tile
}


def arch_config(name: str, width_divisor: int = 1) -> UNetConfig:
    """Full-scale config for `name`, with base width divided by width_divisor (training budgets)."""
    try:
        cfg = ARCHS[name]
    except KeyError:
        raise ChvoiceError(f"unknown architecture {name!r}; known: {', '.join(ARCHS)}") from None
    return replace(cfg, base_width=max(4, cfg.base_width // width_divisor))
