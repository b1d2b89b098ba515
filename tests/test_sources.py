import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from chvoice_core.data import DataConfig, load_data

ROOT = Path(__file__).resolve().parents[1]


def _tone(seconds: float, f: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.2 * np.sin(2 * np.pi * f * t) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def test_train_only_holds_nothing_out(tmp_path):
    for i, spk in enumerate(["a", "b", "c", "d"]):
        (tmp_path / "speech" / spk).mkdir(parents=True)
        sf.write(tmp_path / "speech" / spk / f"{spk}1.flac", _tone(3, 120 + 20 * i, i), 16000)
    for cat in ["hum", "hiss"]:
        (tmp_path / "noise" / cat).mkdir(parents=True)
        for j in range(3):
            sf.write(tmp_path / "noise" / cat / f"{cat}{j}.ogg", _tone(2, 50 + j, 10 + j), 16000,
                     format="OGG", subtype="VORBIS")
    cfg = dict(speech=str(tmp_path / "speech"), noise=str(tmp_path / "noise"), cache_dir=str(tmp_path / "cache"))
    held = load_data(DataConfig(**cfg), broad=True)
    assert len(held.train_speech.speakers()) < 4 and len(held.train_noise.clips()) < 6 + 32
    d = load_data(DataConfig(**cfg, train_only=True), broad=True)
    assert d.train_speech.speakers() == ["a", "b", "c", "d"]
    cats = {c.category for c in d.train_noise.clips()}
    assert cats == {"hum", "hiss", "babble"}
    assert sum(c.category != "babble" for c in d.train_noise.clips()) == 6
    assert d.label.endswith("[train-only]")


@pytest.mark.slow
@pytest.mark.realdata
def test_training_pack_holds_only_training_material(shared_data, tmp_path):
    """tools/pack_training_data.py on the real data: no test or validation speaker and no held-out noise
    recording goes in, and `--train-only` reads the pack back."""
    out = tmp_path / "pack"
    subprocess.run([sys.executable, str(ROOT / "tools" / "pack_training_data.py"), "--data-root", str(shared_data),
                    "--out", str(out), "--speech-seconds", "2", "--studio"], check=True, cwd=ROOT, capture_output=True)
    info = json.loads((out / "PACK.json").read_text())
    full = load_data(DataConfig(data_root=str(shared_data)), broad=True)
    packed = {p.name for p in (out / "speech").iterdir()}
    assert packed and not packed & set(full.test_speech.speakers())
    assert not packed & set(info["left_out_validation_speakers"])
    from chvoice_core.data.studio import STUDIO_TEST_SPEAKERS, split_studio, studio_speech
    studio_train = {re.sub(r"[^A-Za-z0-9._-]+", "_", s) for s in split_studio(studio_speech(shared_data))[0].speakers()}
    assert studio_train and studio_train <= packed       # --studio: the training-side studio speakers go in ...
    assert not packed & {re.sub(r"[^A-Za-z0-9._-]+", "_", s) for s in STUDIO_TEST_SPEAKERS}   # ... never the held-out
    assert len(packed - studio_train) + len(info["left_out_validation_speakers"]) == len(full.train_speech.speakers())
    train_ids = {c.id.split("/")[-1] for c in full.train_noise.clips()}
    test_ids = {c.id.split("/")[-1] for c in full.test_noise.clips()}
    files = {f.stem for f in (out / "noise").rglob("*.ogg")}
    assert files and files <= train_ids and not files & test_ids
    d = load_data(DataConfig(speech=str(out / "speech"), noise=str(out / "noise"), train_only=True), broad=True)
    assert set(d.train_speech.speakers()) == packed
