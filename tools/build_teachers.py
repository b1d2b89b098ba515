"""Train the pretrained teachers shipped for the report's profiles (normal and smaller U-Nets at the
`quick` budget's widths, on the built-in data the default benchmark run uses), 10x the quick budget's steps.

The zoo's own recipe (same seed, initial weights, sampler, Adam at 4e-4 on dB-MSE: the report's setup), only
longer; the default benchmark run then starts from these and performs every compression step itself.
Stored as fp16 state dicts (package data). Resumable per model: a finished model is skipped.

    python tools/build_teachers.py [--steps 1200] [--out chvoice_core/assets/teachers]
Cost measured on the 2-core CPU, one torch thread: about 5 minutes per model (1200 steps of 16 tiles).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from chvoice_core.budgets import get_budget
from chvoice_core.data.profiles import REPORT_PROFILES
from chvoice_core.data.sources import default_cache_dir
from chvoice_core.models.archs import arch_config
from chvoice_core.models.unet import UNet, start_as_identity
from chvoice_core.pretrained import save_teacher
from chvoice_core.train import train
from chvoice_core.zoo import Zoo


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--out", default="chvoice_core/assets/teachers")
    ap.add_argument("--archs", default="normal,smaller")
    ap.add_argument("--profiles", default=",".join(REPORT_PROFILES))
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    budget = get_budget("quick")
    zoo = Zoo(budget, cache_dir=default_cache_dir() / "bench", progress=True, build_threads=a.threads)
    for profile in a.profiles.split(","):
        for arch in a.archs.split(","):
            dst = Path(a.out) / f"{arch}-{profile}.pt"
            if dst.is_file():
                print(f"{dst} exists; skipped")
                continue
            t0 = time.perf_counter()
            torch.manual_seed(zoo.seed)
            model = start_as_identity(UNet(arch_config(arch, budget.width_divisor)))
            r = train(model, zoo.sampler(profile), zoo._train_cfg(a.steps))
            hist = r["history"]
            save_teacher(dst, r["model"].cpu().eval(), {
                "arch": arch, "profile": profile, "budget": budget.name, "data": zoo.data_label,
                "train_steps": a.steps, "batch_size": budget.batch_size, "lr": 4e-4, "seed": zoo.seed,
                "loss": "db-mse", "final_loss": sum(hist[-50:]) / 50,
                "train_seconds": round(time.perf_counter() - t0, 1)})
            print(f"{dst}: {a.steps} steps in {time.perf_counter() - t0:.0f} s, loss {sum(hist[-50:]) / 50:.2f}")


if __name__ == "__main__":
    main()
