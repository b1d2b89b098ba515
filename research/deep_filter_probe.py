"""Probe: how much SI-SDR a deep-filter head on top of a frozen magnitude model can buy.

The shipped model's head is a gain in [0, 1] on the noisy magnitude with the noisy phase, whose ceiling on the
real-noise test set is +10.06 dB (research/oracle_masks.py) against +17.7 for a complex mask. A deep filter
(DeepFilterNet's phase-aware head) is the field's way to reach past it:

    Y(f, t) = G(f, t) X(f, t) + sum_k c_k(f, t) X(f, t + k)      on the lowest `bins` bins

with G the frozen model's gain, X the noisy STFT and c_k complex coefficients from a small convolutional net that
sees the noisy level, G and shift-invariant phase cues (each tap's phase advance less the nominal one, the phase
step across frequency). Its last layer starts at zero, so training starts exactly at the frozen model. Loss: the
perceptual loss of `chvoice train --phase` (compressed magnitude 0.3 + compressed complex spectrum 0.7, times 10,
minus the SI-SDR weight times the SI-SDR of the resynthesised waveform: `losses.spectral_sisdr_loss`).

Training mixtures come from the training side of ../shared/data (`general` profile, the training speakers less
the validation ones, training noise and rooms), mixed once into memory with the frozen model's output; it is
scored on the validation set of research/score_validation.py (the frozen model: 11.17 dB for the shipped one).

    python research/deep_filter_probe.py [--model chvoice_core/assets/default.pt] [--tiles 8000] [--seconds 2400]
        [--out runs/deep-filter] [--device cuda]
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from chvoice_core.cli import check_device
from chvoice_core.compress.artifact import load_artifact
from chvoice_core.data import DataConfig, get_profile, load_data
from chvoice_core.data.pairs import PairSampler
from chvoice_core.data.rooms import TRAIN_ROOM_SEED
from chvoice_core.dsp import FrontEnd, analyse, enhance_db, from_db, istft, stft
from chvoice_core.enhance import Denoiser
from chvoice_core.errors import ChvoiceError
from chvoice_core.metrics import pesq_wb, si_sdr, stoi
from chvoice_core.losses import spectral_sisdr_loss
from chvoice_core.validation import validation_set, validation_split

Tensor = torch.Tensor


def shifted(x: Tensor, k: int) -> Tensor:
    """x [..., T] -> x[..., t + k] (zeros past either end)."""
    if k == 0:
        return x
    T = x.shape[-1]
    return F.pad(x, (max(-k, 0), max(k, 0)))[..., max(k, 0):max(k, 0) + T]


class DeepFilter(nn.Module):
    """Complex multi-frame filter on the lowest `bins` bins around a given gain. X: noisy STFT [B, F, T] complex,
    G: gain [B, F, T] -> enhanced STFT [B, F, T] (bins above `bins` keep G X)."""

    def __init__(self, fe: FrontEnd, taps: tuple[int, ...] = (-2, -1, 0, 1, 2), bins: int = 128, width: int = 32):
        super().__init__()
        self.fe, self.taps, self.bins = fe, taps, bins
        n_in = 2 + 2 * (sum(1 for k in taps if k) + 1)
        layers, c = [], n_in
        for d in (1, 2, 4, 1, 1):       # time dilations: about +-9 frames of context
            layers += [nn.Conv2d(c, width, 3, padding=(1, d), dilation=(1, d)), nn.ELU()]
            c = width
        self.body = nn.Sequential(*layers)
        self.coef = nn.Conv2d(width, 2 * len(taps), 1)
        nn.init.zeros_(self.coef.weight)
        nn.init.zeros_(self.coef.bias)

    def cues(self, X: Tensor) -> Tensor:
        """Shift-invariant phase cues [B, F, T] complex -> [B, C, F, T]: cos/sin of each tap's phase advance less
        the nominal advance of its bin, and of the phase step from the bin below."""
        ph = torch.angle(X)
        k = torch.arange(X.shape[-2], dtype=ph.dtype, device=ph.device).unsqueeze(-1)
        out = []
        for tap in self.taps:
            if tap:
                d = shifted(ph, tap) - ph - 2 * math.pi * self.fe.hop / self.fe.n_fft * k * tap
                out += [d.cos(), d.sin()]
        d_f = F.pad(ph[..., 1:, :] - ph[..., :-1, :], (0, 0, 1, 0))
        return torch.stack(out + [d_f.cos(), d_f.sin()], 1)

    def forward(self, X: Tensor, G: Tensor) -> Tensor:
        lo, g = X[:, :self.bins], G[:, :self.bins]
        db = 20 * torch.log10(lo.abs().clamp_min(1e-5))
        db = (db - db.mean(dim=(1, 2), keepdim=True)) / (db.std(dim=(1, 2), keepdim=True) + 1e-5)
        c = self.coef(self.body(torch.cat([db.unsqueeze(1), g.unsqueeze(1), self.cues(lo)], 1)))
        y = g * lo
        for i, tap in enumerate(self.taps):
            y = y + torch.complex(c[:, 2 * i], c[:, 2 * i + 1]) * shifted(lo, tap)
        return torch.cat([y, G[:, self.bins:] * X[:, self.bins:]], 1)


def gain(X: Tensor, out_db: Tensor) -> Tensor:
    """The frozen model's gain: its output magnitude over the noisy one, at most 1. [B, F, T]."""
    return (from_db(out_db) / X.abs().clamp_min(1e-8)).clamp(max=1.0)


def loss(head: DeepFilter, noisy: Tensor, clean: Tensor, out_db: Tensor, sisdr_weight: float,
         complex_weight: float = 0.7) -> tuple[Tensor, Tensor]:
    """The perceptual loss of a phase-aware head (the library's: compressed magnitude and, weighted
    `complex_weight`, compressed complex spectrum, minus the SI-SDR term) and the batch's mean SI-SDR.
    noisy, clean: [B, N]."""
    X, S = stft(noisy, head.fe), stft(clean, head.fe)
    Y = head(X, gain(X, out_db))
    return spectral_sisdr_loss(Y.abs(), torch.angle(Y), S, noisy, clean, head.fe, sisdr_weight, complex_weight)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="chvoice_core/assets/default.pt", help="the frozen magnitude model")
    ap.add_argument("--data-root", default="../shared/data")
    ap.add_argument("--tiles", type=int, default=8000, help="training tiles, mixed once (1.01 s each)")
    ap.add_argument("--seconds", type=float, default=2400.0, help="training time (cosine decay over it)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--sisdr-weight", type=float, default=0.6)
    ap.add_argument("--complex-weight", type=float, default=0.7,
                    help="share of the compressed complex spectrum in the spectral term (0: magnitude only)")
    ap.add_argument("--bins", type=int, default=128, help="lowest bins the filter acts on (128 of 256: 0-4 kHz)")
    ap.add_argument("--taps", default="-2,-1,0,1,2", help="frame offsets of the filter taps")
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--validate-every", type=int, default=250)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="where the head trains (the frozen int8 model runs on the CPU)")
    ap.add_argument("--out", default="runs/deep-filter")
    a = ap.parse_args()
    try:
        check_device(a.device)
    except ChvoiceError as e:
        raise SystemExit(f"deep_filter_probe: error: {e}") from None
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dev = torch.device(a.device)
    model, _ = load_artifact(a.model)
    den = Denoiser(model)
    fe = den.fe
    profile = get_profile("general")
    data = load_data(DataConfig(data_root=a.data_root), broad=True)
    train_speech, val_speech = validation_split(data.train_speech)
    val = validation_set(data, val_speech, profile)
    sampler = PairSampler(train_speech, data.train_noise, profile, fe.tile_samples, seed=123,
                          rooms=data.rooms(seed=TRAIN_ROOM_SEED))
    noisy, clean, out_db = [], [], []
    with torch.no_grad():
        for b in range(math.ceil(a.tiles / 32)):
            n, c = sampler.batch(b, 32)
            noisy.append(torch.from_numpy(n))
            clean.append(torch.from_numpy(c))
            out_db.append(den.tiles(analyse(noisy[-1], fe)[0].unsqueeze(1))[:, 0].half())
        val_items = []
        for x, y in zip(val.noisy, val.clean):
            w = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
            val_items.append((w, y, enhance_db(analyse(w, fe)[0], den.tiles, fe)))
    noisy, clean, out_db = torch.cat(noisy), torch.cat(clean), torch.cat(out_db)

    @torch.no_grad()
    def validate(head: DeepFilter, full: bool = False) -> dict[str, float]:
        head.eval()
        rows = []
        for w, y, o in val_items:
            X = stft(w.to(dev), fe).unsqueeze(0)
            e = istft(head(X, gain(X, o.to(dev).unsqueeze(0))), fe, len(w))[0].cpu().numpy()
            rows.append((si_sdr(e, y),) + ((pesq_wb(e, y), stoi(e, y)) if full else ()))
        head.train()
        m = np.mean(rows, axis=0)
        return {"si_sdr": float(m[0]), **({"pesq_wb": float(m[1]), "stoi": float(m[2])} if full else {})}

    head = DeepFilter(fe, tuple(int(t) for t in a.taps.split(",")), a.bins, a.width).to(dev)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    history = [{"step": 0, **validate(head, full=True)}]
    print(json.dumps(history[-1]), flush=True)
    opt = torch.optim.Adam(head.parameters(), lr=a.lr)
    g = torch.Generator().manual_seed(1)
    t0, best, step, sdrs = time.time(), history[0]["si_sdr"], 0, []
    torch.save(head.state_dict(), out / "head.pt")
    while True:
        f = min(1.0, (time.time() - t0) / a.seconds)
        for pg in opt.param_groups:   # 100 warm-up steps, cosine decay over the time budget
            pg["lr"] = a.lr * min(1.0, (step + 1) / 100) * (0.05 + 0.475 * (1 + math.cos(math.pi * f)))
        idx = torch.randint(len(noisy), (a.batch_size,), generator=g)
        value, sdr = loss(head, noisy[idx].to(dev), clean[idx].to(dev), out_db[idx].to(dev).float(), a.sisdr_weight,
                          a.complex_weight)
        opt.zero_grad()
        value.backward()
        torch.nn.utils.clip_grad_norm_(head.parameters(), 5.0)
        opt.step()
        step += 1
        sdrs.append(sdr.item())
        if step % a.validate_every == 0 or f >= 1.0:
            history.append({"step": step, "seconds": round(time.time() - t0), "train_si_sdr": float(np.mean(sdrs)),
                            **validate(head)})
            sdrs = []
            print(json.dumps(history[-1]), flush=True)
            if history[-1]["si_sdr"] > best:
                best = history[-1]["si_sdr"]
                torch.save(head.state_dict(), out / "head.pt")
        if f >= 1.0:
            break
    head.load_state_dict(torch.load(out / "head.pt", weights_only=True, map_location=dev))
    history.append({"best": True, **validate(head, full=True)})
    print(json.dumps(history[-1]), flush=True)
    (out / "history.json").write_text(json.dumps(history, indent=1))


if __name__ == "__main__":
    main()
