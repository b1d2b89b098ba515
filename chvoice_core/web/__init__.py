"""`chvoice serve`: a local web app to denoise uploaded audio and video."""
from .app import create_app

__all__ = ["create_app"]
