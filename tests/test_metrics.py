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


def _with_pause(seed=0):
    """1 s of a steady harmonic tone, 1 s of digital silence, 1 s of tone; and white noise over all of it (a steady
    tone: speechlike()'s syllable envelope dips 45 dB, and such frames count as pauses too)."""
    t = np.arange(16000) / 16000
    s = (0.1 * sum(np.sin(2 * np.pi * 150 * k * t + seed) / k for k in range(1, 40))).astype(np.float32)
    clean = np.concatenate([s, np.zeros(16000, np.float32), s])
    noise = (0.01 * np.random.default_rng(seed).standard_normal(len(clean))).astype(np.float32)
    return clean, clean + noise, noise


def test_pause_attenuation_is_what_the_output_removes_in_pauses_per_band():
    from chvoice_core.metrics import PAUSE_BANDS_HZ, pause_energies, pooled_pause_attenuation
    rows = []
    for seed, gain in ((0, 0.1), (1, 0.1)):
        clean, noisy, noise = _with_pause(seed)
        rows.append(pause_energies(clean + gain * noise, noisy, clean))    # the noise 20 dB lower everywhere
    assert rows[0]["pause_frames"] >= 55          # the second of silence: 61 frames of 512 at hop 256, less edges
    att = pooled_pause_attenuation(rows)
    assert len([k for k in att if k.startswith("pause_att_") and "min" not in k]) == len(PAUSE_BANDS_HZ)
    for k, v in att.items():
        assert v == pytest.approx(20.0, abs=0.01), k
    clean, noisy, _ = _with_pause(2)
    same = pooled_pause_attenuation([pause_energies(noisy, noisy, clean)])
    assert all(v == pytest.approx(0.0, abs=1e-9) for v in same.values())


def test_pause_attenuation_pools_energies_not_per_file_ratios():
    from chvoice_core.metrics import pause_energies, pooled_pause_attenuation
    clean, noisy, noise = _with_pause(0)
    loud = pause_energies(clean + 0.1 * noise, noisy, clean)          # 20 dB
    quiet_noisy = clean + 0.01 * noise
    quiet = pause_energies(clean + 0.01 * 0.5 * noise, quiet_noisy, clean)   # 6 dB, at 1 % of the energy
    v = pooled_pause_attenuation([loud, quiet])["pause_att_4-5k"]
    # pooled: (E + 0.01 E) / (0.01 E + 0.0025 * 0.01 E) -> 19.97 dB, where a mean of dB would give 13
    assert v == pytest.approx(10 * np.log10(1.0001 / (0.01 + 0.000025)), abs=0.01)


def test_pause_attenuation_bands_see_where_the_noise_is():
    from scipy import signal

    from chvoice_core.metrics import pause_energies, pooled_pause_attenuation
    clean, noisy, noise = _with_pause(3)
    high = signal.sosfiltfilt(signal.butter(8, 4000, "high", fs=16000, output="sos"), noise).astype(np.float32)
    out = clean + (noise - high) + 0.1 * high           # only the noise above 4 kHz taken down (by 20 dB)
    att = pooled_pause_attenuation([pause_energies(out, noisy, clean)])
    assert att["pause_att_0-0.5k"] < 0.5 and att["pause_att_1-2k"] < 0.5
    assert att["pause_att_6-7k"] > 18 and att["pause_att_min_1-8k"] < 0.5


def test_dnsmos_runs_speechmos_models_with_torchs_thread_count():
    """Same scores as speechmos's own sessions; its ONNX sessions take torch's thread count (one in a scorer worker)."""
    import os

    import speechmos.dnsmos as m
    import torch

    from chvoice_core.metrics import _dnsmos_model, dnsmos
    x = np.clip(speechlike(3.0, seed=1), -1, 1).astype(np.float32)
    folder = os.path.join(os.path.dirname(m.__file__), "dnsmos_models")
    ref = m.DNSMOS(os.path.join(folder, "sig_bak_ovr.onnx"), os.path.join(folder, "model_v8.onnx"))(x, 16000, False)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        got = dnsmos(x)
        misses = _dnsmos_model.cache_info().misses
        used = _dnsmos_model(1)                       # the model dnsmos() ran: no new entry is built for it
        assert _dnsmos_model.cache_info().misses == misses
        assert used.onnx_sess.get_session_options().intra_op_num_threads == 1
        assert used.p808_onnx_sess.get_session_options().intra_op_num_threads == 1
    finally:
        torch.set_num_threads(threads)
    for k in ("ovrl", "sig", "bak", "p808"):
        assert got[f"dnsmos_{k}"] == pytest.approx(float(ref[f"{k}_mos"]), abs=1e-5)
