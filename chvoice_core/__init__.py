"""chvoice: train, compress and benchmark U-Net speech denoisers.

    import chvoice_core as cv
    d = cv.load()              # the shipped default denoiser
    y = d.enhance(x, sr)       # any length, any rate

`import chvoice` gives the same plus `compress` and `evaluate` (here those names are subpackages).
"""

__version__ = "0.1.0"

from .api import load, model_path  # noqa: E402
from .enhance import Denoiser  # noqa: E402

__all__ = ["Denoiser", "load", "model_path", "__version__"]
