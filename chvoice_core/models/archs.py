"""The architectures of the variant table: the report's normal and smaller U-Nets and the width-32 student."""
from __future__ import annotations

from dataclasses import replace

from ..errors import ChvoiceError
from .unet import UNetConfig

ARCHS: dict[str, UNetConfig] = {
    "normal": UNetConfig(depth=4, base_width=64),    # 13.4 M parameters, 7.7 GMAC per tile
    "smaller": UNetConfig(depth=3, base_width=64),   # one down and one up block fewer
    "student": UNetConfig(depth=4, base_width=32),   # the distillation student (~25 % of normal's size)
}


def arch_config(name: str, width_divisor: int = 1) -> UNetConfig:
    """Full-scale config for `name`, with base width divided by width_divisor (training budgets)."""
    try:
        cfg = ARCHS[name]
    except KeyError:
        raise ChvoiceError(f"unknown architecture {name!r}; known: {', '.join(ARCHS)}") from None
    return replace(cfg, base_width=max(4, cfg.base_width // width_divisor))
