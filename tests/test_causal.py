"""The causal U-Net: causality, streaming == offline for any block size (float, ONNX Runtime, int8), latency,
checkpoints, training with lookahead, pruning and the live CLI."""
import json

import numpy as np
import pytest
import soundfile as sf
import torch

from chvoice_core.cli import main
from chvoice_core.compress.pruning import prunable_convs, remove_filters
from chvoice_core.compress.quantize import static_int8
from chvoice_core.dsp import FrontEnd
from chvoice_core.enhance import Denoiser
from chvoice_core.causal_stream import frame_offline as causal_offline
from chvoice_core.errors import ChvoiceError
from chvoice_core.models import UNet, UNetConfig
from chvoice_core.models.io import load_model, model_from_dict, model_to_dict, save_model
from chvoice_core.models.footprint import count_macs
from chvoice_core.models.unet import causal_lookahead, is_causal
from chvoice_core.onnx_step import available as ort_available
from chvoice_core.families import make_streamer
from chvoice_core.causal_stream import CausalStreamingDenoiser
from tests.conftest import speechlike


def causal(width=8, lookahead=2, seed=0, depth=4):
    """A causal U-Net with random weights and BatchNorm statistics (so no layer is an identity)."""
    torch.manual_seed(seed)
    m = UNet(UNetConfig(depth=depth, base_width=width, causal=True, mask=True, lookahead=lookahead))
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 0.3)
        m.train()
        m(torch.randn(4, 1, 128, 64))       # BatchNorm running statistics
    return m.eval()


def test_output_frame_depends_on_past_and_lookahead_only():
    m = causal(lookahead=2)
    x = torch.randn(1, 1, 128, 40)
    t = 25
    x2 = x.clone()
    x2[..., t:] += torch.randn_like(x2[..., t:])     # change frames t.. only
    with torch.no_grad():
        y, y2 = m(x), m(x2)
    # output frame s sees input frames <= s: frames before t are untouched, frame t changes
    assert torch.equal(y[..., :t], y2[..., :t])
    assert (y[..., t] - y2[..., t]).abs().max() > 1e-5
    assert (y[..., t + 2] - y2[..., t + 2]).abs().max() > 0.1     # output frame t + 2 estimates input frame t
    assert causal_lookahead(m) == 2 and is_causal(m) and not is_causal(UNet(UNetConfig(depth=2, base_width=4)))


def test_receptive_field_reaches_a_second_into_the_past():
    m = causal()
    x = torch.randn(1, 1, 128, 200)
    x2 = x.clone()
    x2[..., 0] += 5.0
    with torch.no_grad():
        diff = (m(x) - m(x2)).abs().amax(dim=(0, 1, 2))
    reach = int((diff > 0).nonzero().max())
    assert reach >= 120          # frames: 120 * 7.94 ms = 0.95 s


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
@pytest.mark.parametrize("block", [1, 100, 127, 128, 1000, 40000])
def test_streaming_equals_offline_for_any_block_size(backend, block):
    if backend == "onnxruntime" and not ort_available():
        pytest.skip("onnx / onnxruntime not installed")
    m = causal(width=8)
    x = speechlike(2.0, seed=3)
    offline = Denoiser(m)(x)
    eng = CausalStreamingDenoiser(m, backend=backend)
    assert eng.backend == backend
    y = eng.run(x, block)
    assert y.shape == x.shape
    assert np.abs(offline - x).max() > 1e-2          # the model does change the signal
    assert np.abs(y - offline).max() <= 1e-4
    eng.reset()                                        # a second stream starts from silence again
    assert np.abs(eng.run(x, 333) - offline).max() <= 1e-4


def test_int8_causal_model_streams_like_its_offline_output():
    m = causal(width=8)
    q = static_int8(m, torch.randn(16, 1, 128, 64))
    assert is_causal(q) and causal_lookahead(q) == 2
    x = speechlike(1.5, seed=5)
    offline = Denoiser(q)(x)
    eng = CausalStreamingDenoiser(q)
    assert eng.backend == "torch"                      # int8 streams in PyTorch
    assert np.abs(eng.run(x, 77) - offline).max() <= 1e-4
    assert np.abs(offline - Denoiser(m)(x)).max() < 0.05    # int8 stays close to float


def test_chunked_offline_equals_one_call():
    m = causal(width=8)
    x = speechlike(3.0, seed=7)
    whole = causal_offline(m, x, FrontEnd(), chunk_frames=10_000)
    assert np.abs(causal_offline(m, x, FrontEnd(), chunk_frames=37) - whole).max() < 1e-5


@pytest.mark.parametrize("look,ms", [(0, 15.875), (1, 23.8125), (2, 31.75)])
def test_latency_is_window_plus_lookahead_plus_hop(look, ms):
    eng = CausalStreamingDenoiser(causal(width=4, lookahead=look), backend="torch")
    assert eng.algorithmic_latency_ms == pytest.approx(ms)
    assert eng.call_budget_ms == pytest.approx(7.9375)       # one hop per call


def test_make_streamer_picks_the_causal_engine():
    assert isinstance(make_streamer(causal(width=4)), CausalStreamingDenoiser)
    assert not isinstance(make_streamer(UNet(UNetConfig(depth=2, base_width=4)).eval()), CausalStreamingDenoiser)


def test_checkpoint_round_trip_and_spec_bounds(tmp_path):
    m = causal(width=4, lookahead=1)
    save_model(tmp_path / "c.pt", m)
    m2, _ = load_model(tmp_path / "c.pt")
    assert m2.config.causal and m2.config.lookahead == 1
    x = torch.randn(1, 1, 128, 20)
    with torch.no_grad():
        assert torch.equal(m(x), m2(x))
    d = model_to_dict(m)
    d["config"]["lookahead"] = 999
    with pytest.raises(ChvoiceError, match="lookahead"):
        model_from_dict(d)


def test_flat_widths_keep_a_frame_cheaper_than_the_report_layout():
    c = UNet(UNetConfig(depth=4, base_width=32, causal=True, mask=True))
    r = UNet(UNetConfig(depth=4, base_width=32, mask=True))
    assert set(c.config.conv_widths()) == {32}
    assert count_macs(c, (1, 1, 128, 128)) < count_macs(r, (1, 1, 128, 128))


def test_pruning_keeps_the_model_causal_and_streamable():
    m = causal(width=8)
    picks = [[0, 1] if i % 2 == 0 else [] for i in range(len(prunable_convs(m)))]
    p = remove_filters(m, picks).eval()
    assert p.config.causal and p.config.conv_widths()[0] == 6
    x = speechlike(1.0, seed=2)
    assert np.abs(CausalStreamingDenoiser(p, backend="torch").run(x, 200) - Denoiser(p)(x)).max() <= 1e-4


def test_training_steps_with_lookahead_lower_the_loss():
    from chvoice_core.losses import perceptual_loss, tile_loss
    torch.manual_seed(0)
    m = UNet(UNetConfig(depth=2, base_width=8, causal=True, mask=True, lookahead=2))
    clean = torch.from_numpy(np.stack([speechlike(1.0, seed=s)[:16129] for s in range(4)]))
    noisy = clean + 0.05 * torch.randn_like(clean)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss = perceptual_loss(m, noisy, clean, FrontEnd())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]
    db = torch.randn(2, 1, 128, 32)
    assert torch.isfinite(tile_loss(m, db, db))


def test_live_cli_streams_a_causal_model(tmp_path):
    m = causal(width=4)
    save_model(tmp_path / "c.pt", m)
    x = speechlike(1.2, seed=9)
    sf.write(tmp_path / "in.wav", x, 16000)
    out = tmp_path / "out.wav"
    import io
    from contextlib import redirect_stdout
    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = main(["live", "--model", str(tmp_path / "c.pt"), "--input", str(tmp_path / "in.wav"),
                   "--output", str(out), "--backend", "torch"])
    assert rc == 0
    summary = json.loads(buf.getvalue().strip().splitlines()[-1])
    assert summary["mode"] == "causal" and summary["algorithmic_latency_ms"] == pytest.approx(31.75)
    assert summary["block_samples"] == 127
    y, sr = sf.read(out, dtype="float32")
    assert sr == 16000 and np.abs(y - Denoiser(m)(x)).max() < 1e-3     # 16-bit file: quantisation only
    # a rolling-context mode needs a non-causal model, and the causal mode a causal one
    assert main(["live", "--model", str(tmp_path / "c.pt"), "--mode", "low-latency", "--input",
                 str(tmp_path / "in.wav"), "--output", str(tmp_path / "o2.wav")]) == 2


@pytest.mark.slow
def test_evaluate_live_scores_the_streamed_output(tmp_path, capsys):
    m = causal(width=4)
    save_model(tmp_path / "c.pt", m)
    for d in ("noisy", "clean"):
        (tmp_path / d).mkdir()
    for i in range(2):
        clean = speechlike(1.0, seed=i)
        sf.write(tmp_path / "clean" / f"f{i}.wav", clean, 16000)
        sf.write(tmp_path / "noisy" / f"f{i}.wav", clean + 0.05 * np.random.default_rng(i).standard_normal(16000), 16000)
    args = ["evaluate", str(tmp_path / "c.pt"), "--noisy", str(tmp_path / "noisy"), "--clean", str(tmp_path / "clean")]
    assert main(args + ["--out", str(tmp_path / "off")]) == 0
    assert main(args + ["--live", "causal", "--out", str(tmp_path / "live")]) == 0
    off = json.loads((tmp_path / "off" / "scores.json").read_text())["files"]
    live = json.loads((tmp_path / "live" / "scores.json").read_text())
    assert live["system"] == "c (live, causal)"
    for a, b in zip(off, live["files"]):      # streaming equals offline, so the scores do too
        assert a["si_sdr"] == pytest.approx(b["si_sdr"], abs=1e-3)
    capsys.readouterr()
    assert main(args + ["--live", "low-latency"]) == 2
    assert "causal" in capsys.readouterr().err
