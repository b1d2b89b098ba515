"""Models shipped inside the package: the `general` default denoiser and the pretrained teachers of the report's
profiles (state dict + spec, fp16 storage, loaded without unpickling code)."""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .audio_io import atomic_path
from .errors import ChvoiceError
from .models.io import fp16_storage, model_to_dict

# The one table of shipped model names (the compressed children: compress.real). "default" is the int8 model that
# `chvoice denoise` runs; "default-float" its float parent, which compression starts from.
SHIPPED: dict[str, str] = {"default": "default.pt", "default-float": "default-float.pt", "live": "live.pt"}


def assets_dir() -> Path:
    return Path(str(resources.files("chvoice_core") / "assets"))


def shipped_path(name: str, missing: str = "") -> Path:
    """The file of a shipped model by name (a key of SHIPPED); ChvoiceError when this install lacks it (`missing`:
    what to do instead)."""
    path = assets_dir() / SHIPPED[name]
    if not path.is_file():
        raise ChvoiceError(f"shipped model {name!r} is not in this install ({path.name} missing)"
                           + (f"; {missing}" if missing else ""))
    return path


def default_model_path() -> Path:
    return shipped_path("default", "pass a model file (chvoice denoise MODEL.pt IN ...)")


def live_model_path() -> Path:
    """The shipped causal model that `chvoice live` streams by default."""
    return shipped_path("live", "pass --model CAUSAL.pt or choose a rolling-context --mode (low-latency)")


def teacher_path(arch: str, profile: str) -> Path | None:
    """The shipped pretrained teacher of (arch, profile), or None."""
    p = assets_dir() / "teachers" / f"{arch}-{profile}.pt"
    return p if p.is_file() else None


def save_teacher(path: str | os.PathLike, model: nn.Module, meta: dict[str, Any]) -> None:
    """A float model with its floating-point tensors stored as fp16 (half the package size; loading casts
    back to fp32). BatchNorm counters stay integers."""
    d = model_to_dict(model, {**meta, "storage": "fp16"})
    d["state_dict"] = fp16_storage(d["state_dict"])
    with atomic_path(path) as tmp:
        torch.save(d, tmp)
