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


def _hard_noise_tool():
    import importlib.util
    spec = importlib.util.spec_from_file_location("hard_noise_weights", ROOT / "tools" / "hard_noise_weights.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_hard_noise_weights_favour_the_categories_a_model_passes():
    """tools/hard_noise_weights.py: the weight grows with the residual share in a category's worst band, is 1 for
    the median and easier ones (nothing drawn less often) and never over the cap."""
    import pandas as pd
    tool = _hard_noise_tool()
    table = pd.DataFrame({"att_min_1-8k": [30.0, 20.0, 20.0, 14.0, 2.0]}, index=list("abcde"))
    w = tool.weights_from_table(table, power=0.5, cap=4.0)
    assert w["a"] == w["b"] == w["c"] == 1.0
    assert w["d"] == pytest.approx(10 ** (6 / 20), abs=1e-3) and w["e"] == 4.0


@pytest.mark.realdata
def test_hard_noise_items_hold_only_training_material(shared_data):
    """The measuring mixtures take training noise clips under training-side studio speakers: the held-out
    noise recordings and studio speakers never; the clean part holds digital silence (the pauses measured)."""
    from chvoice_core.data.noise import NoiseBank
    from chvoice_core.data.studio import STUDIO_TEST_SPEAKERS, split_studio, studio_speech
    tool = _hard_noise_tool()
    data = load_data(DataConfig(data_root=str(shared_data)), broad=True)
    train_studio, _ = split_studio(studio_speech(shared_data))
    assert train_studio.speakers() and not set(train_studio.speakers()) & set(STUDIO_TEST_SPEAKERS)
    some = NoiseBank([c for cat in ("frog", "rooster") for c in data.train_noise.by_category[cat]], "some", ())
    items = list(tool.category_items(some, train_studio, 2, seed=7))
    assert len(items) == 2 * len(some.clips())
    test_ids = data.test_noise.ids()
    for cat, cid, noisy, clean in items:
        assert cid not in test_ids and cat in ("frog", "rooster")
        assert noisy.shape == clean.shape and np.abs(noisy).max() <= 0.99 + 1e-6
        assert not clean[:4000].any() and np.abs(noisy[:4000]).max() > 0   # a pause that holds noise alone
