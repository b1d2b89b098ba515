"""One float model, every execution path: fp32 eager, fp32 torch.compile, FX int8, torchao PT2E int8 (compiled),
ONNX Runtime fp32 and ONNX Runtime QDQ int8 -- same weights, same calibration tiles, timed end to end on one
thread and scored on a paired noisy/clean folder.

    python research/compare_backends.py runs/general/model.pt --testset runs/real-testset --data-root ../shared/data \
        --out runs/backends

Timing: `chvoice_core.timing` (the suite's end-to-end unit): Denoiser.__call__ on a 4 s clip (STFT, 7 overlapping
128x128 tiles in one call, iSTFT), torch and ONNX Runtime on 1 thread, median of --calls after a warm-up call
(which also compiles). Quality: SI-SDR / PESQ-WB / STOI means over the folder's pairs. Writes table.md and
results.json to --out."""
from __future__ import annotations

import argparse
import copy
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch


class CompiledFp32(torch.nn.Module):
    """torch.compile of the float model, one tile per call (one static shape), inductor freezing on."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.fn = torch.compile(model, dynamic=False)

    def forward(self, x):
        import torch._inductor.config as inductor
        with torch.no_grad(), inductor.patch(freezing=True):
            return torch.cat([self.fn(x[i:i + 1].contiguous()) for i in range(x.shape[0])])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--testset", required=True, help="folder with noisy/ and clean/")
    ap.add_argument("--data-root", default=None, help="real data for calibration tiles (default: built-in)")
    ap.add_argument("--profile", default="general")
    ap.add_argument("--items", type=int, default=0, help="score only the first N pairs (0: all)")
    ap.add_argument("--calls", type=int, default=15)
    ap.add_argument("--no-pesq", action="store_true")
    ap.add_argument("--out", default="runs/backends")
    a = ap.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)

    from chvoice_core.audio_io import list_audio_files, read_audio
    from chvoice_core.budgets import get_budget
    from chvoice_core.compress.artifact import load_artifact
    from chvoice_core.compress.steps import make_step
    from chvoice_core.data import DataConfig
    from chvoice_core.data.sources import default_cache_dir
    from chvoice_core.enhance import Denoiser
    from chvoice_core.metrics import pesq_wb, si_sdr, stoi
    from chvoice_core.timing import call_times, e2e_clip, end_to_end, user_call
    from chvoice_core.zoo import Zoo

    model, meta = load_artifact(a.model)
    if meta.get("quant"):
        raise SystemExit(f"{a.model}: give the float model (this one is {meta['quant']})")
    zoo = Zoo(get_budget("quick"), DataConfig(data_root=a.data_root), cache_dir=default_cache_dir(), progress=False)
    models = {"fp32 eager": model, "fp32 torch.compile": CompiledFp32(copy.deepcopy(model))}
    for label, name in (("int8 FX (torch.ao)", "int8"), ("int8 PT2E (torchao, compiled)", "pt2e"),
                        ("ONNX Runtime fp32", "onnx"), ("ONNX Runtime int8 (QDQ)", "ort-int8")):
        t0 = time.perf_counter()
        models[label] = zoo.apply_step(make_step(name), copy.deepcopy(model), a.profile)[0]
        print(f"built {label} in {time.perf_counter() - t0:.1f} s", flush=True)

    root = Path(a.testset)
    noisy_files = list_audio_files(root / "noisy")
    if a.items:
        noisy_files = noisy_files[:a.items]
    pairs = [(f.name, read_audio(f)[0], read_audio(root / "clean" / f.name)[0]) for f in noisy_files]
    clip = e2e_clip(pairs[0][1])
    rows = []
    for label, m in models.items():
        den = Denoiser(m)
        call = end_to_end(user_call(den), clip)
        t0 = time.perf_counter()
        call()                                     # warm-up: lazy init, compilation
        warm = time.perf_counter() - t0
        ts = call_times(call, a.calls, warmup=0)
        ms_per_s = 1000 * float(np.median(ts)) / (len(clip) / 16000)
        scores = {"si_sdr": [], "pesq_wb": [], "stoi": []}
        with torch.inference_mode():
            for _, noisy, clean in pairs:
                y = den(noisy)
                scores["si_sdr"].append(si_sdr(y, clean))
                scores["stoi"].append(stoi(y, clean))
                if not a.no_pesq:
                    scores["pesq_wb"].append(pesq_wb(y, clean))
        row = {"backend": label, "ms_per_s": ms_per_s, "first_call_s": warm,
               **{k: float(np.nanmean(v)) if v else float("nan") for k, v in scores.items()},
               "si_sdr_items": scores["si_sdr"]}
        rows.append(row)
        print(f"{label}: {ms_per_s:.1f} ms/s (first call {warm:.1f} s), SI-SDR {row['si_sdr']:.2f}, "
              f"PESQ {row['pesq_wb']:.3f}, STOI {row['stoi']:.3f}", flush=True)
    noisy = {"si_sdr": float(np.mean([si_sdr(n, c) for _, n, c in pairs]))}
    base = rows[0]["ms_per_s"]
    fx = next(r for r in rows if r["backend"].startswith("int8 FX"))
    lines = [f"model {a.model} ({meta['config'].base_width} base width), {len(pairs)} pairs of {a.testset}, "
             f"noisy SI-SDR {noisy['si_sdr']:.2f} dB; 1 thread, 4 s clip, median of {a.calls} calls; "
             f"torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}", "",
             "| backend | ms per s of audio | speed-up vs fp32 eager | SI-SDR | vs FX int8 (dB) | PESQ-WB | STOI |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['backend']} | {r['ms_per_s']:.1f} | {base / r['ms_per_s']:.1f}x | {r['si_sdr']:.2f} | "
                     f"{r['si_sdr'] - fx['si_sdr']:+.2f} | {r['pesq_wb']:.3f} | {r['stoi']:.3f} |")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text("\n".join(lines) + "\n")
    (out / "results.json").write_text(json.dumps({"noisy": noisy, "rows": rows}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
