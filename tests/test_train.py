import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from chvoice_core.data import get_profile
from chvoice_core.data.pairs import PairSampler
from chvoice_core.models import UNet, UNetConfig
from chvoice_core.models.io import load_model
from chvoice_core.dsp import FrontEnd
from chvoice_core.train import TrainConfig, db_pairs, tile_loss, train

TINY = UNetConfig(depth=2, base_width=4)


@pytest.fixture()
def sampler(builtin_data):
    return PairSampler(builtin_data.train_speech, builtin_data.train_noise, get_profile("weighted"), 16129)


def test_pair_sampler_is_deterministic_per_step(sampler):
    a = sampler.batch(3, 2)
    b = sampler.batch(3, 2)
    c = sampler.batch(4, 2)
    assert np.array_equal(a[0], b[0]) and not np.array_equal(a[0], c[0])
    assert a[0].shape == (2, 16129)


def test_loss_falls(sampler):
    """Per-batch losses vary with each batch's noise draw, so compare on one fixed held-out batch."""
    torch.manual_seed(0)
    model = UNet(TINY)
    noisy, clean = db_pairs(*sampler.batch(10_000, 16), FrontEnd(), torch.device("cpu"))

    def fixed_loss():
        with torch.no_grad():
            return float(tile_loss(model, noisy, clean))

    before = fixed_loss()
    train(model, sampler, TrainConfig(steps=40, batch_size=4, lr=2e-3, progress=False))
    assert fixed_loss() < 0.8 * before


def test_checkpoint_resume_matches_uninterrupted_run(sampler, tmp_path):
    full = train(UNet(TINY), sampler, TrainConfig(steps=8, batch_size=2, progress=False, checkpoint_every=4),
                 out_dir=tmp_path / "full")
    # "interrupted" after 4 steps, then resumed from the checkpoint with a freshly built model
    train(UNet(TINY), sampler, TrainConfig(steps=4, batch_size=2, progress=False, checkpoint_every=4),
          out_dir=tmp_path / "part")
    torch.manual_seed(123)
    resumed = train(UNet(TINY), sampler, TrainConfig(steps=8, batch_size=2, progress=False, checkpoint_every=4),
                    out_dir=tmp_path / "part", resume=True)
    assert resumed["history"][:4] == full["history"][:4]
    for (k, a), b in zip(full["model"].state_dict().items(), resumed["model"].state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), k
    m, meta = load_model(tmp_path / "part" / "model.pt")
    assert len(meta["loss_history"]) == 8
    assert json.loads((tmp_path / "part" / "history.json").read_text())["loss"] == meta["loss_history"]


@pytest.mark.slow
def test_ddp_on_two_cpu_processes(tmp_path, cache_dir):
    env = {**os.environ, "CHVOICE_CACHE": str(cache_dir), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "chvoice_core.cli", "train", "--budget", "smoke", "--steps", "4", "--out", str(tmp_path / "ddp"),
           "--quiet"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    model, meta = load_model(tmp_path / "ddp" / "model.pt")
    assert meta["world_size"] == 2
    assert meta["params_in_sync"] is True
    assert len(meta["loss_history"]) == 4
