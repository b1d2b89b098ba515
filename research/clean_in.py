"""Does a model leave clean speech alone? Each distinct clean reference of a paired set goes in as the input; the
SI-SDR of the output against that input says what the model damaged (issue 28 asks for >= 30 dB on the studio set).

    python research/clean_in.py runs/studio-testset [--model chvoice_core/assets/default.pt]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

import chvoice as cv
from chvoice_core.metrics import si_sdr


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("testset", help="a folder with clean/ (and manifest.json naming each item's utterance)")
    ap.add_argument("--model", default=None, help="model file or shipped name (default: the default)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    root = Path(a.testset)
    manifest = json.loads((root / "manifest.json").read_text())
    files = {}
    for item in manifest:                       # one input per utterance (an utterance may be in several items)
        files.setdefault(item.get("utterance", item["id"]), root / "clean" / f"{item['id']}.wav")
    d = cv.load(a.model)
    rows = []
    for utt, f in sorted(files.items()):
        x, sr = sf.read(f, dtype="float32")
        rows.append((utt, si_sdr(d.enhance(x, sr), x)))
    sdr = np.array([r[1] for r in rows])
    worst = min(rows, key=lambda r: r[1])
    print(json.dumps({"model": a.model or "default", "utterances": len(rows), "mean_si_sdr": round(float(sdr.mean()), 2),
                      "at_least_30_db": int((sdr >= 30).sum()), "worst": [worst[0], round(float(worst[1]), 2)]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
