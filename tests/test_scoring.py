"""The benchmarks' scorer: scores of an enhancer's estimates, cached under the enhancer's content key."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from chvoice_core import scoring
from chvoice_core.compress.artifact import save_artifact
from chvoice_core.enhance import Denoiser
from chvoice_core.metrics import score
from chvoice_core.models.unet import UNet, UNetConfig
from chvoice_core.scoring import Enhancer, Scorer
from tests.conftest import speechlike


def _pairs(n=2):
    rng = np.random.default_rng(1)
    out = []
    for i in range(n):
        clean = speechlike(1.2, seed=i)
        out.append(((clean + 0.02 * rng.standard_normal(len(clean))).astype(np.float32), clean))
    return out


def _artifact(path, seed):
    torch.manual_seed(seed)
    cfg = UNetConfig(depth=2, base_width=4)
    model = UNet(cfg).eval()
    save_artifact(path, model, cfg, None)
    return model


def _no_enhancing(monkeypatch):
    def refuse(args):
        raise AssertionError("a cached score was recomputed")
    monkeypatch.setattr(scoring, "_job", refuse)


def test_artifact_scores_match_direct_scoring_and_are_cached(tmp_path, monkeypatch):
    model = _artifact(tmp_path / "m.pt", 0)
    pairs = _pairs()
    s = Scorer(tmp_path / "cache", workers=1, which=("si_sdr", "rms_db"))
    got = s.score(Enhancer.artifact(tmp_path / "m.pt"), pairs)
    den = Denoiser(model)
    for (noisy, clean), g in zip(pairs, got):
        want = score(den(noisy), clean, which=("si_sdr", "rms_db"))
        assert g == pytest.approx(want, abs=1e-4)
    _no_enhancing(monkeypatch)
    assert s.score(Enhancer.artifact(tmp_path / "m.pt"), pairs) == got      # warm: read back, not recomputed
    _artifact(tmp_path / "m.pt", 1)                                          # same path, other weights
    with pytest.raises(AssertionError, match="recomputed"):
        s.score(Enhancer.artifact(tmp_path / "m.pt"), pairs)


def test_known_estimates_are_scored_as_given(tmp_path):
    pairs = _pairs()
    s = Scorer(tmp_path, workers=1, which=("si_sdr",))
    ident = s.score(Enhancer.identity(), pairs)
    assert ident[0]["si_sdr"] == pytest.approx(score(pairs[0][0], pairs[0][1], which=("si_sdr",))["si_sdr"])
    perfect = s.score(Enhancer("identity", key="test/perfect"), pairs, known={0: pairs[0][1]})
    assert perfect[0]["si_sdr"] > 80 and perfect[1] == ident[1]


def test_metric_sets_are_cached_apart(tmp_path):
    pairs = _pairs(1)
    s = Scorer(tmp_path, workers=1)
    assert set(s.score(Enhancer.identity(), pairs, which=("si_sdr",))[0]) == {"si_sdr"}
    assert set(s.score(Enhancer.identity(), pairs, which=("si_sdr", "stoi"))[0]) == {"si_sdr", "stoi"}


def test_stream_enhancer_returns_aligned_output(tmp_path):
    _artifact(tmp_path / "m.pt", 0)
    live = Enhancer.stream(tmp_path / "m.pt", "low-latency")
    assert live.key != Enhancer.artifact(tmp_path / "m.pt").key
    x = _pairs(1)[0][0]
    run = live.build()
    y = run(x)
    assert y.shape == x.shape and np.isfinite(y).all()
    assert np.array_equal(run(x), y)                     # the engine is reset between utterances
