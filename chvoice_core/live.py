"""Live denoising: a file paced like a microphone (testable without audio hardware), or a real microphone
to speakers through sounddevice (PortAudio). Under-runs are counted and reported, never silent."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np

from .errors import ChvoiceError
from .stream import StreamingDenoiser


@dataclass
class LiveReport:
    mode: str
    algorithmic_latency_ms: float
    block_samples: int
    blocks: int = 0
    underruns: int = 0
    block_ms: list[float] = field(default_factory=list)     # wall time to process each input block

    def summary(self, engine: StreamingDenoiser, audio_seconds: float, wall_seconds: float) -> dict:
        comp = np.asarray(engine.compute_ms or [0.0])
        blk = np.asarray(self.block_ms or [0.0])
        budget_ms = engine.call_budget_ms
        return {"mode": self.mode, "algorithmic_latency_ms": round(self.algorithmic_latency_ms, 2),
                "block_samples": self.block_samples, "blocks": self.blocks, "underruns": self.underruns,
                "model_calls": len(engine.compute_ms), "model_call_ms_p50": round(float(np.percentile(comp, 50)), 3),
                "model_call_ms_p99": round(float(np.percentile(comp, 99)), 3),
                "model_call_budget_ms": round(budget_ms, 2),
                "block_ms_p50": round(float(np.percentile(blk, 50)), 3), "block_ms_p99": round(float(np.percentile(blk, 99)), 3),
                "audio_seconds": round(audio_seconds, 3), "wall_seconds": round(wall_seconds, 3),
                "realtime_factor": round(audio_seconds / wall_seconds, 2) if wall_seconds > 0 else None,
                "keeps_up": bool(self.underruns == 0)}


def run_file(engine: StreamingDenoiser, x: np.ndarray, block: int, realtime: bool, mode: str) -> tuple[np.ndarray, dict]:
    """Feed x [N] (16 kHz) in blocks as a sound card would. A block whose processing ends after the next block
    is due is an under-run (the listener would hear a gap). With realtime=True the feed is paced by the clock."""
    rep = LiveReport(mode, engine.algorithmic_latency_ms, block)
    sr = engine.fe.sample_rate
    outs = []
    t_start = time.perf_counter()
    for i in range(0, len(x), block):
        due = t_start + i / sr
        if realtime:
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        t0 = time.perf_counter()
        outs.append(engine.process(x[i:i + block]))
        t1 = time.perf_counter()
        rep.block_ms.append(1000 * (t1 - t0))
        rep.blocks += 1
        deadline = (due if realtime else t0) + len(x[i:i + block]) / sr
        if t1 > deadline:
            rep.underruns += 1
    outs.append(engine.flush())
    wall = time.perf_counter() - t_start
    return engine.align(np.concatenate(outs), len(x)), rep.summary(engine, len(x) / sr, wall)


def run_microphone(engine: StreamingDenoiser, block: int, device_in=None, device_out=None, seconds: float | None = None,
                   mode: str = "low-latency") -> dict:
    """Microphone -> denoiser -> speakers until Ctrl-C (or `seconds`). Prints a load meter once a second."""
    try:
        import sounddevice as sd
    except (ImportError, OSError) as e:
        raise ChvoiceError(f"live microphone mode needs sounddevice and the PortAudio library "
                           f"(pip install sounddevice; Debian/Ubuntu: apt-get install libportaudio2): {e}") from None
    rep = LiveReport(mode, engine.algorithmic_latency_ms, block)
    buffered = np.zeros(0, np.float32)
    sr = engine.fe.sample_rate

    def callback(indata, outdata, frames, t, status):
        nonlocal buffered
        t0 = time.perf_counter()
        buffered = np.concatenate([buffered, engine.process(indata[:, 0].copy())])
        if len(buffered) >= frames:
            outdata[:, 0] = buffered[:frames]
            buffered = buffered[frames:]
        else:
            outdata.fill(0)
            if rep.blocks > 0:
                rep.underruns += 1
        rep.block_ms.append(1000 * (time.perf_counter() - t0))
        rep.blocks += 1
        if status.output_underflow or status.input_overflow:
            rep.underruns += 1

    t_start = time.perf_counter()
    try:
        with sd.Stream(samplerate=sr, blocksize=block, channels=1, dtype="float32", callback=callback,
                       device=(device_in, device_out)):
            last = 0
            while seconds is None or time.perf_counter() - t_start < seconds:
                time.sleep(1.0)
                recent = rep.block_ms[last:]
                last = len(rep.block_ms)
                load = 100 * (np.mean(recent) if recent else 0) / (1000 * block / sr)
                print(f"\rload {load:5.1f} %  under-runs {rep.underruns}  latency {engine.algorithmic_latency_ms:.1f} ms "
                      f"(+ device buffers)", end="", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        pass
    except Exception as e:  # PortAudioError and friends: no device, bad device index...
        raise ChvoiceError(f"audio device error: {e}") from None
    print(file=sys.stderr)
    wall = time.perf_counter() - t_start
    return rep.summary(engine, rep.blocks * block / sr, wall)
