"""The architectures of the variant table: the report's normal and smaller U-Nets, the width-32 student, and the
time-causal U-Net of live mode (width 64 at every level, 2 frames of lookahead: 31.75 ms)."""
from __future__ import annotations

from dataclasses import replace

from ..errors import ChvoiceError
from .io import MAX_LOOKAHEAD
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


def training_spec(arch: str, width_divisor: int = 1, width: int | None = None, mask: bool = False,
                  phase: bool = False, causal: bool = False, lookahead: int = 0, n_fft: int = 254,
                  hop: int = 127) -> UNetConfig:
    """The spec `chvoice train` builds: an architecture of the table (base width divided by the budget's divisor,
    or `width`) with the options of a model family (mask head, phase head, time-causal with lookahead frames) and
    an STFT. An option that does not fit is one ChvoiceError naming its flag."""
    cfg = arch_config(arch, width_divisor if width is None else 1)
    if width is not None:
        if width < 1:
            raise ChvoiceError("--width must be at least 1")
        cfg = replace(cfg, base_width=width, widths=None)
    if causal and not 0 <= lookahead <= MAX_LOOKAHEAD:
        raise ChvoiceError(f"--lookahead must be 0..{MAX_LOOKAHEAD} frames")
    if phase and causal:
        raise ChvoiceError("--phase: a phase-aware head is offline only; drop --causal")
    try:
        return replace(cfg, mask=mask or cfg.mask, phase=phase, causal=causal or cfg.causal,
                       lookahead=lookahead if causal else cfg.lookahead, n_fft=n_fft, hop=hop)
    except ValueError as e:
        raise ChvoiceError(f"--n-fft/--hop: {e}") from None
