"""No test item shares a speaker or a noise source recording with what a shipped model trained on, checked where
the numbers are made: against the training manifests in the package (chvoice_core/assets/manifests/, written by
tools/build_manifests.py), on a fresh clone, without ../shared."""
from __future__ import annotations


import numpy as np
import soundfile as sf

from chvoice_core.data import DataConfig, load_data
from chvoice_core.data.manifest import MANIFESTS, Manifest, leaks, load_manifests, read_items, shipped_manifests, source_key
from chvoice_core.data.realset import REALSET_DIR
from chvoice_core.pretrained import assets_dir


def _index() -> dict[str, str]:
    return shipped_manifests()


def test_source_keys_join_clips_of_one_recording_across_datasets():
    assert source_key("clock_alarm/4-209698-A-37") == source_key("5-209698-A-38") == "freesound:209698"
    assert source_key("drilling/99192-4-0-0") == "freesound:99192"              # UrbanSound8K
    assert source_key("test-babble-005") == "test-babble-005" and source_key("hum-3") == "hum-3"


def test_every_shipped_model_has_a_manifest():
    index = _index()
    shipped = {p.relative_to(assets_dir()).as_posix() for p in assets_dir().rglob("*.pt")}
    assert shipped == set(index), shipped ^ set(index)
    for name in set(index.values()):
        m = Manifest.load(MANIFESTS / f"{name}.json")
        assert m.name == name
    general = Manifest.load(MANIFESTS / "general.json")
    assert len(general.speakers) > 100 and len(general.noise_sources) > 100


def test_testsets_real_shares_nothing_with_any_shipped_model():
    items = read_items(REALSET_DIR / "items.csv")
    assert len(items) > 100
    found = [line for m in load_manifests(_index().values()) for line in leaks(m, items)]
    assert found == []


def test_a_planted_overlap_is_found():
    items = read_items(REALSET_DIR / "items.csv")
    m = Manifest.load(MANIFESTS / "general+studio.json")
    it = next(i for i in items if any(source_key(n).startswith("freesound:") for n in i["noise_ids"].split(";")))
    key = next(source_key(n) for n in it["noise_ids"].split(";") if source_key(n).startswith("freesound:"))
    planted = Manifest("planted", m.speakers, m.noise_sources | {key})
    assert any(line.startswith(it["id"]) and key in line for line in leaks(planted, items))
    by_speaker = Manifest("planted", m.speakers | {items[0]["speaker"]}, m.noise_sources)
    assert any(line.startswith(items[0]["id"]) and "speaker" in line for line in leaks(by_speaker, items))


def _clip(path, seed):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.random.default_rng(seed).standard_normal(8000).astype(np.float32) * 0.1, 16000)


def test_training_noise_never_shares_a_source_recording_with_test_noise(tmp_path, cache_dir):
    """ESC-50 is the test noise beside the report's clips: a training clip cut from the same Freesound upload as an
    ESC-50 test clip (another take, another fold) is kept out of training; kept in with shared_sources='keep'."""
    root = tmp_path / "data"
    for i, folder in enumerate(("keyboard-mono", "coughing-mono", "clock-tick-mono", "click-mono", "wind-mono")):
        for j in range(3):
            _clip(root / "chvoice-noises" / folder / f"1-{1000 + 10 * i + j}-A-{i}.wav", 10 * i + j)
    _clip(root / "chvoice-noises" / "clock-tick-mono" / "5-209698-A-38.wav", 99)
    esc = root / "ESC-50"
    rows = ["filename,fold,target,category,esc10,src_file,take"]
    for i, (cat, src) in enumerate((("keyboard_typing", 7001), ("coughing", 7002), ("clock_tick", 209698),
                                    ("mouse_click", 7004), ("wind", 7005))):
        name = f"4-{src}-A-{i}.wav"
        _clip(esc / "audio" / name, 200 + i)
        rows.append(f"{name},4,{i},{cat},False,{src},A")
    (esc / "meta").mkdir(parents=True)
    (esc / "meta" / "esc50.csv").write_text("\n".join(rows) + "\n")
    kept = load_data(DataConfig(data_root=str(root), cache_dir=str(cache_dir), shared_sources="keep"))
    clean = load_data(DataConfig(data_root=str(root), cache_dir=str(cache_dir)))
    assert "5-209698-A-38" in kept.train_noise.ids() and "5-209698-A-38" not in clean.train_noise.ids()
    tested = {source_key(i) for i in clean.test_noise.ids()}
    assert not tested & {source_key(i) for i in clean.train_noise.ids()}
    assert kept.train_noise.ids() - clean.train_noise.ids() == {"5-209698-A-38"}
