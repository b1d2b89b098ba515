"""ONNX export and ONNX Runtime parity: the tile model and the causal streaming step."""
import json

import numpy as np
import pytest
import torch

from chvoice_core.cli import main
from chvoice_core.compress.quantize import static_int8
from chvoice_core.models import UNet, UNetConfig
from chvoice_core.models.io import save_model
from chvoice_core.onnx_step import OrtStep, available, export_model
from chvoice_core.errors import ChvoiceError

pytestmark = pytest.mark.skipif(not available(), reason="onnx / onnxruntime not installed")


def _model(causal=False, seed=0):
    torch.manual_seed(seed)
    m = UNet(UNetConfig(depth=3, base_width=8, mask=True, causal=causal, lookahead=2 if causal else 0))
    with torch.no_grad():
        m.train()
        m(torch.randn(4, 1, 128, 64))
    return m.eval()


def test_tile_model_runs_in_onnxruntime_like_pytorch(tmp_path):
    import onnxruntime as ort
    m = _model()
    desc = export_model(m, tmp_path / "m.onnx")
    assert desc["kind"] == "tile"
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    x = torch.randn(3, 1, 128, 128)
    y = sess.run(None, {"tiles": x.numpy()})[0]
    with torch.no_grad():
        assert np.abs(y - m(x).numpy()).max() < 1e-4         # stated tolerance: 1e-4 in normalised dB units


def test_causal_step_in_onnxruntime_equals_the_whole_sequence():
    m = _model(causal=True)
    x = torch.randn(1, 1, 128, 30)
    with torch.no_grad():
        ref = m(x)
    step = OrtStep(m)
    states, outs = step.zero_states(), []
    for t in range(30):
        y, states = step(x[..., t:t + 1], states)
        outs.append(y)
    outs = torch.cat(outs, dim=-1)
    assert (outs - ref).abs().max() < 1e-4
    assert not m.training                                   # exporting leaves the model as it was
    with torch.no_grad():
        assert torch.equal(m(x), ref)


def test_export_cli(tmp_path, capsys):
    save_model(tmp_path / "c.pt", _model(causal=True))
    assert main(["export", str(tmp_path / "c.pt"), "-o", str(tmp_path / "c.onnx")]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["kind"] == "causal-step" and (tmp_path / "c.onnx").stat().st_size == out["size_bytes"]
    assert main(["export", str(tmp_path / "c.pt"), "-o", str(tmp_path / "c.txt")]) == 2
    with pytest.raises(ChvoiceError):
        export_model(static_int8(_model(), torch.randn(4, 1, 128, 128)), tmp_path / "q.onnx")


def test_onnx_runtime_tile_models_match_pytorch_and_save_as_artifacts(tmp_path):
    """The `onnx` step's model equals PyTorch within 1e-4; the `ort-int8` (QDQ) model stays within int8 error,
    runs int8 convolutions, and both reload (weights_only) to identical outputs and export as they are."""
    from chvoice_core.compress.artifact import load_artifact, save_artifact
    from chvoice_core.compress.ort import OrtTileModel, quantize_graph, tile_graph
    from chvoice_core.compress.quantize import int8_layers
    m = _model()
    x = torch.randn(3, 1, 128, 128)
    with torch.no_grad():
        ref = m(x)
    fp = OrtTileModel(tile_graph(m))
    assert (fp(x) - ref).abs().max() < 1e-4 and int8_layers(fp) == []
    q = OrtTileModel(quantize_graph(tile_graph(m), torch.randn(16, 1, 128, 128)))
    err = (q(x) - ref).abs()
    assert len(int8_layers(q)) == 2 * (2 * 3 + 1) + 1          # every conv of a depth-3 U-Net
    assert 0 < err.mean() < 0.1 * ref.abs().mean()
    save_artifact(tmp_path / "q.pt", q, m.config, "onnx-int8")
    again, meta = load_artifact(tmp_path / "q.pt")
    assert torch.equal(again(x), q(x)) and meta["quant"] == "onnx-int8" and again.config == m.config
    desc = export_model(again, tmp_path / "q.onnx")
    assert desc["int8_layers"] == len(int8_layers(q))
    assert (tmp_path / "q.onnx").read_bytes() == q.graph.numpy().tobytes()
    with pytest.raises(ChvoiceError, match="causal models"):
        tile_graph(_model(causal=True))
