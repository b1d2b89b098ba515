"""The end-to-end timer: one helper, the same boundaries for a U-Net and a peer; artifact digests."""
import numpy as np
import pytest
import torch
from torch import nn

from chvoice_core import baselines
from chvoice_core.baselines import PEERS
from chvoice_core.dsp import FrontEnd, tile_starts
from chvoice_core.enhance import Denoiser
from chvoice_core.models import UNet, UNetConfig
from chvoice_core.models.io import save_model
from chvoice_core.timing import E2E_SECONDS, artifact_digest, e2e_clip, e2e_info, end_to_end, model_call, user_call
from tests.conftest import speechlike


class CountingModel(nn.Module):
    """Identity that counts the tiles it is given."""

    def __init__(self):
        super().__init__()
        self.tiles = 0

    def forward(self, x):
        self.tiles += x.shape[0]
        return x


def test_unet_path_covers_every_tile_and_the_stfts(monkeypatch):
    import chvoice_core.longform as engine       # the tile family's engine: analysis and synthesis of frames
    calls = {"frame_spectra": 0, "frame_waves": 0}
    for name in calls:
        real = getattr(engine, name)

        def wrapped(*a, _real=real, _name=name, **k):
            calls[_name] += 1
            return _real(*a, **k)
        monkeypatch.setattr(engine, name, wrapped)
    model = CountingModel()
    clip = e2e_clip(speechlike(1.0))
    assert len(clip) == int(E2E_SECONDS * 16000)
    call = end_to_end(user_call(Denoiser(model)), clip)
    y = call()
    frames = 1 + len(clip) // FrontEnd().hop
    assert model.tiles == len(tile_starts(frames, FrontEnd())) == 7     # every tile, with the 50 % overlap
    assert calls == {"frame_spectra": 1, "frame_waves": 1}                # STFT in, iSTFT out: inside the call
    assert np.abs(y - clip).max() < 1e-4


def _some_peer():
    for name, cls in PEERS.items():
        if cls.available()[0]:
            return name, cls
    pytest.skip("no peer denoiser installed")


def test_peer_path_is_timed_without_the_delay_search(monkeypatch):
    name, cls = _some_peer()
    peer = cls(persistent=True)
    processed = []
    real = peer.process
    monkeypatch.setattr(peer, "process", lambda x: processed.append(len(x)) or real(x))

    def no_lag(*a, **k):
        raise AssertionError("the delay search ran inside the timed call")
    monkeypatch.setattr(baselines, "_lag", no_lag)
    clip = e2e_clip(speechlike(1.0))
    y = end_to_end(peer.process, clip)()
    assert processed == [len(clip)] and y.shape == clip.shape      # the peer's whole path, on exactly the clip


def test_same_helper_for_both_and_units():
    clip = e2e_clip(speechlike(0.5), seconds=2.0)
    assert end_to_end(lambda x: x, clip)() is clip
    with pytest.raises(ValueError):
        end_to_end(lambda x: x[:-1], clip)()                 # a path that loses samples is not timed silently
    info = e2e_info([0.1, 0.2, 0.3], 2.0)
    assert info["ms_per_s"] == pytest.approx(100.0)           # median 0.2 s for 2 s of audio
    assert info["rtf"] == pytest.approx(10.0)
    assert model_call(CountingModel(), torch.zeros(1, 1, 128, 128), calls=3)["model_ms_per_tile"] >= 0


def test_artifact_digest_names_the_file(tmp_path):
    m = UNet(UNetConfig(depth=2, base_width=4))
    import shutil
    save_model(tmp_path / "a.pt", m)
    shutil.copyfile(tmp_path / "a.pt", tmp_path / "b.pt")
    torch.manual_seed(1)
    save_model(tmp_path / "c.pt", UNet(UNetConfig(depth=2, base_width=4)))
    a, b, c = (artifact_digest(tmp_path / f"{n}.pt") for n in "abc")
    assert len(a) == 16 and a == b and a != c
