"""Speech and noise sources, noise profiles, mixing and the fixed test sets."""
from .mixing import Mixture, mix
from .profiles import PROFILES, NoiseProfile, get_profile
from .sources import DataConfig, DataSplit, load_data
from .testset import TestItem, TestSetConfig, build_testset, write_testset

__all__ = ["Mixture", "mix", "PROFILES", "NoiseProfile", "get_profile", "DataConfig", "DataSplit",
           "load_data", "TestItem", "TestSetConfig", "build_testset", "write_testset"]
