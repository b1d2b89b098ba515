"""End-to-end speed of models against the first one, timed in one process and interleaved (rounds of each in turn),
so that a host's drift moves every row alike: the real track's unit (timing.end_to_end on its 4 s clip, 1 thread,
median ms per second of audio).

    python research/e2e_compare.py chvoice_core/assets/default-float.pt chvoice_core/assets/children/<child>.pt ...
"""
from __future__ import annotations

import argparse
import time

import torch

import chvoice as cv
from chvoice_core.data.realset import load_realset
from chvoice_core.timing import e2e_clip, e2e_info, end_to_end, user_call


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", help="model files or shipped names; the first is the reference")
    ap.add_argument("--rounds", type=int, default=12)
    a = ap.parse_args()
    torch.set_num_threads(1)
    clip = e2e_clip(load_realset()[0].mixture.noisy)
    calls = {m: end_to_end(user_call(cv.load(m)), clip) for m in a.models}
    times: dict[str, list[float]] = {m: [] for m in a.models}
    for call in calls.values():
        for _ in range(3):
            call()
    for _ in range(a.rounds):
        for m, call in calls.items():
            t = time.perf_counter()
            call()
            times[m].append(time.perf_counter() - t)
    ms = {m: e2e_info(ts, len(clip) / 16000)["ms_per_s"] for m, ts in times.items()}
    ref = ms[a.models[0]]
    for m in a.models:
        print(f"{m:60s} {ms[m]:7.2f} ms/s  {ref / ms[m]:5.2f}x")


if __name__ == "__main__":
    main()
