"""Per-utterance quality metrics: the report's spectrogram RMS (against the clean target), SI-SDR,
wideband PESQ and STOI / ESTOI, DNSMOS, and the residual noise left in speech pauses per band."""
from __future__ import annotations

import functools
import os
import warnings

import numpy as np
import torch

from .dsp import FrontEnd, analyse
from .errors import ChvoiceError

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


def dnsmos(x: np.ndarray, sr: int = 16_000) -> dict[str, float]:
    """Non-intrusive quality (Microsoft's DNSMOS P.835 + P.808, the ONNX models bundled in `speechmos`,
    run offline by onnxruntime): needs no clean reference. x: [N] at 16 kHz."""
    try:
        from speechmos import dnsmos as _dnsmos
    except ImportError as e:
        raise ChvoiceError(f"DNSMOS needs speechmos, librosa and onnxruntime (pip install 'chvoice[dnsmos]'): {e}") from None
    if sr != _dnsmos.SR:
        raise ValueError(f"Sampling rate must be {_dnsmos.SR}.")     # as speechmos's run() says it
    x = np.clip(np.asarray(x, np.float32), -1.0, 1.0)
    r = _dnsmos_model(torch.get_num_threads())(x, sr, False)
    return {"dnsmos_ovrl": float(r["ovrl_mos"]), "dnsmos_sig": float(r["sig_mos"]),
            "dnsmos_bak": float(r["bak_mos"]), "dnsmos_p808": float(r["p808_mos"])}


@functools.lru_cache(maxsize=None)
def _dnsmos_model(threads: int):
    """speechmos's DNSMOS (its bundled ONNX models, its windows and polynomial fits) with ONNX Runtime sessions of
    `threads` threads: speechmos's own run() opens them with a thread per core in every process (threadpoolctl does
    not reach them), so the scorer's one-thread workers oversubscribed the cores."""
    import onnxruntime as ort
    from speechmos import dnsmos as _dnsmos
    folder = os.path.join(os.path.dirname(_dnsmos.__file__), "dnsmos_models")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    model = _dnsmos.DNSMOS.__new__(_dnsmos.DNSMOS)     # its __init__ takes no session options
    model.primary_model_path = os.path.join(folder, "sig_bak_ovr.onnx")
    model.onnx_sess = ort.InferenceSession(model.primary_model_path, opts, providers=["CPUExecutionProvider"])
    model.p808_onnx_sess = ort.InferenceSession(os.path.join(folder, "model_v8.onnx"), opts,
                                                providers=["CPUExecutionProvider"])
    return model


# Residual noise in speech pauses (the perceptual-quality issue; DESIGN.md section 8): a 512-sample Hann STFT with
# hop 256; pause frames are those whose clean-reference energy is at least PAUSE_DB below the loudest clean frame
# of the file; per band, the noisy input's and the output's energy summed over the pause frames. Attenuation is
# 10 log10(input / output), pooled over files (sums first, then the ratio), never a mean of per-file ratios.
PAUSE_BANDS_HZ = ((0, 500), (500, 1000), (1000, 2000), (2000, 3000), (3000, 4000), (4000, 5000), (5000, 6000),
                  (6000, 7000), (7000, 8000))
PAUSE_DB = 45.0
PAUSE_FFT, PAUSE_HOP = 512, 256


def band_name(lo: int, hi: int) -> str:
    """'0-0.5k', '7-8k': the column suffix of a band."""
    return f"{lo / 1000:g}-{hi / 1000:g}k"


PAUSE_IN_COLUMNS = tuple(f"pause_in_{band_name(*b)}" for b in PAUSE_BANDS_HZ)
PAUSE_OUT_COLUMNS = tuple(f"pause_out_{band_name(*b)}" for b in PAUSE_BANDS_HZ)


def band_power(x: np.ndarray, sr: int = 16_000) -> np.ndarray:
    """Power per frame and band of x [N]: [frames, bands] (zero-padded to one frame when shorter)."""
    from scipy import signal  # heavy (1 s): imported where used
    x = np.asarray(x, np.float64)
    if len(x) < PAUSE_FFT:
        x = np.pad(x, (0, PAUSE_FFT - len(x)))
    frames = np.lib.stride_tricks.sliding_window_view(x, PAUSE_FFT)[::PAUSE_HOP]
    power = np.abs(np.fft.rfft(frames * signal.get_window("hann", PAUSE_FFT), axis=1)) ** 2
    freqs = np.fft.rfftfreq(PAUSE_FFT, 1 / sr)
    last = len(PAUSE_BANDS_HZ) - 1
    return np.stack([power[:, (freqs >= lo) & ((freqs < hi) | (i == last))].sum(axis=1)
                     for i, (lo, hi) in enumerate(PAUSE_BANDS_HZ)], axis=1)


def pause_frames(reference: np.ndarray, sr: int = 16_000) -> np.ndarray:
    """The reference's pauses: frames of `band_power` at least PAUSE_DB below its loudest frame. [N] -> bool [frames]."""
    with np.errstate(divide="ignore"):
        ref_db = 10 * np.log10(band_power(reference, sr).sum(axis=1))
    return ref_db <= ref_db.max() - PAUSE_DB


def pause_energies(estimate: np.ndarray, noisy: np.ndarray, reference: np.ndarray, sr: int = 16_000
                   ) -> dict[str, float]:
    """Energy of the noisy input and of the estimate in the reference's pauses, per band (arrays [N], aligned):
    {pause_frames, pause_in_<band>, pause_out_<band>}. Sum these over files and take the ratio
    (`pooled_pause_attenuation`) for the pooled attenuation."""
    n = min(len(estimate), len(noisy), len(reference))
    pause = pause_frames(reference[:n], sr)
    e_in = band_power(noisy[:n], sr)[pause].sum(axis=0)
    e_out = band_power(estimate[:n], sr)[pause].sum(axis=0)
    return {"pause_frames": int(pause.sum()), **dict(zip(PAUSE_IN_COLUMNS, map(float, e_in))),
            **dict(zip(PAUSE_OUT_COLUMNS, map(float, e_out)))}


def pooled_pause_attenuation(rows) -> dict[str, float]:
    """Pooled attenuation in dB per band (`pause_att_<band>`) and its minimum over the bands from 1 kHz up
    (`pause_att_min_1-8k`) and below 1 kHz (`pause_att_min_0-1k`), from rows holding `pause_energies` columns
    (a DataFrame or a list of dicts). NaN where no file has a pause."""
    import pandas as pd
    df = pd.DataFrame(rows)
    out = {}
    for b, cin, cout in zip(PAUSE_BANDS_HZ, PAUSE_IN_COLUMNS, PAUSE_OUT_COLUMNS):
        e_in, e_out = float(df[cin].sum()), float(df[cout].sum())
        out[f"pause_att_{band_name(*b)}"] = 10 * np.log10(e_in / e_out) if e_in > 0 and e_out > 0 else float("nan")
    vals = list(out.values())
    out["pause_att_min_0-1k"] = float(np.min(vals[:2]))
    out["pause_att_min_1-8k"] = float(np.min(vals[2:]))
    return out


def score_pair(estimate: np.ndarray, noisy: np.ndarray, reference: np.ndarray, which: tuple[str, ...] = METRICS
               ) -> dict[str, float]:
    """`score` for the metrics of `which`, plus, in the order `which` names them, "pause" (pause_energies, which
    needs the noisy input) and "dnsmos" (DNSMOS of the estimate)."""
    out = score(estimate, reference, which=tuple(m for m in which if m not in ("pause", "dnsmos")))
    for extra in (m for m in which if m in ("pause", "dnsmos")):
        out.update(pause_energies(estimate, noisy, reference) if extra == "pause" else dnsmos(estimate))
    return out


def score(estimate: np.ndarray, reference: np.ndarray, sr: int = 16_000, fe: FrontEnd = FrontEnd(),
          which: tuple[str, ...] = METRICS) -> dict[str, float]:
    """All metrics of an estimate [N] against the clean reference [N]."""
    fns = {"rms_db": lambda: spectrogram_rms_db(estimate, reference, fe),
           "si_sdr": lambda: si_sdr(estimate, reference),
           "pesq_wb": lambda: pesq_wb(estimate, reference, sr),
           "stoi": lambda: stoi(estimate, reference, sr),
           "estoi": lambda: stoi(estimate, reference, sr, extended=True)}
    return {k: fns[k]() for k in which}
