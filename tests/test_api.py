"""The public API (chvoice_core.api, re-exported by the package) as the README shows it."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

import chvoice as cv
import chvoice_core
from chvoice_core.audio_io import resample
from chvoice_core.data.realset import load_realset
from chvoice_core.errors import ChvoiceError
from chvoice_core.metrics import si_sdr


@pytest.fixture(scope="module")
def items():
    return load_realset()[:3]


def test_readme_example_denoises_real_speech_at_any_rate(items):
    d = chvoice_core.load()            # the README's `import chvoice_core as cv; d = cv.load()`
    assert isinstance(d, cv.Denoiser) and d.name == "default"
    it = items[0]
    x16, clean = it.mixture.noisy, it.mixture.clean
    y = d.enhance(x16, 16000)
    assert y.shape == x16.shape and y.dtype == np.float32
    assert si_sdr(y, clean) > si_sdr(x16, clean) + 1.0
    x44 = resample(x16, 16000, 44100)
    stereo = np.stack([x44, 0.5 * x44])
    y44 = d.enhance(stereo, 44100)
    assert y44.shape == stereo.shape
    back = resample(y44[0], 44100, 16000)[: len(clean)]
    assert si_sdr(back, clean[: len(back)]) > si_sdr(x16, clean) + 1.0


def test_enhance_refuses_bad_audio_with_one_clear_error():
    d = cv.load()
    with pytest.raises(ChvoiceError, match="NaN"):
        d.enhance(np.array([0.0, np.nan] * 1000, np.float32), 16000)
    with pytest.raises(ChvoiceError, match="shape"):
        d.enhance(np.zeros((2, 3, 4), np.float32), 16000)
    with pytest.raises(ChvoiceError, match="no such model file or shipped model"):
        cv.load("no-such-model")


def test_stream_session_of_the_live_model_equals_its_offline_output(items):
    d = cv.load("live")
    x = items[1].mixture.noisy
    s = d.stream()
    assert s.algorithmic_latency_ms <= 32
    assert np.abs(s.run(x, 333) - d(x)).max() <= 1e-4      # blocks of any size: the offline samples


def test_evaluate_scores_paired_folders(tmp_path, items):
    (tmp_path / "n").mkdir()
    (tmp_path / "c").mkdir()
    for it in items[:2]:
        sf.write(tmp_path / "n" / f"{it.id}.wav", it.mixture.noisy, 16000)
        sf.write(tmp_path / "c" / f"{it.id}.flac", it.mixture.clean, 16000)
    noisy = cv.evaluate(None, tmp_path / "n", tmp_path / "c", perceptual=False)
    den = cv.evaluate(cv.load(), tmp_path / "n", tmp_path / "c", perceptual=False)
    assert list(den.id) == sorted(it.id for it in items[:2])
    assert (den.si_sdr.to_numpy() > noisy.si_sdr.to_numpy()).all()
    with pytest.raises(ChvoiceError, match="do not pair up"):
        (tmp_path / "c" / f"{items[0].id}.flac").unlink()
        cv.evaluate(None, tmp_path / "n", tmp_path / "c")


def test_shipped_children_of_the_live_model_still_stream(items):
    """The live parent's children are causal too: a stream session gives the offline samples. An int8 child gives
    them up to rounding: a float difference of 1e-7 between the streamed and the offline path can flip one int8
    level, and the flip carries on (the live model's own static int8: -44 to -131 dB on real items)."""
    from chvoice_core.compress.real import shipped_children
    kids = [c for c in shipped_children() if c.parent == "live"]
    assert len(kids) >= 2
    x = items[1].mixture.noisy
    for c in kids:
        d = cv.load(c.id)
        s = d.stream()
        assert s.algorithmic_latency_ms <= 32, c.id
        streamed, offline = s.run(x, 333), d(x)
        if c.id.endswith("-int8"):
            err = 10 * np.log10(np.sum((streamed - offline) ** 2) / np.sum(offline ** 2) + 1e-20)
            assert err < -40, (c.id, err)
        else:
            assert np.abs(streamed - offline).max() <= 1e-4, c.id
