"""Offline speech synthesis with eSpeak NG (the espeakng-loader wheel ships the library and voices).

The C library keeps global state, so one Synth object per process is the practical limit; calls are
synchronous. Some voice variants (f2, f3, f5: breathy voices) add noise from the library's own random
generator, which eSpeak seeds from the clock: pass `seed` to make those calls reproducible.
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np

from ..errors import ChvoiceError

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


@dataclass(frozen=True)
class Voice:
    """An eSpeak voice: language + variant (e.g. 'en-us' + 'f3'), speaking rate (words/min), pitch 0-99."""

    language: str
    variant: str
    rate: int = 160
    pitch: int = 50
    pitch_range: int = 50

    @property
    def name(self) -> str:
        return f"{self.language}+{self.variant}" if self.variant else self.language


class Synth:
    """Thin ctypes wrapper: synthesise(text, voice) -> float32 waveform at self.sample_rate."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError:
            raise ChvoiceError("built-in speech needs the espeakng-loader package (pip install espeakng-loader)") from None
        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self._lib.espeak_Initialize.restype = ctypes.c_int
        self._lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self._lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        self._lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                           ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        sr = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0,
                                         espeakng_loader.get_data_path().encode(), 0)
        if sr <= 0:
            raise ChvoiceError("eSpeak NG failed to initialise")
        self.sample_rate = sr
        self._chunks: list[np.ndarray] = []

        def on_audio(wav, n, events):  # called from inside espeak_Synth
            if wav and n > 0:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            return 0

        self._callback = _CALLBACK(on_audio)   # keep a reference: the C side holds a raw pointer
        self._lib.espeak_SetSynthCallback(self._callback)

    def synthesise(self, text: str, voice: Voice, seed: int | None = None) -> np.ndarray:
        """text -> float32 waveform [N] in [-1, 1] at self.sample_rate; with a seed, the same audio every time."""
        if self._lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
            raise ChvoiceError(f"eSpeak voice {voice.name!r} not found")
        self._lib.espeak_SetParameter(_RATE, int(voice.rate), 0)
        self._lib.espeak_SetParameter(_PITCH, int(voice.pitch), 0)
        self._lib.espeak_SetParameter(_RANGE, int(voice.pitch_range), 0)
        if seed is not None:
            self._lib.espeak_ng_SetRandSeed(int(seed))
        self._chunks = []
        data = text.encode("utf-8") + b"\0"
        err = self._lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        self._lib.espeak_Synchronize()
        if err != 0 or not self._chunks:
            raise ChvoiceError(f"eSpeak failed to synthesise {text[:30]!r} (error {err})")
        return (np.concatenate(self._chunks).astype(np.float32) / 32768.0)
