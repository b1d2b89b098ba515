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


@pytest.mark.parametrize("mode", ["low-latency", "report"])
def test_identity_model_streams_back_the_input(mode):
    x = speechlike(1.3)
    y = StreamingDenoiser(Identity(), StreamConfig.mode(mode)).run(x, 381)
    assert y.shape == x.shape
    assert np.abs(y - x).max() < 1e-5     # the STFT / overlap-add path loses nothing


def test_latency_arithmetic():
    assert StreamingDenoiser(Identity(), StreamConfig.mode("low-latency")).algorithmic_latency_ms == pytest.approx(31.75)
    assert StreamingDenoiser(Identity(), StreamConfig.mode("report")).algorithmic_latency_ms > 1000
    with pytest.raises(ValueError):
        StreamConfig.mode("instant")


def test_stream_matches_offline_run_for_any_block_size():
    """Offline = the whole file in one call; blocks of any size must give the same samples (tolerance 1e-5)."""
    m = tiny()
    x = speechlike(2.0, seed=4)
    offline = StreamingDenoiser(m).run(x, len(x))
    for block in (1, 37, 381, 1000, 4096):
        assert np.abs(StreamingDenoiser(m).run(x, block) - offline).max() < 1e-5, block


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
