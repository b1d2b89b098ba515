"""Ceilings of mask heads on a paired test set: the SI-SDR (and PESQ-WB) each mask family reaches when it is
given the clean reference (an oracle), with this project's STFT front end. It says how much of a target a
head can reach at all, e.g. whether +7 dB SI-SDR over the noisy input needs a phase-aware head.

    python research/oracle_masks.py runs/real-testset [--pesq] [--n-fft 512 --hop 256]   (other STFT frames)

Heads (N: noisy STFT, C: clean STFT):
  magnitude-bounded   |C| / |N| clipped to [0, 1], noisy phase (the shipped model's head: gain <= 0 dB)
  magnitude-free      |C| / |N| unclipped, noisy phase (a head that may also amplify)
  complex-bounded     C / N with its magnitude clipped to 1: corrects phase, never amplifies
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from chvoice_core.audio_io import list_audio_files, read_audio
from chvoice_core.dsp import FrontEnd, istft, stft
from chvoice_core.metrics import pesq_wb, si_sdr

Tensor = torch.Tensor


def oracle_masks(noisy: Tensor, clean: Tensor, eps: float = 1e-8) -> dict[str, Tensor]:
    """Each head's oracle mask for one STFT pair: N, C complex [F, T] -> {head: complex mask [F, T]}."""
    ratio = clean / (noisy + eps)
    gain = clean.abs() / (noisy.abs() + eps)
    mag = ratio.abs()
    return {"magnitude-bounded": gain.clamp(max=1.0).to(noisy.dtype),
            "magnitude-free": gain.to(noisy.dtype),
            "complex-bounded": ratio / mag.clamp(min=1.0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("testset", help="a folder with noisy/ and clean/ holding files of the same names")
    ap.add_argument("--pesq", action="store_true", help="also score PESQ-WB (slower)")
    ap.add_argument("--n-fft", type=int, default=FrontEnd().n_fft, help="STFT frame (default: the report's 254)")
    ap.add_argument("--hop", type=int, default=FrontEnd().hop, help="STFT hop (default: the report's 127)")
    a = ap.parse_args()
    fe = FrontEnd(n_fft=a.n_fft, hop=a.hop)
    root = Path(a.testset)
    rows: dict[str, list[tuple[float, float]]] = {}
    for path in list_audio_files(root / "noisy"):
        x, _ = read_audio(path)
        y, _ = read_audio(root / "clean" / path.name)
        n = min(len(x), len(y))
        x, y = x[:n], y[:n]
        N, C = stft(torch.from_numpy(x), fe), stft(torch.from_numpy(y), fe)
        rows.setdefault("noisy input", []).append((si_sdr(x, y), pesq_wb(x, y) if a.pesq else float("nan")))
        for head, mask in oracle_masks(N, C).items():
            est = istft(N * mask, fe, n).numpy()
            rows.setdefault(head, []).append((si_sdr(est, y), pesq_wb(est, y) if a.pesq else float("nan")))
    base = float(np.mean([r[0] for r in rows["noisy input"]]))
    print(f"{len(rows['noisy input'])} items, {root}, STFT {fe.n_fft}/{fe.hop}")
    print("| head (oracle) | SI-SDR dB | gain dB | PESQ-WB |\n|---|---|---|---|")
    for head, r in rows.items():
        s, p = np.array(r).T
        print(f"| {head} | {s.mean():.2f} | {s.mean() - base:+.2f} | {np.nanmean(p) if a.pesq else float('nan'):.3f} |")


if __name__ == "__main__":
    main()
