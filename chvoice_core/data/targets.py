"""Training targets cleaned of their own noise floor.

Audiobook recordings (LibriSpeech) carry their reader's room tone and hiss, about 51 dB under the loud frames
in 2-8 kHz; a model trained to reproduce them learns that a low, tilted floor belongs to clean speech. A gentle
stationary gate removes it from the target only (the mixture keeps it, so the model learns to take it out):
per bin, the floor is found by minimum statistics (the quietest `window_s` of the utterance's power, averaged over
that window, times a bias correction: speech-dense files still have short pauses), and the gain is a power subtraction
against 2.5 times that floor, bounded below by `floor_gain_db`, computed on the power smoothed over 3 bins and 9
frames (72 ms; a single noise bin's power scatters, and its peaks would pass as musical noise), so speech well
above the floor passes unchanged (gain > -0.1 dB at 20 dB above the floor)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..audio_io import SAMPLE_RATE
from .speech import SpeechCorpus


@dataclass(frozen=True)
class TargetGate:
    window_s: float = 0.3         # minimum statistics: each bin's power averaged over this long, then its minimum
    bias: float = 2.0             # the minimum of such averages lies below the mean noise power (0.7x, measured)
    over: float = 2.5             # power subtraction against over x floor
    floor_gain_db: float = -25.0  # at most this much attenuation
    n_fft: int = 512
    hop: int = 128


def gate_floor(x: np.ndarray, gate: TargetGate = TargetGate()) -> np.ndarray:
    """x [N] at 16 kHz with its stationary floor gated down. -> float32 [N]."""
    from scipy import ndimage, signal  # heavy (1 s): imported where used
    if len(x) < gate.n_fft:
        return np.asarray(x, np.float32)
    kw = dict(fs=SAMPLE_RATE, window="hann", nperseg=gate.n_fft, noverlap=gate.n_fft - gate.hop)
    _, _, spec = signal.stft(np.asarray(x, np.float64), **kw)
    power = np.abs(spec) ** 2
    frames = max(1, min(power.shape[1], round(gate.window_s * SAMPLE_RATE / gate.hop)))
    smooth = ndimage.uniform_filter1d(power, frames, axis=1, mode="nearest")
    floor = gate.bias * smooth.min(axis=1, keepdims=True)
    local = ndimage.uniform_filter(power, size=(3, 9), mode="nearest")
    gain = np.clip(1.0 - gate.over * floor / np.maximum(local, 1e-20), 10 ** (gate.floor_gain_db / 10), 1.0)
    gain = np.sqrt(gain)     # power gain -> amplitude
    _, y = signal.istft(spec * gain, **kw)
    return y[: len(x)].astype(np.float32)


class GatedSpeech(SpeechCorpus):
    """The same utterances as `corpus`, each gated by `gate_floor` on first read (cached)."""

    def __init__(self, corpus: SpeechCorpus, gate: TargetGate = TargetGate()):
        super().__init__(corpus.utterances, f"{corpus.name}[gated]")
        self.source, self.gate = corpus, gate

    def audio(self, utt) -> np.ndarray:
        if utt.id not in self._cache:
            self._cache[utt.id] = gate_floor(self.source.audio(utt), self.gate)
        return self._cache[utt.id]
