import json

import numpy as np
import pytest

from chvoice_core.data import TestSetConfig, build_testset, get_profile, write_testset
from chvoice_core.errors import ChvoiceError


def test_testset_is_deterministic_and_recorded(builtin_data):
    cfg = TestSetConfig(n=12, seed=7)
    p = get_profile("equal")
    a = build_testset(builtin_data.test_speech, builtin_data.test_noise, p, cfg)
    b = build_testset(builtin_data.test_speech, builtin_data.test_noise, p, cfg)
    assert [i.record() for i in a] == [i.record() for i in b]
    assert all(np.array_equal(x.mixture.noisy, y.mixture.noisy) for x, y in zip(a, b))
    c = build_testset(builtin_data.test_speech, builtin_data.test_noise, p, TestSetConfig(n=12, seed=8))
    assert [i.record() for i in a] != [i.record() for i in c]
    r = a[0].record()
    assert set(r) >= {"id", "utterance", "profile", "kind", "categories", "noise_ids", "snr_db"}
    assert r["profile"] == "equal" and r["id"].startswith("equal-0000-")
    test_speakers = set(builtin_data.test_speech.speakers())
    assert all(i.utterance.split("-")[0] in test_speakers for i in a)
    assert all(len(i.mixture.noisy) <= 4 * 16000 for i in a)
    assert all(i.mixture.kind != "none" for i in a)


def test_write_testset_folders(builtin_data, tmp_path):
    items = build_testset(builtin_data.test_speech, builtin_data.test_noise, get_profile("weighted"),
                          TestSetConfig(n=4))
    out = write_testset(items, tmp_path / "ts")
    names = sorted(p.name for p in (out / "noisy").iterdir())
    assert names == sorted(p.name for p in (out / "clean").iterdir()) and len(names) == 4
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(m["id"] + ".wav" for m in manifest) == names
    assert (out / "manifest.csv").read_text().startswith("id,utterance,speaker,profile")
    with pytest.raises(ChvoiceError, match="not empty"):
        write_testset(items, out)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]   # no temp folder left behind
