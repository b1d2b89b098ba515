"""Copy a trained (float or int8) model into the package as the default denoiser.

Float weights are stored as fp16 (loading casts back to fp32); int8 artifacts are copied as they are. The
validation row and training settings in the model's meta travel with it.

    python tools/ship_model.py runs/general/int8.pt [--dest chvoice_core/assets/default.pt] [--meta KEY=JSON ...]

--meta adds what the checkpoint could not know, e.g. the lineage of a model fine-tuned on another machine:
    --meta 'init_training={"train_steps": 8174, "lr": 0.001}' --meta 'device="cuda (H100)"'
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from chvoice_core.audio_io import atomic_path
from chvoice_core.models.io import fp16_storage, read_checkpoint


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--dest", default="chvoice_core/assets/default.pt")
    ap.add_argument("--meta", action="append", default=[], metavar="KEY=JSON", help="add a meta field")
    a = ap.parse_args()
    extra = {}
    for item in a.meta:
        key, sep, value = item.partition("=")
        if not sep:
            ap.error(f"--meta {item!r}: expected KEY=JSON")
        extra[key] = json.loads(value)
    ckpt = read_checkpoint(a.model)
    meta = dict(ckpt.get("meta", {}))
    meta.pop("loss_history", None)          # the package carries the model, not its training curve
    ckpt["meta"] = {**meta, **extra, "shipped_from": Path(a.model).name}
    if ckpt.get("quant"):
        ckpt["meta"].pop("storage", None)    # a quantized file keeps its own tensors; a float parent's "fp16" is not its
    if not ckpt.get("quant"):
        ckpt["state_dict"] = fp16_storage(ckpt["state_dict"])
        ckpt["meta"]["storage"] = "fp16"
    with atomic_path(a.dest) as tmp:
        torch.save(ckpt, tmp)
    print(f"{a.dest}: {Path(a.dest).stat().st_size / 1e6:.2f} MB ({ckpt.get('quant') or 'float, fp16 storage'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
