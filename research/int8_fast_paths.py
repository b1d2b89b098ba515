"""Where FX int8 time goes with channel counts: the quantized max-pool and skip cat per channel count, and the model
call of untrained U-Nets of given conv widths (5 tiles of 256 x 128, one thread, median ms).

    python research/int8_fast_paths.py ops
    python research/int8_fast_paths.py widths "24,32,48,48,72,64,64,80,64,64,56,48,48,48,32,32,24,32" "16,32,..."
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from chvoice_core.timing import call_times


def _ms(fn, calls: int = 20) -> float:
    return 1000 * float(np.median(call_times(fn, calls, warmup=3)))


def _q(c: int, scale: float) -> torch.Tensor:
    x = torch.randn(5, c, 256, 128)
    return torch.quantize_per_tensor(x, scale, 64, torch.quint8).contiguous(memory_format=torch.channels_last)


def ops(channels: list[int]) -> None:
    pool = torch.nn.MaxPool2d(2)
    print("| channels | quantized max-pool 2x2 | quantized cat (these + 32) |\n|---|---|---|")
    for c in channels:
        a, b = _q(c, 0.05), _q(32, 0.03)
        cat = _ms(lambda: torch.ops.quantized.cat([a, b], dim=1, scale=0.04, zero_point=62))
        print(f"| {c} | {_ms(lambda: pool(a)):.2f} | {cat:.2f} |")


def widths(specs: list[str], base: str) -> None:
    from chvoice_core.compress.artifact import load_float_model
    from chvoice_core.compress.quantize import static_int8
    from chvoice_core.enhance import Denoiser
    from chvoice_core.models.footprint import count_macs
    from chvoice_core.models.unet import UNet
    ref, _ = load_float_model(base, "base", "a magnitude model")
    x, cal = torch.randn(5, 1, 256, 128), torch.randn(32, 1, 256, 128)
    print("| widths | GMAC a tile | ms for 5 tiles |\n|---|---|---|")
    for spec in specs:
        ws = tuple(int(w) for w in spec.split(",")) if spec != "base" else tuple(ref.config.conv_widths())
        model = UNet(ref.config.with_widths(ws)).eval()
        den = Denoiser(static_int8(model, cal))
        with torch.inference_mode():
            print(f"| {','.join(map(str, ws))} | {count_macs(model) / 1e9:.2f} | {_ms(lambda: den.model(x)):.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=["ops", "widths"])
    ap.add_argument("specs", nargs="*", help="widths: comma-separated conv widths ('base': the base model's)")
    ap.add_argument("--channels", default="8,16,24,32,48,64")
    ap.add_argument("--base", default="chvoice_core/assets/children/default-prune50.pt",
                    help="the model whose spec (depth, front end) the widths apply to")
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.what == "ops":
        ops([int(c) for c in a.channels.split(",")])
    else:
        widths(a.specs or ["base"], a.base)


if __name__ == "__main__":
    main()
