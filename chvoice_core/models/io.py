"""Checkpoints: a plain dict of the architecture spec, the state dict and metadata.

Loaded with torch.load(weights_only=True), so loading never unpickles code.
"""
from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..audio_io import atomic_path
from ..errors import ChvoiceError
from .unet import UNet, UNetConfig

FORMAT = "chvoice.model"
FORMAT_VERSION = 1


def file_digest(path: str | os.PathLike, digits: int = 16) -> str:
    """The first `digits` hex digits of a file's SHA-256: names an exact model file (cache keys, lineage, rows)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:digits]


def fp16_storage(state_dict: dict[str, Any]) -> dict[str, Any]:
    """Floating-point tensors as fp16 (half the size on disk; loading casts back to fp32); integer and quantized
    tensors (BatchNorm counters) as they are."""
    return {k: v.half() if v.is_floating_point() else v for k, v in state_dict.items()}


def model_to_dict(model: UNet, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "arch": "unet",
            "config": model.config.to_dict(),
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "meta": dict(meta or {})}


def save_model(path: str | os.PathLike, model: UNet, meta: dict[str, Any] | None = None) -> None:
    """Write the checkpoint atomically."""
    with atomic_path(path) as tmp:
        torch.save(model_to_dict(model, meta), tmp)


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load and validate a checkpoint dict (no code is unpickled)."""
    path = Path(path)
    if not path.is_file():
        raise ChvoiceError(f"{path}: no such model file")
    try:
        with warnings.catch_warnings():
            # torch warns on every load of a quantized tensor (TypedStorage / quantized-dtype deprecations)
            warnings.simplefilter("ignore", UserWarning)
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ChvoiceError(f"{path}: not a readable chvoice checkpoint ({e.__class__.__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ChvoiceError(f"{path}: not a chvoice model file (no '{FORMAT}' header)")
    if ckpt.get("format_version") != FORMAT_VERSION:
        raise ChvoiceError(f"{path}: saved with model format version {ckpt.get('format_version')}, "
                           f"this chvoice reads version {FORMAT_VERSION}")
    return ckpt


# Bounds on a checkpoint's architecture spec, checked before any module is built: a crafted spec must not make
# chvoice allocate gigabytes (the report's full-scale U-Net has 13.4 M parameters, base width 64, depth 4).
MAX_DEPTH = 6
MAX_WIDTH = 2048
MAX_PARAMS = 50_000_000
MIN_FFT, MAX_FFT = 30, 4094   # STFT frame: 2 ms .. 256 ms at 16 kHz
MAX_LOOKAHEAD = 16       # frames (127 ms): beyond that a "live" model is not live


def _check_spec(raw: Any, name: str) -> UNetConfig:
    if not isinstance(raw, dict):
        raise ChvoiceError(f"{name}: bad architecture spec (not a mapping)")
    known = {"depth", "base_width", "bilinear", "residual", "widths", "mask", "causal", "lookahead", "phase",
             "n_fft", "hop", "tile_hop"}
    extra = set(raw) - known
    if extra:
        raise ChvoiceError(f"{name}: bad architecture spec (unknown field {sorted(extra)[0]!r})")

    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)
    depth, base = raw.get("depth", 4), raw.get("base_width", 64)
    if not is_int(depth) or not 1 <= depth <= MAX_DEPTH:
        raise ChvoiceError(f"{name}: bad architecture spec (depth {depth!r}: must be an integer 1..{MAX_DEPTH})")
    if not is_int(base) or not 1 <= base <= MAX_WIDTH:
        raise ChvoiceError(f"{name}: bad architecture spec (base_width {base!r}: must be an integer 1..{MAX_WIDTH})")
    look = raw.get("lookahead", 0)
    if not is_int(look) or not 0 <= look <= MAX_LOOKAHEAD:
        raise ChvoiceError(f"{name}: bad architecture spec (lookahead {look!r}: must be an integer 0..{MAX_LOOKAHEAD})")
    # UNetConfig checks the rest (even n_fft whose bins halve `depth` times, hop 1..n_fft); config_from_dict
    # turns its ValueError into the same one line
    n_fft, hop = raw.get("n_fft", UNetConfig.n_fft), raw.get("hop", UNetConfig.hop)
    if not is_int(n_fft) or not MIN_FFT <= n_fft <= MAX_FFT:
        raise ChvoiceError(f"{name}: bad architecture spec (n_fft {n_fft!r}: must be an integer {MIN_FFT}..{MAX_FFT})")
    tile_hop = raw.get("tile_hop", UNetConfig.tile_hop)
    if not is_int(tile_hop):
        raise ChvoiceError(f"{name}: bad architecture spec (tile_hop {tile_hop!r}: must be an integer)")
    if not is_int(hop):
        raise ChvoiceError(f"{name}: bad architecture spec (hop {hop!r}: must be an integer)")
    for flag in ("bilinear", "residual", "mask", "causal", "phase"):
        if flag in raw and not isinstance(raw[flag], bool):
            raise ChvoiceError(f"{name}: bad architecture spec ({flag} must be true or false)")
    widths = raw.get("widths")
    if widths is not None:
        if not isinstance(widths, (list, tuple)) or len(widths) != 2 * (2 * depth + 1):
            raise ChvoiceError(f"{name}: bad architecture spec (widths needs {2 * (2 * depth + 1)} entries)")
        if not all(is_int(w) and 1 <= w <= MAX_WIDTH for w in widths):
            raise ChvoiceError(f"{name}: bad architecture spec (widths must be integers 1..{MAX_WIDTH})")
    cfg = UNetConfig.from_dict(raw)
    with torch.device("meta"):      # count parameters without allocating them
        n = sum(p.numel() for p in UNet(cfg).parameters())
    if n > MAX_PARAMS:
        raise ChvoiceError(f"{name}: bad architecture spec ({n / 1e6:.0f} M parameters; at most {MAX_PARAMS / 1e6:.0f} M)")
    return cfg


def config_from_dict(ckpt: dict[str, Any], name: str = "checkpoint") -> UNetConfig:
    """The architecture spec of a checkpoint, validated against sane bounds before anything is built."""
    if ckpt.get("arch") != "unet":
        raise ChvoiceError(f"{name}: architecture {ckpt.get('arch')!r} is not 'unet'")
    if "meta" in ckpt and not isinstance(ckpt["meta"], dict):
        raise ChvoiceError(f"{name}: bad checkpoint (meta is not a mapping)")
    if not isinstance(ckpt.get("state_dict", {}), dict):
        raise ChvoiceError(f"{name}: bad checkpoint (state_dict is not a mapping)")
    try:
        return _check_spec(ckpt.get("config"), name)
    except (TypeError, ValueError, KeyError) as e:
        raise ChvoiceError(f"{name}: bad architecture spec ({e})") from None


def check_shapes(model: nn.Module, state_dict: dict[str, Any], name: str = "checkpoint") -> None:
    """Every tensor of state_dict has the shape the spec implies (checked on a meta-device twin, so a
    mismatch costs nothing)."""
    want = model.state_dict()
    for k, v in state_dict.items():
        if k in want and isinstance(v, torch.Tensor) and isinstance(want[k], torch.Tensor) \
                and not v.is_quantized and tuple(v.shape) != tuple(want[k].shape):
            raise ChvoiceError(f"{name}: weights do not match its architecture spec ({k}: {tuple(v.shape)}, "
                               f"spec says {tuple(want[k].shape)})")


def load_state(model: nn.Module, state_dict: dict[str, Any], name: str = "checkpoint") -> nn.Module:
    """Load a state dict strictly; a mismatch is one clear ChvoiceError."""
    try:
        model.load_state_dict(state_dict, strict=True)
    except (RuntimeError, KeyError, TypeError, AttributeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        raise ChvoiceError(f"{name}: weights do not match its architecture spec ({first})") from None
    return model.eval()


def model_from_dict(ckpt: dict[str, Any], name: str = "checkpoint") -> UNet:
    cfg = config_from_dict(ckpt, name)
    with torch.device("meta"):
        check_shapes(UNet(cfg), ckpt.get("state_dict", {}), name)
    return load_state(UNet(cfg), ckpt.get("state_dict", {}), name)


def load_model(path: str | os.PathLike) -> tuple[UNet, dict[str, Any]]:
    """Load a float U-Net checkpoint -> (model in eval mode, meta)."""
    ckpt = read_checkpoint(path)
    return model_from_dict(ckpt, str(path)), dict(ckpt.get("meta", {}))
