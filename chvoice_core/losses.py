"""Training losses: MSE on dB tiles (the report's), and the perceptual loss (compressed-magnitude MSE + SI-SDR of the
resynthesised waveform). Tensors: waveforms [B, N], tiles [B, 1, F, T]."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from .dsp import FrontEnd, analyse, from_db, istft, phase_features, rotate_phase, stft, to_db
from .errors import ChvoiceError
from .metrics import TOP_DB
from .models.unet import causal_lookahead, is_phase_aware, normaliser_for

Tensor = torch.Tensor
# A target function maps (noisy dB tiles, clean dB tiles) [B,1,F,T] to the tiles the model should output;
# plain training returns the clean tiles, distillation mixes in a teacher's output.
TargetFn = Callable[[Tensor, Tensor], Tensor]

# Weights of the perceptual loss, chosen so that both terms move the loss alike at the start of training
# (measured at initialisation on `general` batches: 10 x compressed-magnitude MSE ~2, SI-SDR of the mixtures -4..20 dB).
PERCEPTUAL_COMPRESS = 0.3
HIGH_BAND_HZ = 3000.0     # where the default's pauses keep most (issue 28): high_band_weight weighs from here up
PERCEPTUAL_SISDR_WEIGHT = 0.05


def as_tensor(x: np.ndarray | Tensor, device: torch.device) -> Tensor:
    # non_blocking: from the loader's pinned memory a host-to-GPU copy then queues instead of waiting
    return (torch.from_numpy(x) if isinstance(x, np.ndarray) else x).to(device, non_blocking=True)


def db_pairs(noisy: np.ndarray | Tensor, clean: np.ndarray | Tensor, fe: FrontEnd, device: torch.device
             ) -> tuple[Tensor, Tensor]:
    """Waveforms [B, N] -> dB tiles [B, 1, F, T]; the clean target is floored TOP_DB below its peak so
    that digital silence (-100 dB) does not dominate the loss."""
    n_db, _ = analyse(as_tensor(noisy, device), fe)
    c_db, _ = analyse(as_tensor(clean, device), fe)
    floor = c_db.amax(dim=(1, 2), keepdim=True) - TOP_DB
    return n_db.unsqueeze(1), torch.maximum(c_db, floor).unsqueeze(1)


def batch_si_sdr(est: Tensor, ref: Tensor, eps: float = 1e-8) -> Tensor:
    """SI-SDR in dB per item. est, ref: [B, N] -> [B]."""
    est = est - est.mean(dim=-1, keepdim=True)
    ref = ref - ref.mean(dim=-1, keepdim=True)
    alpha = (est * ref).sum(-1, keepdim=True) / (ref.pow(2).sum(-1, keepdim=True) + eps)
    target = alpha * ref
    return 10 * torch.log10((target.pow(2).sum(-1) + eps) / ((est - target).pow(2).sum(-1) + eps))


def perceptual_loss(model: nn.Module, noisy: Tensor, clean: Tensor, fe: FrontEnd,
                    sisdr_weight: float = PERCEPTUAL_SISDR_WEIGHT, residual_weight: float = 0.0,
                    high_band_weight: float = 0.0) -> Tensor:
    """Compressed-magnitude MSE (|S|^0.3, both sides scaled by the noisy RMS so a mixture's level does not
    weigh it) minus a small weight times the SI-SDR of the resynthesised waveform (noisy phase).
    `residual_weight` adds that much again of the squared error where the estimate is louder than the reference
    (noise left in), an asymmetric loss that buys suppression with some speech. `high_band_weight` w weighs the
    spectral error of the bins from HIGH_BAND_HZ up 1 + w times the others' (renormalised to the same mean
    weight). A phase-aware
    model's estimate takes its rotated phase, and its spectral term is the usual mix of the compressed
    magnitude (0.3) and the compressed complex spectrum (0.7), which also scores the phase.
    noisy, clean: waveforms [B, N]."""
    spec = stft(noisy, fe)
    n_db = to_db(spec.abs(), fe).unsqueeze(1)
    x, mean, std = normaliser_for(model)(n_db)
    phased = is_phase_aware(model)
    if phased:
        x = torch.cat([x, phase_features(spec, fe)], dim=1)
    out = model(x).float()
    pred_db = out[:, 0] * std[:, 0] + mean[:, 0]
    c_spec = stft(clean, fe)
    look = causal_lookahead(model)       # (phase-aware models are not causal)
    length = noisy.shape[-1]
    if look:   # output frame t estimates frame t - look: score the frames that have their estimate
        keep = spec.shape[-1] - look
        pred_db, spec, c_spec = pred_db[..., look:], spec[..., :keep], c_spec[..., :keep]
        length = (keep - 1) * fe.hop
    phase = rotate_phase(torch.angle(spec), out[:, 1:]) if phased else torch.angle(spec)
    value, _ = spectral_sisdr_loss(from_db(pred_db), phase, c_spec, noisy, clean[..., :length], fe, sisdr_weight,
                                   complex_weight=0.7 if phased else 0.0, residual_weight=residual_weight,
                                   high_band_weight=high_band_weight)
    return value


def spectral_sisdr_loss(mag: Tensor, phase: Tensor, clean_spec: Tensor, noisy: Tensor, clean: Tensor, fe: FrontEnd,
                        sisdr_weight: float, complex_weight: float = 0.0, residual_weight: float = 0.0,
                        high_band_weight: float = 0.0) -> tuple[Tensor, Tensor]:
    """The perceptual loss of an estimate given as magnitude and phase [B, F, T] against the clean STFT [B, F, T]:
    10 x the spectral term (compressed magnitudes |.|^0.3 over the noisy RMS; with `complex_weight`, that share
    on the compressed complex spectra, which also scores phase; `residual_weight`: see perceptual_loss) minus
    `sisdr_weight` x the SI-SDR of the resynthesised waveform against clean [B, N]. noisy: [B, N'] (its RMS only).
    -> (loss, the batch's mean SI-SDR)."""
    scale = noisy.pow(2).mean(-1).sqrt().clamp_min(1e-5)[:, None, None]
    c = PERCEPTUAL_COMPRESS
    m_c, c_c = (mag / scale).clamp_min(1e-8) ** c, (clean_spec.abs() / scale).clamp_min(1e-8) ** c
    if high_band_weight:
        freqs = torch.fft.rfftfreq(fe.n_fft, 1 / fe.sample_rate, device=mag.device)
        w = 1.0 + high_band_weight * (freqs >= HIGH_BAND_HZ).float()
        w = (w / w.mean())[:, None]                                   # [F, 1]: the same mean weight as none
    else:
        w = 1.0
    spectral = torch.mean(w * (m_c - c_c) ** 2)
    if residual_weight:
        spectral = spectral + residual_weight * torch.mean(w * torch.relu(m_c - c_c) ** 2)
    if complex_weight:
        diff = torch.polar(m_c, phase) - torch.polar(c_c, torch.angle(clean_spec))
        spectral = (1 - complex_weight) * spectral + complex_weight * torch.mean(diff.real ** 2 + diff.imag ** 2)
    sdr = batch_si_sdr(istft(torch.polar(mag, phase), fe, clean.shape[-1]), clean).clamp(max=60.0)
    return spectral * 10.0 - sisdr_weight * sdr.mean(), sdr.mean()


def tile_loss(model: nn.Module, noisy_db: Tensor, target_db: Tensor) -> Tensor:
    """MSE in dB between the de-normalised prediction and the target tiles (a causal model's output frame t
    against target frame t - lookahead)."""
    if is_phase_aware(model):     # (a spec lookup: this runs every training step)
        raise ChvoiceError("a phase-aware model trains with the perceptual loss (--loss perceptual): dB tiles "
                           "carry no phase")
    x, mean, std = normaliser_for(model)(noisy_db)
    pred = model(x) * std + mean
    look = causal_lookahead(model)
    if look:
        pred, target_db = pred[..., look:], target_db[..., :target_db.shape[-1] - look]
    return torch.mean((pred - target_db) ** 2)
