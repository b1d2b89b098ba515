"""research/deep_filter_probe.py: the deep-filter head starts exactly at the frozen model's output, acts only on its
bins, and trains (finite gradients, also where the spectrum is exactly zero)."""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "research"))
from deep_filter_probe import DeepFilter, loss, shifted  # noqa: E402

from chvoice_core.dsp import FrontEnd, stft  # noqa: E402

FE = FrontEnd(n_fft=510, hop=127)


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(8_000) / 16_000
    clean = 0.3 * torch.sin(2 * torch.pi * 300 * t) * torch.sin(2 * torch.pi * 2 * t).abs()
    clean = torch.stack([clean, torch.roll(clean, 500)])
    clean[:, :1_000] = 0.0                     # digital silence: |Z| = 0 in the loss
    return clean + 0.05 * torch.randn(clean.shape, generator=g), clean


def test_shifted_reads_neighbouring_frames():
    x = torch.arange(5.0)
    assert shifted(x, 1).tolist() == [1, 2, 3, 4, 0]
    assert shifted(x, -2).tolist() == [0, 0, 0, 1, 2]
    assert torch.equal(shifted(x, 0), x)


def test_starts_at_the_gain_and_filters_only_its_bins():
    noisy, _ = _batch()
    X = stft(noisy, FE)
    G = torch.rand(X.shape, generator=torch.Generator().manual_seed(1))
    head = DeepFilter(FE, bins=64, width=8)
    assert torch.allclose(head(X, G), G * X)
    with torch.no_grad():
        head.coef.bias[4:6] = torch.tensor([0.5, -0.25])    # tap 0 (the third of -2..2): real, imaginary
    Y = head(X, G)
    assert torch.allclose(Y[:, :64], (G[:, :64] + torch.complex(torch.tensor(0.5), torch.tensor(-0.25))) * X[:, :64],
                          atol=1e-6)
    assert torch.equal(Y[:, 64:], G[:, 64:] * X[:, 64:])


def test_a_few_steps_lower_the_loss():
    torch.manual_seed(0)
    noisy, clean = _batch()
    out_db = 20 * torch.log10(stft(noisy, FE).abs().clamp_min(1e-5)) - 6.0      # a flat -6 dB gain
    head = DeepFilter(FE, bins=64, width=8)
    opt = torch.optim.Adam(head.parameters(), lr=3e-3)
    first = None
    for _ in range(15):
        value, _ = loss(head, noisy, clean, out_db, sisdr_weight=0.6)
        opt.zero_grad()
        value.backward()
        assert all(torch.isfinite(p.grad).all() for p in head.parameters())
        opt.step()
        first = value.item() if first is None else first
    assert value.item() < first - 0.1
