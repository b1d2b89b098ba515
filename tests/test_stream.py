import json

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

from chvoice_core.cli import main
from chvoice_core.live import run_file
from chvoice_core.models import UNet, UNetConfig
from chvoice_core.models.io import save_model
from chvoice_core.stream import StreamConfig, StreamingDenoiser
from tests.conftest import speechlike


class Identity(nn.Module):
    def forward(self, x):
        return x


def tiny(seed=0):
    torch.manual_seed(seed)
    m = UNet(UNetConfig(depth=2, base_width=4))
    with torch.no_grad():
        m.train()
        m(torch.randn(4, 1, 128, 128))
    return m.eval()


@pytest.mark.parametrize("mode", ["low-latency", "no-lookahead", "report"])
def test_identity_model_streams_back_the_input(mode):
    """Also checks the lookahead bookkeeping: a column paired with another frame's phase, or added at
    another frame's place, would not give the input back."""
    x = speechlike(1.3)
    y = StreamingDenoiser(Identity(), StreamConfig.mode(mode)).run(x, 381)
    assert y.shape == x.shape
    assert np.abs(y - x).max() < 1e-5     # the STFT / overlap-add path loses nothing


def test_latency_arithmetic():
    low = StreamingDenoiser(Identity(), StreamConfig.mode("low-latency"))
    assert low.algorithmic_latency_ms == pytest.approx(31.75)          # (2 + 1 lookahead) hops + 127 samples
    assert low.call_budget_ms == pytest.approx(15.875)
    assert StreamingDenoiser(Identity(), StreamConfig.mode("no-lookahead")).algorithmic_latency_ms == pytest.approx(31.75)
    assert StreamingDenoiser(Identity(), StreamConfig.mode("report")).algorithmic_latency_ms > 1000
    with pytest.raises(ValueError):
        StreamConfig.mode("instant")
    with pytest.raises(ValueError):
        StreamConfig(step_frames=100, lookahead_frames=40)


@pytest.mark.parametrize("cfg", [StreamConfig(3, 128), StreamConfig(2, 128, lookahead_frames=1),
                                 StreamConfig(4, 64, lookahead_frames=5)])
def test_stream_matches_offline_run_for_any_block_size(cfg):
    """Offline = the whole file in one call; blocks of any size must give the same samples (tolerance 1e-5)."""
    m = tiny()
    x = speechlike(2.0, seed=4)
    offline = StreamingDenoiser(m, cfg).run(x, len(x))
    assert offline.shape == x.shape
    for block in (1, 37, 381, 1000, 4096):
        assert np.abs(StreamingDenoiser(m, cfg).run(x, block) - offline).max() < 1e-5, block


def test_lookahead_columns_come_from_the_context_that_saw_their_future():
    """With step k and lookahead L, call c sees frames up to k(c+1) - 1 and emits frames k(c+1) - k - L ...
    k(c+1) - L - 1 from columns C - k - L ... C - L - 1 of its context. Rebuild that directly (one context
    per call, inverse STFT of the chosen columns with the noisy phase) and compare with the stream."""
    from chvoice_core.dsp import FrontEnd, from_db, istft, normalise, to_db
    m, fe = tiny(1), FrontEnd()
    k, la, ctx_len = 2, 3, 64
    x = speechlike(1.0, seed=2)
    y = StreamingDenoiser(m, StreamConfig(k, ctx_len, lookahead_frames=la)).run(x, 381)
    # frames centred at j * hop, zero-padded at the start as the stream is (stft() would reflect)
    xp = np.pad(x.astype(np.float64), (fe.n_fft // 2, fe.n_fft))
    frames = np.stack([xp[j * fe.hop:j * fe.hop + fe.n_fft] for j in range(1 + len(x) // fe.hop)])
    spec = torch.from_numpy(np.fft.rfft(frames * fe.window().double().numpy(), axis=1).T)   # [F, T]
    db = to_db(spec.abs().float(), fe)
    n_frames = spec.shape[1]
    padded = torch.cat([torch.full((fe.n_bins, ctx_len), fe.floor_db), db], dim=1)
    mag = torch.zeros(spec.shape, dtype=torch.float64)
    with torch.no_grad():
        for c in range((n_frames - 1) // k):
            newest = k * (c + 1) - 1
            xin, mean, std = normalise(padded[:, newest + 1:newest + 1 + ctx_len][None, None])
            out = (m(xin) * std + mean)[0, 0]
            for i in range(k):
                j = newest - la - k + 1 + i
                if j >= 0:
                    mag[:, j] = from_db(out[:, ctx_len - la - k + i]).double()
    expected = istft(torch.polar(mag, spec.angle()), fe, len(x)).numpy()
    mid = slice(2000, len(x) - 2000)       # away from the stream's zero-padded start and flushed end
    assert np.abs(y[mid] - expected[mid]).max() < 1e-4
    # the same check with the lookahead ignored must fail: the columns really are L frames back
    assert np.abs(StreamingDenoiser(m, StreamConfig(k, ctx_len)).run(x, 381)[mid] - expected[mid]).max() > 1e-3


def test_run_file_counts_underruns():
    class Slow(nn.Module):
        def forward(self, x):
            import time
            time.sleep(0.03)          # slower than the 23.8 ms a low-latency call may take
            return x
    engine = StreamingDenoiser(Slow())
    y, rep = run_file(engine, speechlike(0.5), 381, realtime=False, mode="low-latency")
    assert rep["underruns"] > 0 and rep["keeps_up"] is False and len(y) == 8000
    y, rep = run_file(StreamingDenoiser(Identity()), speechlike(0.5), 381, realtime=True, mode="low-latency")
    assert rep["underruns"] == 0 and rep["realtime_factor"] == pytest.approx(1.0, abs=0.2)


def test_live_cli_file_mode(tmp_path, capsys):
    save_model(tmp_path / "m.pt", tiny())
    sf.write(tmp_path / "in.wav", speechlike(1.0, sr=22050), 22050)
    code = main(["live", "--model", str(tmp_path / "m.pt"), "--input", str(tmp_path / "in.wav"),
                 "--output", str(tmp_path / "out.wav")])
    out = capsys.readouterr()
    assert code == 0, out.err
    rep = json.loads(out.out.strip().splitlines()[-1])
    assert rep["algorithmic_latency_ms"] == pytest.approx(31.75) and rep["threads"] == 1
    y, sr = sf.read(tmp_path / "out.wav")
    assert sr == 22050 and abs(len(y) - 22050) <= 2
    assert main(["live", "--model", str(tmp_path / "m.pt"), "--input", str(tmp_path / "in.wav")]) == 2
    assert "needs both --input and --output" in capsys.readouterr().err
    assert main(["live", "--model", str(tmp_path / "m.pt"), "--input", str(tmp_path / "missing.wav"),
                 "--output", str(tmp_path / "o.wav")]) == 2
    assert not (tmp_path / "o.wav").exists()
