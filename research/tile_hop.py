"""What does running a tile model on tiles that overlap less cost and buy? For each tile hop, the model's quality on
the repo's real test set (122 items, PESQ-WB / STOI / SI-SDR and the kept share of the float parent's gain over the
noisy input) and its end-to-end time on the real track's 4 s clip (1 thread, batch 1, median of 15 calls).

    python research/tile_hop.py chvoice_core/assets/children/default-prune50-int8.pt --hops 64,96,112,124
    python research/tile_hop.py <model> --hops 0        # 0: the hop the model's own spec names
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch

import chvoice as cv
from chvoice_core.data.realset import load_realset
from chvoice_core.metrics import pesq_wb, si_sdr, stoi
from chvoice_core.timing import call_times, e2e_clip, e2e_info, end_to_end, user_call


def _score(pair: tuple[np.ndarray, np.ndarray]) -> tuple[float, float, float]:
    y, clean = pair
    return pesq_wb(y, clean), stoi(y, clean), si_sdr(y, clean)


def _scores(outputs: list[np.ndarray], items, pool: ProcessPoolExecutor) -> np.ndarray:
    return np.array(list(pool.map(_score, [(y, it.mixture.clean) for y, it in zip(outputs, items)], chunksize=4)))


def _ms_per_s(den, clip: np.ndarray, calls: int = 15) -> float:
    """The real track's unit: the suite's timed call (timing.end_to_end), median ms per second of audio."""
    return e2e_info(call_times(end_to_end(user_call(den), clip), calls, warmup=3), len(clip) / 16000)["ms_per_s"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="model file or shipped name")
    ap.add_argument("--hops", default="64,96", help="comma-separated tile hops in frames (0: the model's own)")
    ap.add_argument("--parent", default="chvoice_core/assets/default-float.pt", help="the float parent whose gain is the 100 %%")
    a = ap.parse_args()
    torch.set_num_threads(1)
    items = load_realset()
    clip = e2e_clip(items[0].mixture.noisy)
    with ProcessPoolExecutor(2) as pool:
        noisy = _scores([it.mixture.noisy for it in items], items, pool).mean(0)
        parent = _scores([cv.load(a.parent)(it.mixture.noisy) for it in items], items, pool).mean(0)
        print(f"noisy {noisy[0]:.3f} / {noisy[1]:.3f} / {noisy[2]:.2f} dB; parent {parent[0]:.3f} / {parent[1]:.3f} / "
              f"{parent[2]:.2f} dB")
        den = cv.load(a.model)
        own = den.fe
        for hop in (int(h) for h in a.hops.split(",")):
            den.fe = dataclasses.replace(own, tile_hop=hop) if hop else own
            r = _scores([den(it.mixture.noisy) for it in items], items, pool).mean(0)
            kept = (r - noisy) / (parent - noisy) * 100
            print(f"hop {den.fe.tile_hop}: {r[0]:.3f} / {r[1]:.3f} / {r[2]:.2f} dB, kept PESQ {kept[0]:.0f} % / SI-SDR "
                  f"{kept[2]:.0f} %; {_ms_per_s(den, clip):.2f} ms per s of audio", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
