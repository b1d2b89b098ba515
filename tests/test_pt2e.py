"""int8 through torchao PT2E: the artifact round trip and agreement with the FX int8 model of the same weights."""
import pytest
import torch

from chvoice_core.compress.artifact import load_artifact, save_artifact
from chvoice_core.compress.pt2e import pt2e_int8
from chvoice_core.compress.quantize import int8_layers, static_int8
from chvoice_core.errors import ChvoiceError
from chvoice_core.models import UNet, UNetConfig


@pytest.mark.slow
def test_pt2e_int8_round_trips_and_agrees_with_fx(tmp_path):
    torch.manual_seed(0)
    m = UNet(UNetConfig(depth=3, base_width=8, mask=True))
    with torch.no_grad():
        m.train()
        m(torch.randn(8, 1, 128, 128))
    m.eval()
    calib, x = torch.randn(16, 1, 128, 128), torch.randn(3, 1, 128, 128)
    q = pt2e_int8(m, calib)
    assert len(int8_layers(q)) == 2 * (2 * 3 + 1) + 1
    with torch.no_grad():
        ref, fx, y = m(x), static_int8(m, calib)(x), q(x)
    assert y.shape == ref.shape
    # both int8 models err against float alike, and stay close to each other
    assert (y - ref).abs().mean() < 2 * (fx - ref).abs().mean() + 1e-3
    assert (y - fx).abs().mean() < 0.1 * ref.abs().mean()
    save_artifact(tmp_path / "p.pt", q, m.config, "pt2e")
    again, meta = load_artifact(tmp_path / "p.pt")
    with torch.no_grad():
        assert torch.equal(again(x), y)          # observer ranges (eps included) reload exactly
    assert meta["quant"] == "pt2e" and again.config == m.config
    # one compiled graph serves every caller: no_grad, inference_mode, an inference tensor, plain autograd mode
    from torch._dynamo.utils import counters
    before = counters["stats"]["unique_graphs"]
    with torch.inference_mode():
        x_inf = x.clone()
        a = again(x_inf)
    b = again(x)
    with torch.inference_mode():
        c = again(x)
    assert counters["stats"]["unique_graphs"] == before
    assert torch.equal(a, y) and torch.equal(b, y) and torch.equal(c, y)
    b += 1.0          # outside inference mode, the output is an ordinary tensor


def test_pt2e_refuses_causal_models():
    with pytest.raises(ChvoiceError, match="non-causal"):
        pt2e_int8(UNet(UNetConfig(depth=2, base_width=4, causal=True)), torch.randn(2, 1, 128, 128))


@pytest.mark.slow
def test_pt2e_qat_step_fine_tunes_and_round_trips(tmp_path, cache_dir):
    """The `pt2e-qat` step through the zoo: fake-quantized fine-tune of the smoke teacher, converted to int8
    kernels, saved and reloaded to the same outputs; it stays close to the float teacher."""
    from chvoice_core.budgets import get_budget
    from chvoice_core.compress.recipes import user_variant
    from chvoice_core.data import DataConfig
    from chvoice_core.zoo import Zoo
    v = user_variant("qat-pt2e", "pt2e-qat")
    zoo = Zoo(get_budget("smoke"), DataConfig(cache_dir=str(cache_dir)), cache_dir=tmp_path, progress=False,
              extra_variants=(v,))
    e = zoo.entry(v.id, "no-reverb")
    teacher = zoo.entry("normal", "no-reverb").model
    again, meta = load_artifact(e.path)
    x = zoo.calibration("no-reverb", 8)[:3]
    with torch.no_grad():
        y, ref = e.model(x), teacher(x)
        assert torch.equal(again(x), y)
    assert meta["quant"] == "pt2e-qat" and len(meta["int8_layers"]) == 2 * (2 * 4 + 1) + 1
    assert (y - ref).abs().mean() < 0.2 * ref.abs().mean()
