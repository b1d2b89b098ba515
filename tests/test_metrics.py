import numpy as np
import pytest

from chvoice_core.metrics import pesq_wb, score, si_sdr, spectrogram_rms_db, stoi
from tests.conftest import speechlike


def test_si_sdr_known_value_and_scale_invariance():
    rng = np.random.default_rng(0)
    s = rng.standard_normal(16000)
    s -= s.mean()
    n = rng.standard_normal(16000)
    n -= n.mean()
    n -= np.dot(n, s) / np.dot(s, s) * s          # orthogonal to s
    n *= np.linalg.norm(s) / np.linalg.norm(n) * 10 ** (-10 / 20)   # exactly 10 dB below
    assert si_sdr(s + n, s) == pytest.approx(10.0, abs=1e-6)
    assert si_sdr(3.7 * (s + n), s) == pytest.approx(10.0, abs=1e-6)
    assert si_sdr(s + n, 0.2 * s) == pytest.approx(10.0, abs=1e-6)


def test_spectrogram_rms_of_a_gain_is_the_gain_in_db():
    x = (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)
    assert spectrogram_rms_db(x, x) == pytest.approx(0.0, abs=1e-6)
    # white noise keeps every bin far above the 80 dB floor, so doubling the amplitude raises every bin
    # by exactly 20 log10 2 = 6.02 dB
    assert spectrogram_rms_db(2 * x, x) == pytest.approx(6.0206, abs=1e-3)
    # bins below the floor in both signals do not count as errors
    y = speechlike()
    assert 0 < spectrogram_rms_db(2 * y, y) < 6.03


def test_pesq_and_stoi_known_values():
    x = speechlike(3.0)
    assert pesq_wb(x, x) == pytest.approx(4.64, abs=0.01)    # P.862.2 ceiling for identical signals
    assert stoi(x, x) == pytest.approx(1.0, abs=1e-6)
    noisy = x + 0.05 * np.random.default_rng(1).standard_normal(len(x)).astype(np.float32)
    assert pesq_wb(noisy, x) < 3.0
    assert stoi(noisy, x) < stoi(x, x)
    assert stoi(noisy, x, extended=True) < 1.0


def test_score_against_clean_not_noisy():
    x = speechlike(2.0)
    noisy = x + 0.05 * np.random.default_rng(2).standard_normal(len(x)).astype(np.float32)
    s = score(noisy, x)
    assert set(s) == {"rms_db", "si_sdr", "pesq_wb", "stoi", "estoi"}
    assert s["rms_db"] > 1.0   # against the clean target, the noisy input is far from perfect
    assert score(noisy, noisy, which=("rms_db",))["rms_db"] == 0.0
