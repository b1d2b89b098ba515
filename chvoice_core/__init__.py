"""chvoice: train, compress and benchmark U-Net speech denoisers."""

__version__ = "0.1.0"
