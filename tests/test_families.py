"""The model families: one registry decides how each kind of model runs, streams and exports."""
import numpy as np
import pytest
import torch

from chvoice_core.enhance import Denoiser
from chvoice_core.errors import ChvoiceError
from chvoice_core.families import FAMILIES, LIVE_MODE_NAMES, family_of
from chvoice_core.models import UNet, UNetConfig
from chvoice_core.models.unet import with_phase_head
from chvoice_core.causal_stream import CausalStreamingDenoiser
from chvoice_core.stream import StreamingDenoiser
from tests.conftest import speechlike


def _models():
    torch.manual_seed(0)
    tile = UNet(UNetConfig(depth=2, base_width=4)).eval()
    return {"tile": tile, "phase": with_phase_head(tile).eval(),
            "causal": UNet(UNetConfig(depth=2, base_width=4, causal=True, lookahead=1)).eval()}


def test_each_spec_has_its_family_and_engines():
    x = speechlike(1.5, seed=3)
    for name, model in _models().items():
        fam = family_of(model)
        assert fam is FAMILIES[name]
        d = Denoiser(model)
        y = d(x)
        assert y.shape == x.shape and np.isfinite(y).all()
        assert np.array_equal(d.enhance(x, 16_000), y)      # one engine: the call is enhance at 16 kHz
    assert set(LIVE_MODE_NAMES) == {"causal", "low-latency", "low-latency-hq", "no-lookahead", "report"}


def test_families_stream_in_their_own_modes_only():
    m = _models()
    assert isinstance(family_of(m["causal"]).streamer(m["causal"], backend="torch"), CausalStreamingDenoiser)
    eng = family_of(m["tile"]).streamer(m["tile"])
    assert type(eng) is StreamingDenoiser and eng.describe() == "rolling context"
    with pytest.raises(ChvoiceError, match="streams in causal"):
        family_of(m["causal"]).streamer(m["causal"], "low-latency")
    with pytest.raises(ChvoiceError, match="offline only"):
        family_of(m["phase"]).streamer(m["phase"])
    with pytest.raises(ChvoiceError, match="unknown live mode"):
        family_of(m["tile"]).live_mode("fast")


def test_graph_exports_are_refused_by_family():
    m = _models()
    from chvoice_core.compress.pt2e import prepare
    with pytest.raises(ChvoiceError, match="causal model"):
        prepare(m["causal"])
    from chvoice_core.onnx_step import export_step
    with pytest.raises(ChvoiceError, match="tile model"):
        export_step(m["tile"])
    assert not family_of(m["phase"]).magnitude_only and family_of(m["causal"]).magnitude_only
