"""Per-hop compute of the live engines on one thread: the causal live model (ONNX Runtime and PyTorch step) and
the non-causal default model's rolling-context mode, on a file paced as a microphone would feed it (one hop of
127 samples per block). Prints one JSON line per engine (the `chvoice live` summary).

    python research/time_live.py runs/real-testset/noisy [seconds=60]
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf


def main() -> int:
    folder, seconds = Path(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    parts, total = [], 0
    for f in sorted(folder.glob("*.wav")):
        x, sr = sf.read(f, dtype="float32")
        parts.append(x)
        total += len(x)
        if total >= seconds * sr:
            break
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.wav"
        sf.write(src, np.concatenate(parts)[: int(seconds * 16000)], 16000)
        runs = [("causal, onnxruntime", ["--backend", "onnxruntime"]), ("causal, torch", ["--backend", "torch"]),
                ("default, low-latency", ["--mode", "low-latency"]),
                ("default, low-latency, 1-hop blocks", ["--mode", "low-latency", "--block", "127"])]
        for name, extra in runs:
            out = subprocess.run([sys.executable, "-m", "chvoice_core.cli", "live", "--input", str(src), "--output", str(Path(tmp) / "out.wav"),
                                  "--threads", "1", "--realtime", *extra], capture_output=True, text=True)
            if out.returncode != 0:
                print(json.dumps({"engine": name, "error": out.stderr.strip()[-300:]}))
                continue
            s = json.loads(out.stdout.strip().splitlines()[-1])
            print(json.dumps({"engine": name, **{k: s[k] for k in ("algorithmic_latency_ms", "block_samples", "blocks",
                                                                      "underruns", "model_call_ms_p50",
                                                                      "model_call_ms_p99", "model_call_budget_ms",
                                                                      "block_ms_p50", "block_ms_p99", "audio_seconds")}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
