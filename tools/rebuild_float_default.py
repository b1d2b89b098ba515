"""Rebuild the shipped default's float weights from its static int8 file (its float weights were lost) and
store them in the package as fp16 (chvoice_core/assets/default-float.pt): the parent that fine-tunes and the
real benchmark start from. The BatchNorm statistics come from 256 calibration tiles of the `general` profile's
training side (compress.dequantize explains why they are needed).

    python tools/rebuild_float_default.py --data-root ../shared/data [--int8 chvoice_core/assets/default.pt]
        [--out chvoice_core/assets/default-float.pt]

Then check it against the int8 model on the real test set, e.g.
    chvoice evaluate chvoice_core/assets/default-float.pt --noisy runs/real-testset/noisy --clean runs/real-testset/clean
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from chvoice_core.budgets import get_budget
from chvoice_core.compress.dequantize import float_from_int8
from chvoice_core.data.sources import DataConfig, default_cache_dir
from chvoice_core.models.io import config_from_dict, read_checkpoint
from chvoice_core.pretrained import save_teacher
from chvoice_core.zoo import Zoo


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--int8", default="chvoice_core/assets/default.pt")
    ap.add_argument("--out", default="chvoice_core/assets/default-float.pt")
    ap.add_argument("--data-root", default="../shared/data")
    ap.add_argument("--tiles", type=int, default=256)
    a = ap.parse_args()
    ckpt = read_checkpoint(a.int8)
    if ckpt.get("quant") != "static":
        raise SystemExit(f"{a.int8}: not a static int8 model (quant {ckpt.get('quant')!r})")
    config = config_from_dict(ckpt, a.int8)
    zoo = Zoo(get_budget("quick"), DataConfig(data_root=a.data_root), cache_dir=default_cache_dir())
    tiles = zoo.calibration("general", a.tiles, fe=config.front_end())
    model = float_from_int8(ckpt["state_dict"], config, tiles)
    meta = {k: v for k, v in ckpt.get("meta", {}).items() if k not in ("int8_layers", "recipe", "shipped_from")}
    digest = hashlib.sha256(Path(a.int8).read_bytes()).hexdigest()[:16]
    meta.update(rebuilt_from_int8=f"{Path(a.int8).name} sha256:{digest}",
                rebuilt_how=f"int8 conv weights dequantized; BatchNorms re-opened (statistics of {a.tiles} "
                            f"general-profile training tiles, folded bias in their shift); compress.dequantize")
    save_teacher(a.out, model, meta)
    print(f"{a.out}: {Path(a.out).stat().st_size / 1e6:.2f} MB, float (fp16 storage), from {a.int8} ({digest})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
