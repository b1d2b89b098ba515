"""Are the engines' outputs unchanged by a refactor? Saves, or checks against a saved copy, the waveforms that every
way of running a shipped model produces on items of the repo's real test set: the offline call, the bounded-memory
long-file path (a 70 s signal: several chunks of tiles), the streaming engines (the default mode of each model, and
the block-size independence of a stream), the causal models' offline path, and the scores `evaluate` reports.

    python research/outputs_unchanged.py save runs/outputs-ref      # before the change
    python research/outputs_unchanged.py check runs/outputs-ref     # after: max |difference| per output, exit 1 when a
                                                                    # waveform moves over 1e-6 or a score over 1e-5
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

import chvoice as cv
from chvoice_core.data.realset import load_realset
from chvoice_core.pretrained import assets_dir

TOLERANCE = 1e-6            # waveforms
SCORE_TOLERANCE = 1e-5      # PESQ-WB, STOI, SI-SDR (dB) of the `evaluate` outputs
MODELS = {"default": "default", "default-float": "default-float.pt", "live": "live",
          "teacher-normal": "teachers/normal-weighted.pt", "teacher-causal": "teachers/causal-weighted.pt"}
ITEMS = (0, 40, 100)          # a LibriSpeech item, another, a studio one


def outputs() -> dict[str, np.ndarray]:
    torch.set_num_threads(1)
    items = load_realset()
    picks = [items[i] for i in ITEMS]
    long_x = np.concatenate([it.mixture.noisy for it in items[:20]])[: 70 * 16_000]
    out: dict[str, np.ndarray] = {}
    for name, ref in MODELS.items():
        path = ref if "/" not in ref and not ref.endswith(".pt") else assets_dir() / ref
        d = cv.load(path)
        for it in picks:
            x = it.mixture.noisy
            out[f"{name}/call/{it.id}"] = d(x)
            out[f"{name}/enhance/{it.id}"] = d.enhance(x, 16_000)
            s = d.stream()
            out[f"{name}/stream/{it.id}"] = s.denoise(x)
            s.reset()
            out[f"{name}/stream-blocks-1000/{it.id}"] = s.run(x, 1000)
        out[f"{name}/long-70s"] = d.run(long_x)
        scores = cv.evaluate(d, *_folders(picks), perceptual=False)
        out[f"{name}/evaluate"] = scores[["pesq_wb", "stoi", "si_sdr"]].to_numpy(float)
    return out


_TMP: list = []


def _folders(items) -> tuple[str, str]:
    """noisy/ and clean/ folders of the items (evaluate scores folders)."""
    import tempfile

    import soundfile as sf
    tmp = tempfile.TemporaryDirectory()
    _TMP.append(tmp)
    root = Path(tmp.name)
    for sub in ("noisy", "clean"):
        (root / sub).mkdir()
    for it in items:
        sf.write(root / "noisy" / f"{it.id}.wav", it.mixture.noisy, 16_000, subtype="FLOAT")
        sf.write(root / "clean" / f"{it.id}.wav", it.mixture.clean, 16_000, subtype="FLOAT")
    return str(root / "noisy"), str(root / "clean")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("action", choices=["save", "check"])
    ap.add_argument("folder")
    a = ap.parse_args()
    out = outputs()
    path = Path(a.folder) / "outputs.npz"
    if a.action == "save":
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **{k.replace("/", "|"): v for k, v in out.items()})
        print(f"{path}: {len(out)} outputs")
        return 0
    ref = {k.replace("|", "/"): v for k, v in np.load(path).items()}
    worst = 0.0
    for k in sorted(set(ref) | set(out)):
        if k not in ref or k not in out or ref[k].shape != out[k].shape:
            print(f"{k}: missing or shape changed")
            worst = np.inf
            continue
        diff = float(np.max(np.abs(ref[k] - out[k]))) if ref[k].size else 0.0
        tol = SCORE_TOLERANCE if k.endswith("/evaluate") else TOLERANCE
        worst = max(worst, diff / tol)
        print(f"{k}: max |diff| {diff:.2e} (tolerance {tol:.0e})")
    print(f"worst {worst:.2f} of its tolerance")
    return 0 if worst <= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
