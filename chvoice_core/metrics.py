"""Per-utterance quality metrics: the report's spectrogram RMS (against the clean target), SI-SDR,
wideband PESQ and STOI / ESTOI."""
from __future__ import annotations

import warnings

import numpy as np
import torch

from .dsp import FrontEnd, analyse

TOP_DB = 80.0   # dB spectrograms are floored 80 dB below the clean peak (torchaudio AmplitudeToDB top_db)


def spectrogram_rms_db(estimate: np.ndarray, reference: np.ndarray, fe: FrontEnd = FrontEnd()) -> float:
    """RMS of the difference of dB magnitude spectrograms, both floored TOP_DB below the reference peak.

    The report's metric, but against the clean reference (its notebook compared to the noisy input)."""
    est_db, _ = analyse(torch.from_numpy(np.asarray(estimate, np.float32)), fe)
    ref_db, _ = analyse(torch.from_numpy(np.asarray(reference, np.float32)), fe)
    floor = ref_db.max() - TOP_DB
    diff = est_db.clamp_min(floor) - ref_db.clamp_min(floor)
    return float(diff.pow(2).mean().sqrt())


def si_sdr(estimate: np.ndarray, reference: np.ndarray, eps: float = 1e-10) -> float:
    """Scale-invariant SDR in dB (Le Roux et al. 2019), zero-mean signals."""
    est = np.asarray(estimate, np.float64) - np.mean(estimate)
    ref = np.asarray(reference, np.float64) - np.mean(reference)
    alpha = np.dot(est, ref) / (np.dot(ref, ref) + eps)
    target = alpha * ref
    noise = est - target
    return float(10 * np.log10((np.dot(target, target) + eps) / (np.dot(noise, noise) + eps)))


def pesq_wb(estimate: np.ndarray, reference: np.ndarray, sr: int = 16_000) -> float:
    """Wideband PESQ (ITU-T P.862.2) via the `pesq` package; NaN when PESQ finds no speech."""
    from pesq import BufferTooShortError, NoUtterancesError, pesq
    if len(reference) < PESQ_MIN_SECONDS * sr:
        return float("nan")     # PESQ needs at least 0.25 s; the table marks it rather than failing
    try:
        return float(pesq(sr, np.asarray(reference, np.float32), np.asarray(estimate, np.float32), "wb"))
    except (NoUtterancesError, BufferTooShortError):
        return float("nan")


def stoi(estimate: np.ndarray, reference: np.ndarray, sr: int = 16_000, extended: bool = False) -> float:
    """STOI (or ESTOI with extended=True) via pystoi."""
    from pystoi import stoi as _stoi
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # pystoi warns on clips shorter than its 30-frame window
        return float(_stoi(np.asarray(reference, np.float64), np.asarray(estimate, np.float64), sr,
                           extended=extended))


PESQ_MIN_SECONDS = 0.25

METRICS = ("rms_db", "si_sdr", "pesq_wb", "stoi", "estoi")
DNSMOS_METRICS = ("dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak", "dnsmos_p808")


def dnsmos(x: np.ndarray, sr: int = 16_000) -> dict[str, float]:
    """Non-intrusive quality (Microsoft's DNSMOS P.835 + P.808, the ONNX models bundled in `speechmos`,
    run offline by onnxruntime): needs no clean reference. x: [N] at 16 kHz."""
    try:
        from speechmos import dnsmos as _dnsmos
    except ImportError as e:
        from .errors import ChvoiceError
        raise ChvoiceError(f"DNSMOS needs speechmos, librosa and onnxruntime (pip install 'chvoice[dnsmos]'): {e}") from None
    x = np.clip(np.asarray(x, np.float32), -1.0, 1.0)
    r = _dnsmos.run(x, sr=sr)
    return {"dnsmos_ovrl": float(r["ovrl_mos"]), "dnsmos_sig": float(r["sig_mos"]),
            "dnsmos_bak": float(r["bak_mos"]), "dnsmos_p808": float(r["p808_mos"])}


def score(estimate: np.ndarray, reference: np.ndarray, sr: int = 16_000, fe: FrontEnd = FrontEnd(),
          which: tuple[str, ...] = METRICS) -> dict[str, float]:
    """All metrics of an estimate [N] against the clean reference [N]."""
    fns = {"rms_db": lambda: spectrogram_rms_db(estimate, reference, fe),
           "si_sdr": lambda: si_sdr(estimate, reference),
           "pesq_wb": lambda: pesq_wb(estimate, reference, sr),
           "stoi": lambda: stoi(estimate, reference, sr),
           "estoi": lambda: stoi(estimate, reference, sr, extended=True)}
    return {k: fns[k]() for k in which}
