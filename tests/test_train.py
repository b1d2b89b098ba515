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
from chvoice_core.train import TrainConfig, train
from chvoice_core.losses import db_pairs, tile_loss

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


@pytest.mark.parametrize("amp", ["none", "bf16"])
def test_loss_falls(sampler, amp):
    """Per-batch losses vary with each batch's noise draw, so compare on one fixed held-out batch. --amp bf16:
    the convolutions really run in bf16, and the weights (and optimiser) stay float32."""
    torch.manual_seed(0)
    model = UNet(TINY)
    noisy, clean = db_pairs(*sampler.batch(10_000, 16), FrontEnd(), torch.device("cpu"))

    def fixed_loss():
        with torch.no_grad():
            return float(tile_loss(model, noisy, clean))

    before = fixed_loss()
    seen = set()
    hook = model.inc[0].register_forward_hook(lambda m, i, o: seen.add(o.dtype))
    r = train(model, sampler, TrainConfig(steps=40, batch_size=4, lr=2e-3, progress=False, amp=amp))
    hook.remove()
    assert seen == {torch.bfloat16 if amp == "bf16" else torch.float32}
    assert len(r["history"]) == 40 and all(np.isfinite(r["history"]))
    assert all(p.dtype == torch.float32 for p in model.parameters())
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


def test_mask_head_never_amplifies_and_starts_near_identity():
    from chvoice_core.models import start_as_identity
    torch.manual_seed(0)
    m = UNet(UNetConfig(depth=2, base_width=4, mask=True))
    x = torch.randn(2, 1, 32, 32)
    for p in m.parameters():
        torch.nn.init.normal_(p, std=1.0)
    with torch.no_grad():
        assert (m(x) <= x + 1e-6).all()                       # a gain of at most 0 dB, whatever the weights
        y = start_as_identity(m).eval()(x)
    assert torch.allclose(y, x - torch.nn.functional.softplus(torch.tensor(-3.0)), atol=1e-6)


def test_perceptual_loss_is_lower_for_the_clean_answer():
    """A model that outputs the clean magnitude must score better than the identity (noisy) model."""
    from chvoice_core.losses import batch_si_sdr, perceptual_loss
    fe = FrontEnd()
    rng = np.random.default_rng(0)
    clean = torch.from_numpy(np.sin(np.arange(16129) * 0.05)[None].repeat(2, 0).astype(np.float32) * 0.1)
    noisy = clean + torch.from_numpy(rng.standard_normal((2, 16129)).astype(np.float32) * 0.05)
    from chvoice_core.dsp import analyse, normalise

    class Oracle(torch.nn.Module):
        def forward(self, x):
            c_db = analyse(clean, fe)[0].unsqueeze(1)
            n_db = analyse(noisy, fe)[0].unsqueeze(1)
            _, mean, std = normalise(n_db)
            return (c_db - mean) / std

    ident = torch.nn.Identity()
    assert float(perceptual_loss(Oracle(), noisy, clean, fe)) < float(perceptual_loss(ident, noisy, clean, fe)) - 0.1
    s = batch_si_sdr(noisy, clean)
    assert s.shape == (2,) and abs(float(s[0]) - 10 * np.log10(float((clean[0] ** 2).sum() / ((noisy - clean)[0] ** 2).sum()))) < 0.2


def test_residual_weight_penalises_noise_left_in_not_speech_taken_out():
    """The asymmetric term: an output 6 dB too loud costs far more with it, one 6 dB too quiet about the same (only
    bins under the dB floor, where the reference is quieter than any estimate, add to it)."""
    from chvoice_core.dsp import analyse, normalise
    from chvoice_core.losses import perceptual_loss
    fe = FrontEnd()
    rng = np.random.default_rng(1)
    clean = torch.from_numpy(np.sin(np.arange(16129) * 0.05)[None].astype(np.float32) * 0.1)
    noisy = clean + torch.from_numpy(rng.standard_normal((1, 16129)).astype(np.float32) * 0.05)

    class Offset(torch.nn.Module):     # the clean magnitude shifted by `db`
        def __init__(self, db):
            super().__init__()
            self.db = db

        def forward(self, x):
            _, mean, std = normalise(analyse(noisy, fe)[0].unsqueeze(1))
            return (analyse(clean, fe)[0].unsqueeze(1) + self.db - mean) / std

    added = {}
    for db in (6.0, -6.0):
        plain = float(perceptual_loss(Offset(db), noisy, clean, fe, 0.0))
        added[db] = float(perceptual_loss(Offset(db), noisy, clean, fe, 0.0, residual_weight=2.0)) / plain - 1
    assert added[6.0] > 1.5 and 0 <= added[-6.0] < 0.2, added


def test_lr_schedule_warms_up_and_decays():
    from chvoice_core.train import lr_factor
    cfg = TrainConfig(steps=100, warmup_steps=10, schedule="cosine", min_lr_fraction=0.1)
    f = [lr_factor(s, cfg) for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[10:], f[11:])) and f[-1] == pytest.approx(0.1, abs=0.01)
    assert lr_factor(50, TrainConfig(steps=100)) == 1.0


def test_workers_give_the_same_batches_validation_keeps_the_best(sampler, tmp_path):
    from chvoice_core.validation import Validation
    items = [sampler.batch(50_000 + i, 1) for i in range(2)]
    val = Validation([n[0] for n, _ in items], [c[0] for _, c in items], key="si_sdr")
    cfg = TrainConfig(steps=6, batch_size=2, lr=1e-3, progress=False, loss="perceptual", clip_grad_norm=1.0,
                      validate_every=3, checkpoint_every=3)
    torch.manual_seed(0)
    a = train(UNet(UNetConfig(depth=2, base_width=4, mask=True)), sampler, cfg, out_dir=tmp_path / "a", validation=val)
    torch.manual_seed(0)
    b = train(UNet(UNetConfig(depth=2, base_width=4, mask=True)), sampler,
              TrainConfig(**{**cfg.__dict__, "workers": 1}), out_dir=tmp_path / "b", validation=val)
    assert a["history"] == pytest.approx(b["history"], rel=1e-5)      # same batches, mixed in a worker
    rows = json.loads((tmp_path / "a" / "validation.json").read_text())
    assert [r["step"] for r in rows] == [3, 6]
    best = max(rows, key=lambda r: r["si_sdr"])
    m, meta = load_model(tmp_path / "a" / "model.pt")
    assert meta["validation"] == best and meta["loss"] == "perceptual"
    best_model, _ = load_model(tmp_path / "a" / "best.pt")
    for (k, x), y in zip(m.state_dict().items(), best_model.state_dict().values()):
        assert torch.equal(x, y), k


def test_time_budget_ends_the_run_annealed(sampler, tmp_path):
    """A wall-clock budget stops the run and the cosine decay follows the clock, so a run that stops early
    still ends at the floor learning rate; the checkpoint and the model say how many steps were taken."""
    from chvoice_core.train import lr_factor
    cfg = TrainConfig(steps=10**6, batch_size=2, progress=False, schedule="cosine", min_lr_fraction=0.1,
                      time_budget_s=1.5, checkpoint_every=10**6)
    assert lr_factor(5, cfg, elapsed_s=0.0) == pytest.approx(1.0, abs=1e-4)
    assert lr_factor(5, cfg, elapsed_s=0.75) == pytest.approx(0.55)
    assert lr_factor(5, cfg, elapsed_s=3.0) == pytest.approx(0.1)
    r = train(UNet(TINY), sampler, cfg, out_dir=tmp_path)
    assert 0 < r["steps"] < 10**6 and len(r["history"]) == r["steps"] and r["seconds"] >= 1.5
    _, meta = load_model(tmp_path / "model.pt")
    assert meta["train_steps"] == r["steps"] and meta["train_seconds"] >= 1.5
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["step"] == r["steps"] and state["elapsed_s"] >= 1.5


def test_unknown_amp_mode_is_refused(sampler):
    from chvoice_core.errors import ChvoiceError
    with pytest.raises(ChvoiceError, match="unknown --amp 'fp8'"):
        train(UNet(TINY), sampler, TrainConfig(steps=1, batch_size=2, progress=False, amp="fp8"))


def test_divergence_names_the_first_bad_step_and_saves_nothing(sampler, tmp_path):
    """Losses are read back in batches (log_every), not every step; a NaN is still caught at the step it
    appeared, before any checkpoint of the broken weights is written."""
    from chvoice_core.errors import ChvoiceError
    def poison(step: int, model: torch.nn.Module) -> None:
        if step == 2:      # as if step 2's update had blown up: step 3's loss is NaN
            with torch.no_grad():
                next(model.parameters()).fill_(float("nan"))

    cfg = TrainConfig(steps=20, batch_size=2, progress=False, log_every=10, checkpoint_every=10)
    with pytest.raises(ChvoiceError, match="training diverged at step 3 "):
        train(UNet(TINY), sampler, cfg, out_dir=tmp_path, on_step=poison)
    assert not (tmp_path / "checkpoint.pt").exists() and not (tmp_path / "model.pt").exists()


def test_high_band_weight_moves_the_spectral_error_towards_the_high_bins():
    """An error only above 3 kHz costs more with the weight, one only below costs less (the mean weight is kept)."""
    from chvoice_core.dsp import stft
    from chvoice_core.losses import HIGH_BAND_HZ, spectral_sisdr_loss
    fe = FrontEnd()
    rng = np.random.default_rng(2)
    clean = torch.from_numpy(rng.standard_normal((1, 16129)).astype(np.float32) * 0.1)
    spec = stft(clean, fe)
    high = (torch.arange(spec.shape[-2]) * 16000 / fe.n_fft >= HIGH_BAND_HZ)[:, None]
    ratio = {}
    for name, where in (("high", high), ("low", ~high)):
        mag = spec.abs() * torch.where(where, 2.0, 1.0)           # 6 dB too loud in those bins only
        plain = spectral_sisdr_loss(mag, spec.angle(), spec, clean, clean, fe, 0.0)[0]
        weighted = spectral_sisdr_loss(mag, spec.angle(), spec, clean, clean, fe, 0.0, high_band_weight=2.0)[0]
        ratio[name] = float(weighted / plain)
    assert ratio["high"] > 1.3 and ratio["low"] < 0.8, ratio
