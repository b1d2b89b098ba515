"""The phase-aware head: phase cues, the rotation, the magnitude model it grows from, training and refusals."""
import numpy as np
import pytest
import torch

from chvoice_core.dsp import FrontEnd, merge_tiles, phase_features, rotate_phase, split_tiles, stft
from chvoice_core.enhance import Denoiser
from chvoice_core.errors import ChvoiceError
from chvoice_core.models import UNet, UNetConfig
from chvoice_core.models.io import load_model, save_model
from chvoice_core.models.unet import with_phase_head
from chvoice_core.losses import perceptual_loss

FE = FrontEnd()
MAG = UNetConfig(depth=2, base_width=4, mask=True)


def _trained_like(cfg: UNetConfig, seed: int = 0) -> UNet:
    """Random weights and BatchNorm statistics, so that outputs are not trivially the input."""
    torch.manual_seed(seed)
    m = UNet(cfg)
    with torch.no_grad():
        m.train()
        m(torch.randn(4, cfg.in_channels, 128, 128))
        m.outc.weight.normal_(0, 0.3)
    return m.eval()


def _speechlike(seconds: float = 1.5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    x = sum(np.sin(2 * np.pi * f * t * (1 + 0.05 * np.sin(3 * t))) / k for k, f in enumerate((180, 360, 540), 1))
    return (0.1 * x * (1 + np.sin(2 * np.pi * 2 * t)) + 0.02 * rng.standard_normal(len(t))).astype(np.float32)


def test_phase_cues_do_not_move_with_the_signal():
    """Delaying a signal by one hop delays its cues by one frame, values unchanged (the raw phase would turn)."""
    x = torch.from_numpy(_speechlike())
    late = torch.cat([torch.zeros(FE.hop), x])
    a, b = phase_features(stft(x, FE), FE), phase_features(stft(late, FE), FE)
    assert a.shape == (4, 128, stft(x, FE).shape[-1]) and a.abs().max() <= 1.0
    n = a.shape[-1]
    loud = (stft(x, FE).abs()[None, :, 3:n - 3] > 1e-2).expand(4, -1, -1)   # phase defined, away from the edges
    assert torch.allclose(a[..., 3:n - 3][loud], b[..., 4:n - 2][loud], atol=1e-3)
    # a steady tone centred on a bin advances by exactly its nominal step: no deviation
    k = 20
    tone = torch.cos(2 * torch.pi * k / FE.n_fft * torch.arange(16000.0))
    cues = phase_features(stft(tone, FE), FE)[:, k, 2:-2]
    assert torch.allclose(cues[0], torch.ones_like(cues[0]), atol=1e-3) and cues[1].abs().max() < 1e-2


def test_rotation_zero_keeps_the_phase_and_pi_flips_it():
    ph = torch.rand(128, 10) * 6 - 3
    assert torch.equal(rotate_phase(ph, torch.zeros(2, 128, 10)), ph)
    flip = torch.stack([torch.full((128, 10), -2.0), torch.zeros(128, 10)])       # 1 + a = -1, b = 0: pi
    assert torch.allclose(torch.cos(rotate_phase(ph, flip)), -torch.cos(ph), atol=1e-6)


def test_multichannel_tiles_round_trip():
    x = torch.randn(3, 128, 300)
    tiles, starts = split_tiles(x, FE)
    assert tiles.shape[1:] == (3, 128, FE.tile_frames)
    assert torch.allclose(merge_tiles(tiles, starts, 300, FE), x, atol=1e-5)
    short, _ = split_tiles(x[..., :40], FE)            # padded: silence in dB, zeros elsewhere
    assert torch.all(short[0, 0, :, 40:] == FE.floor_db) and torch.all(short[0, 1:, :, 40:] == 0)


def test_grown_phase_head_starts_as_the_magnitude_model_and_round_trips(tmp_path):
    mag = _trained_like(MAG)
    ph = with_phase_head(mag).eval()
    assert ph.config.phase and ph.config.in_channels == 5 and ph.config.out_channels == 3
    x = torch.randn(2, 1, 128, 128)
    with torch.no_grad():
        y = ph(torch.cat([x, torch.randn(2, 4, 128, 128)], 1))
        assert torch.allclose(y[:, :1], mag(x), atol=1e-5) and torch.all(y[:, 1:] == 0)
    save_model(tmp_path / "p.pt", ph)
    again, _ = load_model(tmp_path / "p.pt")
    assert again.config == ph.config
    # through the whole offline pipeline: the same samples as the magnitude model ...
    wav = _speechlike()
    y_mag, y_ph = Denoiser(mag)(wav), Denoiser(ph)(wav)
    assert np.allclose(y_ph, y_mag, atol=1e-5)
    # ... and a rotation by pi everywhere flips the sign of every sample
    with torch.no_grad():
        ph.outc.bias[1] = -2.0
    assert np.allclose(Denoiser(ph)(wav), -y_mag, atol=1e-4)
    assert np.allclose(Denoiser(ph).run(np.tile(wav, 3)), -Denoiser(mag)(np.tile(wav, 3)), atol=1e-4)


def test_phase_head_learns_a_phase_the_magnitude_head_cannot():
    """Clean = the noisy signal turned by pi/3 in every bin: the same magnitudes, so only a phase head can get
    closer. A few steps on one batch must turn the phase that way and lift SI-SDR through the offline pipeline."""
    import cmath

    from chvoice_core.dsp import istft
    from chvoice_core.losses import batch_si_sdr
    torch.manual_seed(0)
    noisy = torch.from_numpy(np.stack([_speechlike(1.1, s)[:16129] for s in range(2)]))
    clean = istft(stft(noisy, FE) * cmath.exp(1j * np.pi / 3), FE, noisy.shape[-1])
    ph = with_phase_head(_trained_like(MAG))

    def si_sdr_and_turn() -> tuple[float, float]:
        den = Denoiser(ph.eval())
        est = torch.from_numpy(np.stack([den(n.numpy()) for n in noisy]))
        spec = stft(noisy, FE)
        stack = torch.stack([torch.cat([torch.log10(s.abs().clamp_min(1e-5)).unsqueeze(0) * 20,
                                        phase_features(s, FE)]) for s in spec])
        turn = torch.cat([den.tiles(stack[i:i + 1]) for i in range(2)])[:, 1:]
        return float(batch_si_sdr(est, clean).mean()), float(torch.atan2(turn[:, 1], 1 + turn[:, 0]).mean())

    sdr0, turn0 = si_sdr_and_turn()
    ph.train()
    opt = torch.optim.Adam(ph.parameters(), lr=1e-2)
    for _ in range(25):
        loss = perceptual_loss(ph, noisy, clean, FE)
        opt.zero_grad()
        loss.backward()
        opt.step()
    sdr1, turn1 = si_sdr_and_turn()
    assert turn0 == 0 and 0.5 < turn1 < 1.6           # towards pi/3 = 1.05
    assert sdr1 > sdr0 + 10


def test_phase_heads_refuse_what_they_do_not_support(tmp_path):
    with pytest.raises(ValueError, match="offline only"):
        UNetConfig(causal=True, phase=True)
    from chvoice_core.families import make_streamer
    with pytest.raises(ChvoiceError, match="offline only"):
        make_streamer(with_phase_head(_trained_like(MAG)))
    from chvoice_core.losses import tile_loss
    with pytest.raises(ChvoiceError, match="perceptual"):
        tile_loss(with_phase_head(_trained_like(MAG)), torch.zeros(1, 1, 128, 128), torch.zeros(1, 1, 128, 128))


def test_cli_grows_a_phase_head_from_a_magnitude_model_and_refuses_the_rest(tmp_path, cache_dir, capsys):
    from chvoice_core.cli import main
    from chvoice_core.compress.artifact import load_artifact
    from chvoice_core.models.archs import arch_config

    def run(args):
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.err

    start = _trained_like(UNetConfig(**{**arch_config("normal", 8).to_dict(), "mask": True}))
    save_model(tmp_path / "mag.pt", start, {"train_steps": 5})
    base = ["train", "--budget", "smoke", "--steps", "1", "--lr", "1e-9", "--quiet", "--cache-dir", cache_dir,
            "--mask", "--loss", "perceptual"]
    code, err = run(base + ["--phase", "--init", tmp_path / "mag.pt", "--out", tmp_path / "ph"])
    assert code == 0, err
    tuned, meta = load_artifact(tmp_path / "ph" / "model.pt")
    assert tuned.config.phase and meta["init_training"] == {"train_steps": 5}
    # one step at a negligible rate: the magnitude model's weights, phase inputs and rotation outputs at zero
    w0, w1 = dict(start.named_parameters()), dict(tuned.named_parameters())
    assert torch.allclose(w1["inc.0.weight"][:, :1], w0["inc.0.weight"], atol=1e-4)
    assert w1["inc.0.weight"][:, 1:].abs().max() < 1e-4 and w1["outc.weight"][1:].abs().max() < 1e-4
    assert all(torch.allclose(w0[k], w1[k], atol=1e-4) for k in w0 if k not in ("inc.0.weight", "outc.weight", "outc.bias"))
    for args, words in ((["--phase", "--causal"], "offline only"), (["--phase", "--loss", "db-mse"], "perceptual")):
        code, err = run(base + args + ["--out", tmp_path / "bad"])
        assert code == 2 and words in err and err.count("\n") == 1
    code, err = run(["quantize", tmp_path / "ph" / "model.pt", "--mode", "int8", "--out", tmp_path / "q.pt"])
    assert code == 2 and "phase-aware" in err and err.count("\n") == 1 and not (tmp_path / "q.pt").exists()
