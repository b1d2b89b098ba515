import pytest
import torch

from chvoice_core.errors import ChvoiceError
from chvoice_core.models import UNet, UNetConfig, count_macs, count_params, inference_layout
from chvoice_core.models.archs import ARCHS, arch_config
from chvoice_core.models.io import load_model, save_model


def test_parameter_and_mac_counts_match_the_report():
    normal = UNet(ARCHS["normal"])
    assert count_params(normal) == pytest.approx(13.4e6, rel=0.005)
    assert count_macs(normal) == pytest.approx(7.7e9, rel=0.01)
    smaller = UNet(ARCHS["smaller"])
    assert count_params(smaller) < 0.3 * count_params(normal)
    student = UNet(ARCHS["student"])
    # width 32: about a quarter of the teacher (the report: ~13 MB vs ~53 MB)
    assert count_params(student) / count_params(normal) == pytest.approx(0.25, abs=0.01)


def test_budget_width_divisor():
    assert arch_config("normal", 8).base_width == 8
    assert arch_config("student", 8).base_width == 4
    with pytest.raises(ChvoiceError, match="unknown architecture"):
        arch_config("huge")


@pytest.mark.parametrize("cfg", [UNetConfig(depth=4, base_width=8), UNetConfig(depth=3, base_width=8),
                                 UNetConfig(depth=2, base_width=4, bilinear=False, residual=False)])
def test_shapes(cfg):
    m = UNet(cfg).eval()
    x = torch.randn(2, 1, 128, 128)
    assert m(x).shape == x.shape


def test_save_load_round_trip_with_explicit_widths(tmp_path):
    torch.manual_seed(0)
    cfg = UNetConfig(depth=3, base_width=8).with_widths((5, 8, 16, 11, 32, 32, 30, 30, 17, 16, 8, 8, 7, 6))
    m = UNet(cfg)
    m.train()
    m(torch.randn(4, 1, 128, 128))   # populate BatchNorm running stats
    m.eval()
    x = torch.randn(3, 1, 128, 128)
    save_model(tmp_path / "m.pt", m, {"note": "pruned"})
    m2, meta = load_model(tmp_path / "m.pt")
    assert meta == {"note": "pruned"}
    assert m2.config == cfg
    assert torch.equal(m(x), m2(x))
    raw = torch.load(tmp_path / "m.pt", weights_only=True)   # plain data: no code is unpickled
    assert raw["format"] == "chvoice.model"


def test_checkpoint_errors(tmp_path):
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"\x80\x04not a checkpoint at all")
    with pytest.raises(ChvoiceError, match="not a readable chvoice checkpoint"):
        load_model(bad)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(ChvoiceError, match="not a chvoice model file"):
        load_model(other)
    m = UNet(UNetConfig(depth=2, base_width=4))
    save_model(tmp_path / "m.pt", m)
    ck = torch.load(tmp_path / "m.pt", weights_only=True)
    ck["config"]["base_width"] = 8        # spec of another architecture than the weights
    torch.save(ck, tmp_path / "mismatch.pt")
    with pytest.raises(ChvoiceError, match="do not match its architecture"):
        load_model(tmp_path / "mismatch.pt")
    ck["format_version"] = 99
    torch.save(ck, tmp_path / "future.pt")
    with pytest.raises(ChvoiceError, match="format version 99"):
        load_model(tmp_path / "future.pt")
    with pytest.raises(ChvoiceError, match="no such model file"):
        load_model(tmp_path / "missing.pt")


def test_start_as_identity_outputs_the_input_and_still_learns():
    from chvoice_core.models import start_as_identity
    torch.manual_seed(0)
    m = start_as_identity(UNet(UNetConfig(depth=2, base_width=4)))
    x = torch.randn(2, 1, 32, 32)
    assert torch.equal(m(x), x)
    loss = ((m(x) - 0.5 * x) ** 2).mean()
    loss.backward()
    assert m.outc.weight.grad.abs().sum() > 0          # the output conv gets a gradient at step 0


def test_inference_layout_keeps_outputs_and_input_layout():
    torch.manual_seed(0)
    model = UNet(UNetConfig(base_width=8, widths=(8, 8, 16, 8, 24, 16, 32, 24, 40, 32, 24, 16, 16, 8, 8, 8, 8, 8)))
    model.eval()
    x = torch.randn(2, 1, 128, 128)
    with torch.no_grad():
        before = model(x)
        assert inference_layout(model, "cpu") is model
        after = model(x)
    assert model.inc[3].weight.is_contiguous(memory_format=torch.channels_last)
    assert not model.inc[3].weight.is_contiguous()
    assert after.is_contiguous()      # callers get NCHW back
    assert torch.allclose(before, after, atol=1e-5)
