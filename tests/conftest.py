from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _fixed_threads():
    torch.set_num_threads(1)
    yield


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """Built-in data is generated once per machine: reuse $CHVOICE_CACHE when set (tox sets it)."""
    env = os.environ.get("CHVOICE_CACHE")
    return Path(env) if env else tmp_path_factory.mktemp("chvoice-cache")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "LibriSpeech").is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def model_file(tmp_path_factory) -> Path:
    """A tiny untrained tile U-Net saved as a checkpoint (a module may define its own)."""
    from chvoice_core.models import UNet, UNetConfig
    from chvoice_core.models.io import save_model
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("m") / "tiny.pt"
    save_model(path, UNet(UNetConfig(depth=2, base_width=4)).eval())
    return path


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def builtin_data(cache_dir):
    from chvoice_core.data import DataConfig, load_data
    return load_data(DataConfig(cache_dir=str(cache_dir)))


def speechlike(seconds: float = 1.5, sr: int = 16_000, seed: int = 0) -> np.ndarray:
    """A harmonic tone with a syllable-rate envelope: speech-like enough for PESQ/STOI to score."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 140 + 20 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 20))
    env = 0.5 * (1 + np.sin(2 * np.pi * 4 * t)) ** 2
    return (0.1 * x * env + 1e-4 * rng.standard_normal(len(t))).astype(np.float32)
