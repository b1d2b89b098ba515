"""What the pause-attenuation measure allows, and where a model's residual in the pauses sits (issue 28).

    python research/pause_ceiling.py runs/studio-testset                     # ceilings: reference, oracle mask
    python research/pause_ceiling.py runs/studio-testset --model default     # + that model, by distance to speech

Pools `metrics.pause_energies` like `chvoice evaluate`, per item kind (the id's prefix: floor / noise). With
--model, also (per item kind) the attenuation above 2 kHz by the pause frame's distance to the nearest speech
frame (in the measure's own 16 ms frames, `metrics.pause_frames`), and each bucket's share of what the model leaves.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import signal

from chvoice_core.evaluate import paired_folders
from chvoice_core.metrics import band_power, pause_energies, pause_frames, pooled_pause_attenuation

BUCKETS = ((1, 2), (2, 3), (3, 4), (4, 8), (8, 16), (16, 10**9))
ABOVE_2K = slice(3, None)     # metrics.PAUSE_BANDS_HZ from 2-3 kHz up


def oracle_mask(noisy: np.ndarray, clean: np.ndarray, n_fft: int = 510, hop: int = 127) -> np.ndarray:
    """The ideal ratio mask min(|C| / |N|, 1) on the shipped models' STFT, noisy phase. [N] -> [N]."""
    kw = dict(fs=16000, window="hann", nperseg=n_fft, noverlap=n_fft - hop)
    _, _, sn = signal.stft(noisy, **kw)
    _, _, sc = signal.stft(clean, **kw)
    _, y = signal.istft(sn * np.clip(np.abs(sc) / np.maximum(np.abs(sn), 1e-12), 0, 1), **kw)
    return y[: len(noisy)].astype(np.float32)


def by_distance(est: np.ndarray, noisy: np.ndarray, clean: np.ndarray, acc: dict) -> None:
    """Add this file's 2-8 kHz pause energies (in, out) to `acc`, bucketed by the pause frame's distance (in the
    measure's own frames, metrics.pause_frames) to the nearest speech frame."""
    n = min(len(est), len(noisy), len(clean))
    pause = pause_frames(clean[:n])
    e_in = band_power(noisy[:n])[:, ABOVE_2K].sum(axis=1)
    e_out = band_power(est[:n])[:, ABOVE_2K].sum(axis=1)
    speech = np.where(~pause)[0]
    for t in np.where(pause)[0]:
        d = int(np.min(np.abs(speech - t))) if len(speech) else 10**9
        b = next(b for b in BUCKETS if b[0] <= d < b[1])
        a = acc.setdefault(b, [0.0, 0.0])
        a[0] += e_in[t]
        a[1] += e_out[t]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("testset", type=Path, help="a folder with noisy/ and clean/ (e.g. runs/studio-testset)")
    ap.add_argument("--model", help="also score this model (a shipped name or a checkpoint)")
    a = ap.parse_args()
    pairs = paired_folders(a.testset / "noisy", a.testset / "clean")
    systems = {"clean reference": lambda n, c: c, "oracle ratio mask": oracle_mask}
    if a.model:
        import chvoice_core as cv
        d = cv.load(a.model)
        systems[a.model] = lambda n, c: d.enhance(n, 16000)
    dist: dict[str, dict] = {}       # item kind -> distance bucket -> [energy in, energy out]
    for name, fn in systems.items():
        rows = []
        for item, noisy, clean in pairs:
            est = fn(noisy, clean)
            rows.append({"id": item, **pause_energies(est, noisy, clean)})
            if name == a.model:
                by_distance(est, noisy, clean, dist.setdefault(item.split("-")[0], {}))
        df = pd.DataFrame(rows)
        for kind in ["all"] + sorted({i.split("-")[0] for i in df.id}):
            sub = df if kind == "all" else df[df.id.str.startswith(kind + "-")]
            att = pooled_pause_attenuation(sub)
            print(f"{name:>20} {kind:>6} ({len(sub)}): min <1k {att['pause_att_min_0-1k']:5.1f} dB, "
                  f"min 1-8k {att['pause_att_min_1-8k']:5.1f} dB")
    for kind, acc in sorted(dist.items()):
        total = sum(v[1] for v in acc.values())
        for (lo, hi), (e_in, e_out) in sorted(acc.items()):
            span = f"{lo}-{hi - 1}" if hi < 10**9 else f"{lo}+"
            print(f"  {kind}: {span:>5} frames from speech: attenuation 2-8 kHz {10 * np.log10(e_in / e_out):5.1f} dB, "
                  f"{100 * e_out / total:4.0f} % of what is left")


if __name__ == "__main__":
    from chvoice_core.errors import ChvoiceError
    try:
        main()
    except ChvoiceError as e:
        raise SystemExit(f"error: {e}")
