import numpy as np
import pytest
import soundfile as sf

from chvoice_core.audio_io import read_audio, write_audio
from chvoice_core.errors import ChvoiceError


def test_read_mixes_down_and_resamples(tmp_path):
    t = np.arange(44100) / 44100
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 440 * t)], axis=1) * 0.5
    sf.write(tmp_path / "s.flac", stereo, 44100)
    x, sr = read_audio(tmp_path / "s.flac")
    assert sr == 44100 and x.ndim == 1 and len(x) == 16000
    spec = np.abs(np.fft.rfft(x))
    assert abs(np.argmax(spec) - 440) <= 1    # 1 Hz bins: the tone survives resampling


@pytest.mark.parametrize("ext", [".wav", ".flac", ".ogg", ".mp3"])
def test_write_formats(tmp_path, ext):
    x = (0.3 * np.sin(np.arange(16000) * 0.1)).astype(np.float32)
    write_audio(tmp_path / f"a{ext}", x)
    y, sr = read_audio(tmp_path / f"a{ext}")
    assert sr == 16000 and abs(len(y) - 16000) < 2000
    assert [p.name for p in tmp_path.iterdir()] == [f"a{ext}"]


def test_bad_audio_inputs(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("hello, not audio")
    (tmp_path / "x.txt").write_text("hello")
    sf.write(tmp_path / "zero.wav", np.zeros((0,)), 16000)
    sf.write(tmp_path / "silent.wav", np.zeros(1600), 16000)
    nan = np.full(1600, 0.1, np.float32)
    nan[5] = np.nan
    sf.write(tmp_path / "nan.wav", nan, 16000, subtype="FLOAT")
    inf = np.full(1600, 0.1, np.float32)
    inf[9] = np.inf
    sf.write(tmp_path / "inf.wav", inf, 16000, subtype="FLOAT")
    cases = {"missing.wav": "no such file", "empty.wav": "file is empty", "text.wav": "not a readable audio file",
             "x.txt": "unsupported extension", "zero.wav": "zero length", "silent.wav": "all silent",
             "nan.wav": "NaN or inf", "inf.wav": "NaN or inf"}
    for name, msg in cases.items():
        with pytest.raises(ChvoiceError, match=msg):
            read_audio(tmp_path / name)
