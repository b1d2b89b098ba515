"""Peer denoisers: same interface as our models, output aligned to the input, per-file state by default."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from chvoice_core.baselines import PEERS, get_peer
from chvoice_core.errors import ChvoiceError
from chvoice_core.metrics import si_sdr
from tests.conftest import speechlike


def _mix(seconds=2.0, noise=0.03, clean=None):
    clean = speechlike(seconds) if clean is None else clean
    rng = np.random.default_rng(0)
    return (clean + noise * rng.standard_normal(len(clean))).astype(np.float32), clean


def _speech(builtin_data, seconds=3.0):
    """An eSpeak utterance of the built-in corpus at 0 dB RMS against white noise."""
    corpus = builtin_data.test_speech
    x = corpus.audio(corpus.utterances[0])[: int(seconds * 16_000)].astype(np.float32)
    return _mix(clean=x, noise=float(np.sqrt(np.mean(x ** 2))))


def _available(name):
    ok, why = PEERS[name].available()
    if not ok:
        pytest.skip(why)


@pytest.mark.parametrize("name", list(PEERS))
def test_peer_output_is_aligned_finite_and_denoised(name, builtin_data):
    _available(name)
    noisy, clean = _speech(builtin_data)
    y = get_peer(name)(noisy)
    assert y.shape == noisy.shape and y.dtype == np.float32 and np.isfinite(y).all()
    c = signal.correlate(y, clean, mode="full", method="fft")
    assert abs(int(np.argmax(c)) - (len(clean) - 1)) <= 2          # the peer's delay is compensated
    assert si_sdr(y, clean) > si_sdr(noisy, clean)


def test_persistent_deepfilternet_keeps_one_state():
    _available("deepfilternet3")
    noisy, _ = _mix(1.0)
    fresh, kept = PEERS["deepfilternet3"](), PEERS["deepfilternet3"](persistent=True)
    first = kept(noisy)
    assert np.allclose(first, fresh(noisy), atol=1e-6)               # a new state: the same output
    assert kept._state and kept(noisy).shape == noisy.shape          # then the state carries over
    assert np.allclose(fresh(noisy), first, atol=1e-6)               # per-file instances never carry over


def test_unknown_peer_is_one_clear_error():
    with pytest.raises(ChvoiceError, match="unknown peer 'nope'; known: noisereduce"):
        get_peer("nope")
