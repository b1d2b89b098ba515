"""A model's front end (STFT frame and hop) travels with it: checkpoint spec, offline denoising, streaming,
int8, ONNX export and training all read the model's own STFT, not the report's."""
import numpy as np
import pytest
import torch

from chvoice_core.cli import main
from chvoice_core.compress.artifact import load_artifact
from chvoice_core.compress.quantize import static_int8
from chvoice_core.dsp import FrontEnd
from chvoice_core.enhance import Denoiser
from chvoice_core.errors import ChvoiceError
from chvoice_core.metrics import si_sdr
from chvoice_core.models import UNet, UNetConfig, start_as_identity
from chvoice_core.models.io import load_model, model_from_dict, model_to_dict, save_model
from chvoice_core.models.footprint import count_macs
from chvoice_core.models.unet import front_end
from chvoice_core.onnx_step import available as ort_available
from chvoice_core.families import make_streamer
from chvoice_core.causal_stream import CausalStreamingDenoiser
from tests.conftest import speechlike

LONG = dict(n_fft=510, hop=127)       # 32 ms frames, 75 % overlap, 256 bins


def _random(cfg: UNetConfig, seed: int = 0) -> UNet:
    """Random weights and BatchNorm statistics, so that the model does change its input."""
    torch.manual_seed(seed)
    m = UNet(cfg)
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 0.3)
        m.train()
        m(torch.randn(4, 1, front_end(m).n_bins, 64))
    return m.eval()


def _input_bins(model: torch.nn.Module, run) -> set[int]:
    """The frequency sizes of every tensor `model` was called on while `run()` ran."""
    seen: set[int] = set()
    h = model.register_forward_pre_hook(lambda mod, args: seen.add(args[0].shape[-2]))
    try:
        run()
    finally:
        h.remove()
    return seen


def test_the_spec_carries_the_front_end_and_old_checkpoints_read_the_reports(tmp_path):
    m = UNet(UNetConfig(depth=2, base_width=4, mask=True, **LONG)).eval()
    save_model(tmp_path / "m.pt", m)
    m2, _ = load_model(tmp_path / "m.pt")
    assert front_end(m2) == FrontEnd(**LONG) and front_end(m2).n_bins == 256
    old = model_to_dict(UNet(UNetConfig(depth=2, base_width=4)))
    del old["config"]["n_fft"], old["config"]["hop"]          # written before the front end was in the spec
    assert front_end(model_from_dict(old)) == FrontEnd()
    assert count_macs(m2) == 2 * count_macs(UNet(UNetConfig(depth=2, base_width=4, mask=True)))   # twice the bins
    for bad, word in [({"n_fft": 512}, "n_fft"), ({"n_fft": 10 ** 6}, "n_fft"), ({"n_fft": "510"}, "n_fft"),
                      ({"hop": 0}, "hop"), ({"hop": 600}, "hop"), ({"tile_hop": 0}, "tile_hop"),
                      ({"tile_hop": 129}, "tile_hop"), ({"tile_hop": 9.5}, "tile_hop")]:
        d = model_to_dict(m)
        d["config"].update(bad)
        with pytest.raises(ChvoiceError, match=f"bad architecture spec.*{word}"):
            model_from_dict(d, "m.pt")


def test_an_identity_model_passes_speech_through_its_own_stft():
    x = speechlike(2.0, seed=1)
    m = start_as_identity(UNet(UNetConfig(depth=2, base_width=4, mask=True, **LONG))).eval()
    den = Denoiser(m)
    assert den.fe == FrontEnd(**LONG)
    y = {}
    assert _input_bins(den.model, lambda: y.setdefault("out", den(x))) == {256}
    assert y["out"].shape == x.shape and si_sdr(y["out"], x) > 40


class _Identity(torch.nn.Module):
    """Gives its tiles back, and says it reads the long STFT."""
    config = UNetConfig(depth=2, base_width=4, **LONG)

    def forward(self, x):
        return x


def test_the_rolling_context_engine_streams_an_identity_back_on_the_models_stft():
    x = speechlike(1.3, seed=4)
    eng = make_streamer(_Identity(), "low-latency")
    assert eng.fe == FrontEnd(**LONG)
    out = {}
    assert _input_bins(eng.model, lambda: out.setdefault("y", eng.run(x, 381))) == {256}
    assert out["y"].shape == x.shape and np.abs(out["y"] - x).max() < 1e-5


def test_a_causal_model_streams_like_its_offline_output_on_its_own_stft():
    m = _random(UNetConfig(depth=2, base_width=4, mask=True, causal=True, lookahead=1, **LONG))
    x = speechlike(1.5, seed=2)
    offline = Denoiser(m)(x)
    eng = CausalStreamingDenoiser(m, backend="torch")
    assert eng.fe == FrontEnd(**LONG)
    assert np.abs(offline - x).max() > 1e-2
    assert np.abs(eng.run(x, 300) - offline).max() <= 1e-4
    # latency: (one hop + one frame of lookahead) + the synthesis window's tail, now 510 - 127 samples
    assert eng.algorithmic_latency_ms == pytest.approx(1000 * (2 * 127 + 510 - 127) / 16000)


def test_int8_keeps_the_front_end_and_calibrates_on_its_bins(tmp_path):
    m = _random(UNetConfig(depth=2, base_width=4, mask=True, **LONG))
    q = static_int8(m, torch.randn(8, 1, 256, 128))
    assert front_end(q) == FrontEnd(**LONG)
    x = speechlike(1.0, seed=3)
    assert np.abs(Denoiser(q)(x) - Denoiser(m)(x)).max() < 0.05


@pytest.mark.skipif(not ort_available(), reason="onnx / onnxruntime not installed")
def test_onnx_export_says_which_stft_surrounds_the_graph(tmp_path):
    save_model(tmp_path / "m.pt", _random(UNetConfig(depth=2, base_width=4, mask=True, **LONG)))
    assert main(["export", str(tmp_path / "m.pt"), "--out", str(tmp_path / "m.onnx")]) == 0
    import onnxruntime as ort
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].shape[2] == 256
    assert sess.run(None, {"tiles": np.zeros((2, 1, 256, 128), np.float32)})[0].shape == (2, 1, 256, 128)


def test_train_cli_saves_the_front_end_and_reframes_a_report_model(tmp_path, capsys, cache_dir):
    from dataclasses import replace

    from chvoice_core.models.archs import arch_config
    torch.manual_seed(0)
    # the smoke budget's normal architecture at width 4 with the gain head, on the report's STFT
    start = UNet(replace(arch_config("normal", 8), base_width=4, widths=None, mask=True)).eval()
    save_model(tmp_path / "report.pt", start)
    base = ["train", "--budget", "smoke", "--steps", "1", "--lr", "1e-9", "--quiet", "--cache-dir", str(cache_dir),
            "--mask", "--width", "4"]
    assert main(base + ["--n-fft", "510", "--init", str(tmp_path / "report.pt"), "--out", str(tmp_path / "f")]) == 0
    tuned, _ = load_artifact(tmp_path / "f" / "model.pt")
    assert front_end(tuned) == FrontEnd(**LONG)
    w0, w1 = dict(start.named_parameters()), dict(tuned.named_parameters())
    assert all(torch.allclose(w0[k], w1[k], atol=1e-4) for k in w0)        # the report model's weights, re-framed
    capsys.readouterr()
    assert main(base + ["--n-fft", "512", "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--n-fft" in err[0] and "510" in err[0]
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow
@pytest.mark.parametrize("step", ["qat", "pt2e-qat"])
def test_qat_fine_tunes_and_runs_on_the_models_stft(tmp_path, cache_dir, step):
    """Both QAT steps fine-tune on the float model's STFT (the PT2E graph is exported with its bins and fails on
    any other), and the result reads that STFT before it is ever saved and loaded."""
    from chvoice_core.budgets import get_budget
    from chvoice_core.compress.steps import PT2EQAT, QAT
    from chvoice_core.data import DataConfig
    from chvoice_core.zoo import Zoo
    m = _random(UNetConfig(depth=2, base_width=4, mask=True, **LONG))
    zoo = Zoo(get_budget("smoke"), DataConfig(cache_dir=str(cache_dir)), cache_dir=tmp_path, progress=False)
    q, quant, _ = zoo.apply_step({"qat": QAT, "pt2e-qat": PT2EQAT}[step](), m, "weighted")
    assert quant == step and front_end(q) == FrontEnd(**LONG)
    assert _input_bins(q, lambda: Denoiser(q)(speechlike(1.0, seed=5))) == {256}
