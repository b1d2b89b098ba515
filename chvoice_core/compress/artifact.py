"""Compressed-model artifacts: architecture spec + quantization mode + state dict + metadata.

Loading rebuilds the float U-Net from the spec (pruned widths included), re-applies the recorded
quantization structure, then loads the saved (possibly int8) state dict, all with
torch.load(weights_only=True): no pickled code."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..audio_io import atomic_path
from ..errors import ChvoiceError
from ..models.io import FORMAT, FORMAT_VERSION, check_shapes, config_from_dict, load_state, read_checkpoint
from ..models.kinds import MAGNITUDE_ONLY, kind_of
from ..models.unet import UNet, UNetConfig
from .formats import FORMATS, quant_format


def save_artifact(path: str | os.PathLike, model: nn.Module, config: UNetConfig, quant: str | None,
                  meta: dict[str, Any] | None = None, backend: str = "x86") -> int:
    """Write atomically; returns the size on disk in bytes."""
    if quant not in FORMATS:
        raise ChvoiceError(f"unknown quantization format {quant!r}")
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "arch": "unet", "config": config.to_dict(),
               "quant": quant, "backend": backend,
               "state_dict": {k: v.detach().cpu() if isinstance(v, torch.Tensor) else v
                              for k, v in model.state_dict().items()},
               "meta": dict(meta or {})}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path).stat().st_size


def load_artifact(path: str | os.PathLike) -> tuple[nn.Module, dict[str, Any]]:
    """-> (model ready for inference, meta incl. 'config' and 'quant')."""
    ckpt = read_checkpoint(path)
    quant = ckpt.get("quant")
    if quant not in FORMATS:
        raise ChvoiceError(f"{path}: unknown quantization format {quant!r} (saved by a newer chvoice?)")
    cfg = config_from_dict(ckpt, str(path))
    if quant is None:
        with torch.device("meta"):
            check_shapes(UNet(cfg), ckpt.get("state_dict", {}), str(path))
    model = quant_format(quant).skeleton(UNet(cfg).eval(), ckpt)
    load_state(model, ckpt.get("state_dict", {}), str(path))
    if getattr(model, "config", None) is None:
        model.config = cfg
    meta = dict(ckpt.get("meta", {}))
    meta.update(config=cfg, quant=quant, size_bytes=Path(path).stat().st_size)
    return model.eval(), meta


def load_float_model(path: str | os.PathLike, label: str, phase_why: str) -> tuple[nn.Module, dict[str, Any]]:
    """A float magnitude model for a step that starts from one (quantization, a compression chain's teacher):
    (model in eval mode, meta), or one clear line naming `label` when it is quantized or phase-aware."""
    model, meta = load_artifact(path)
    if meta.get("quant"):
        raise ChvoiceError(f"{label}: already quantized ({meta['quant']}); give the float model")
    if not MAGNITUDE_ONLY[kind_of(model)]:
        raise ChvoiceError(f"{label}: a phase-aware model; {phase_why}")
    return model.float().eval(), meta
