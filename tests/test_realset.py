"""The compact real test set shipped in the repository (testsets/real)."""
import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from chvoice_core.data.realset import REALSET_DIR, load_realset, realset_sources


def test_shipped_set_is_what_it_says():
    items = load_realset()
    assert len(items) >= 120 and len({it.speaker for it in items}) >= 24
    studio = [it for it in items if it.profile == "real-studio"]
    assert len(studio) >= len(items) / 3
    kinds = {it.mixture.kind for it in items}
    assert {"environmental", "floor"} <= kinds
    assert sum("rt60" in it.mixture.params for it in items) >= 10                     # some in simulated rooms
    for it in items:
        m = it.mixture
        assert m.noisy.dtype == np.float32 and len(m.noisy) == len(m.clean) > 16000
        if m.kind == "floor":
            assert m.snr_db > 20
        elif "rt60" not in m.params:               # in a room the late tail counts as noise, lowering the SNR
            assert -0.5 <= m.snr_db <= 15.5
    audio = [f for f in REALSET_DIR.rglob("*") if f.suffix in (".flac", ".wav")]
    assert all(f.suffix == ".flac" for f in audio) and sum(f.stat().st_size for f in audio) <= 15 * 2 ** 20
    # every file is attributed
    text = (REALSET_DIR / "ATTRIBUTION.md").read_text()
    assert all(it.id in text for it in items) and "CC BY-NC" in text
    with open(REALSET_DIR / "items.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["clean_file"] for r in rows} | {r["noise_file"] for r in rows} == \
        {f.relative_to(REALSET_DIR).as_posix() for f in audio}


def test_missing_set_is_one_clear_error(tmp_path):
    from chvoice_core.errors import ChvoiceError
    with pytest.raises(ChvoiceError, match="no real test set"):
        load_realset(tmp_path)


@pytest.mark.realdata
def test_shipped_set_never_meets_training_material(shared_data):
    from chvoice_core.data import DataConfig, load_data
    from chvoice_core.data.studio import split_studio, studio_speech, with_studio_speech
    data = load_data(DataConfig(data_root=str(shared_data)), broad=True)
    used = realset_sources()
    trained = with_studio_speech(data.train_speech, shared_data)       # the widest training speech there is
    assert not used["speakers"] & set(trained.speakers())
    assert not used["utterances"] & {u.id for u in trained.utterances}
    assert not used["noise_ids"] & data.train_noise.ids()
    # nor any recording a training clip was cut from (clips of one freesound recording share its id)
    with open(shared_data / "noise-categories" / "NOISE_META.csv", newline="") as f:
        recording = {Path(r["local_path"]).stem: r["source_recording_id"] for r in csv.DictReader(f)}
    rec = lambda ids: {recording[i.split("/")[-1]] for i in ids if i.split("/")[-1] in recording}
    assert not rec(used["noise_ids"]) & rec(data.train_noise.ids())
    assert used["speakers"] & set(split_studio(studio_speech(shared_data))[1].speakers())


@pytest.mark.realdata
@pytest.mark.slow
def test_shipped_set_rebuilds_identically(shared_data, tmp_path):
    from chvoice_core.data.manifest import load_manifests, shipped_manifests
    from chvoice_core.data.realset import build_realset
    out = build_realset(shared_data, tmp_path / "real", exclude=load_manifests(shipped_manifests().values()))
    assert (out / "items.csv").read_text() == (REALSET_DIR / "items.csv").read_text()
    for f in sorted((REALSET_DIR / "noise").iterdir())[::10]:
        assert np.array_equal(sf.read(f)[0], sf.read(out / "noise" / f.name)[0])
