"""The model zoo (see core.Zoo): builds and caches every variant of the table for a profile, budget and data."""
from .core import Entry, Zoo
from .twins import TWIN_CALIBRATION_PROFILE

__all__ = ["Entry", "Zoo", "TWIN_CALIBRATION_PROFILE"]
