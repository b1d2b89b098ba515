import hashlib

import numpy as np
import pytest
import soundfile as sf

from chvoice_core.data.speech import (SyntheticSpeechConfig, audio_folder, download_librispeech, librispeech,
                                      synthetic_speech)
from chvoice_core.errors import ChvoiceError

BREATHY = SyntheticSpeechConfig(n_speakers=10, utterances_per_speaker=1)   # speakers 8 and 9: voices f2, f3


def _digest(corpus):
    h = hashlib.sha256()
    for u in corpus.utterances:
        h.update(u.id.encode())
        h.update(corpus.audio(u).tobytes())
    return h.hexdigest()


@pytest.mark.slow
def test_builtin_speech_is_deterministic(tmp_path):
    """Two generations (each in a fresh process) give the same audio, breathy voices included: eSpeak seeds
    their noise from the clock unless told otherwise (6 of 48 built-in speakers differed between runs)."""
    a = synthetic_speech(tmp_path / "a", BREATHY)
    b = synthetic_speech(tmp_path / "b", BREATHY)
    assert len(a) == 10 and len(a.speakers()) == 10
    assert _digest(a) == _digest(b)
    x = a.audio(a.utterances[0])
    assert x.dtype == np.float32 and 0.5 < len(x) / 16000 < 15 and np.abs(x).max() == pytest.approx(0.9, abs=1e-3)


def test_builtin_corpus_split_is_by_speaker(builtin_data):
    tr, te = builtin_data.train_speech, builtin_data.test_speech
    assert not set(tr.speakers()) & set(te.speakers())
    assert len(te.speakers()) >= 5 and len(tr) > 5 * len(te.speakers())


@pytest.mark.realdata
def test_librispeech_layout_on_real_files(shared_data):
    c = librispeech(shared_data)
    # 251 train-clean-100 speakers (one utterance each) + test-other: 10 speakers x 10 utterances
    assert len(c) == 351 and len(c.speakers()) == 261
    assert c.utterances[0].id.count("-") == 2
    x = c.audio(c.utterances[0])
    assert x.dtype == np.float32 and len(x) > 16000
    other = {u.speaker for u in c.utterances if "test-other" in u.path}
    assert len(other) == 10
    tr, te = c.split_speakers(0.15, test_only=other)
    assert not set(tr.speakers()) & set(te.speakers()) and other <= set(te.speakers())
    assert len(te.speakers()) == 10 + round(251 * 0.15)
    assert len(librispeech(shared_data, ["train-clean-100"]).speakers()) == 251
    with pytest.raises(ChvoiceError, match="no LibriSpeech subset 'test-clean'"):
        librispeech(shared_data, ["test-clean"])


def test_audio_folder_and_layout_errors(tmp_path):
    for spk in ("alice", "bob"):
        (tmp_path / spk).mkdir()
        sf.write(tmp_path / spk / "u1.wav", np.random.default_rng(0).standard_normal(8000) * 0.1, 16000)
    c = audio_folder(tmp_path)
    assert c.speakers() == ["alice", "bob"] and len(c) == 2
    with pytest.raises(ChvoiceError, match="not a LibriSpeech folder"):
        librispeech(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ChvoiceError, match="no audio files"):
        audio_folder(tmp_path / "empty")
    with pytest.raises(ChvoiceError, match="no such folder"):
        audio_folder(tmp_path / "missing")


def test_download_fails_clearly_offline(tmp_path):
    # a closed local port stands in for "no network": the error must be one clear ChvoiceError
    with pytest.raises(ChvoiceError, match="could not download LibriSpeech dev-clean"):
        download_librispeech(tmp_path, "dev-clean", timeout=5, url="http://127.0.0.1:9/dev-clean.tar.gz")
    assert not (tmp_path / "LibriSpeech").exists()
