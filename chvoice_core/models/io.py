"""Checkpoints: a plain dict of the architecture spec, the state dict and metadata.

Loaded with torch.load(weights_only=True), so loading never unpickles code.
"""
from __future__ import annotations

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


def config_from_dict(ckpt: dict[str, Any], name: str = "checkpoint") -> UNetConfig:
    """The architecture spec of a checkpoint, validated."""
    if ckpt.get("arch") != "unet":
        raise ChvoiceError(f"{name}: architecture {ckpt.get('arch')!r} is not 'unet'")
    try:
        cfg = UNetConfig.from_dict(ckpt["config"])
        cfg.conv_widths()
        return cfg
    except (TypeError, ValueError, KeyError) as e:
        raise ChvoiceError(f"{name}: bad architecture spec ({e})") from None


def load_state(model: nn.Module, state_dict: dict[str, Any], name: str = "checkpoint") -> nn.Module:
    """Load a state dict strictly; a mismatch is one clear ChvoiceError."""
    try:
        model.load_state_dict(state_dict, strict=True)
    except (RuntimeError, KeyError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        raise ChvoiceError(f"{name}: weights do not match its architecture spec ({first})") from None
    return model.eval()


def model_from_dict(ckpt: dict[str, Any], name: str = "checkpoint") -> UNet:
    return load_state(UNet(config_from_dict(ckpt, name)), ckpt.get("state_dict", {}), name)


def load_model(path: str | os.PathLike) -> tuple[UNet, dict[str, Any]]:
    """Load a float U-Net checkpoint -> (model in eval mode, meta)."""
    ckpt = read_checkpoint(path)
    return model_from_dict(ckpt, str(path)), dict(ckpt.get("meta", {}))
