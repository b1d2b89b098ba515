"""The default model shipped inside the package (state dict + spec; loaded without unpickling code)."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from .errors import ChvoiceError

DEFAULT_MODEL = "default.pt"


def default_model_path() -> Path:
    path = Path(str(resources.files("chvoice_core") / "assets" / DEFAULT_MODEL))
    if not path.is_file():
        raise ChvoiceError("no default model is shipped with this install; pass a model file "
                           "(chvoice denoise MODEL.pt IN ...)")
    return path
