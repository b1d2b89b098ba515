import numpy as np
import pytest

from chvoice_core.audio_io import write_audio
from chvoice_core.data.noise import (CATEGORIES, EXTRA_SYNTH_CATEGORIES, RevEchoConfig, add_revecho, category_folders,
                                     esc50, noise_bank_from_path, report_noise_folders, revecho_ir)
from chvoice_core.data.synthnoise import babble_clips, synth_noise, synthetic_noise_bank
from chvoice_core.errors import ChvoiceError


def test_revecho_echoes_decay_at_the_rt60_rate():
    rng = np.random.default_rng(0)
    cfg = RevEchoConfig(repeat=1, jitter=0.0)
    d, rt60 = 0.02, 0.5
    ir = revecho_ir(rng, cfg, initial=0.2, first_delay=d, rt60=rt60)
    taps = np.flatnonzero(ir)
    step = 1 + int(d * 16000)
    assert np.all(np.diff(taps) == step)
    amps = ir[taps]
    assert amps[0] == pytest.approx(0.2)
    # amplitude falls 60 dB per rt60: a_k = 0.2 * 10 ** (-3 k d / rt60)
    k = np.arange(len(amps))
    assert np.allclose(amps, 0.2 * 10 ** (-3 * k * d / rt60))
    # echoes continue while they are above -60 dB (1e-3) relative to the first; the next would not be
    assert amps[-1] / amps[0] > 1e-3 and amps[-1] / amps[0] * 10 ** (-3 * d / rt60) <= 1e-3


def test_revecho_energy_envelope_decays_and_longer_rt60_rings_longer():
    x = np.zeros(32000, np.float32)
    x[0] = 1.0
    tails = []
    for rt60 in (0.2, 0.8):
        ir = revecho_ir(np.random.default_rng(1), RevEchoConfig(), 0.2, 0.015, rt60)
        energy = [np.sum(ir[i:i + 1600] ** 2) for i in range(0, 8000, 1600)]
        assert all(a >= b for a, b in zip(energy, energy[1:]))
        tails.append(len(ir))
    assert tails[1] > 3 * tails[0]
    y, params = add_revecho(x, np.random.default_rng(2))
    assert len(y) == len(x) and set(params) == {"initial", "first_delay", "rt60"}
    assert 0.1 <= params["rt60"] <= 1.0 and 0.01 <= params["first_delay"] <= 0.03


def test_synthetic_noise_is_deterministic_and_distinct():
    a = synth_noise("keyboard", np.random.default_rng(3))
    b = synth_noise("keyboard", np.random.default_rng(3))
    assert np.array_equal(a, b) and len(a) == 80000 and np.abs(a).max() == pytest.approx(0.5)
    wind = synth_noise("wind", np.random.default_rng(3))
    # wind is low-passed, keyboard bursts are band-passed high: compare spectral centroids
    def centroid(x):
        s = np.abs(np.fft.rfft(x))
        f = np.fft.rfftfreq(len(x), 1 / 16000)
        return (s * f).sum() / s.sum()
    assert centroid(wind) < 1500 < centroid(a)
    bank = synthetic_noise_bank(clips_per_category=3)
    assert all(len(bank.by_category[c]) == 3 for c in CATEGORIES)
    with pytest.raises(ChvoiceError, match="unknown noise category"):
        synth_noise("trumpet", np.random.default_rng(0))


@pytest.mark.realdata
def test_esc50_and_report_folders_on_real_files(shared_data):
    e = esc50(shared_data / "ESC-50")
    assert {c: len(v) for c, v in e.by_category.items()} == {
        "keyboard": 9, "coughing": 8, "clock-tick": 8, "click": 8, "wind": 10}
    clip = e.by_category["wind"][0]
    assert clip.audio.dtype == np.float32 and len(clip.audio) == 80000   # 5 s resampled 44.1 -> 16 kHz
    r = report_noise_folders(shared_data / "chvoice-noises")
    assert sum(len(v) for v in r.by_category.values()) == 163
    assert noise_bank_from_path(shared_data / "ESC-50").name.startswith("esc50")
    train = r.without(e.ids(), "train")
    assert not (train.ids() & e.ids())


def test_noise_folder_errors(tmp_path):
    with pytest.raises(ChvoiceError, match="not a noise folder"):
        noise_bank_from_path(tmp_path)
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "esc50.csv").write_text("filename,fold,target,category,esc10,src_file,take\n")
    with pytest.raises(ChvoiceError, match="no noise clips"):
        esc50(tmp_path)


def test_category_folders_split_by_recording(tmp_path):
    """Any <category>/*.wav folder; clips of one source recording (NOISE_META.csv) stay on one side."""
    rows = ["local_path,source,category,fold,source_recording_id"]
    rng = np.random.default_rng(0)
    for cat, recs in (("rain", ["r1", "r1", "r2", "r3", "r4"]), ("hum", ["h1", "h1"])):
        for i, rec in enumerate(recs):
            write_audio(tmp_path / cat / f"{rec}-{i}.wav", (0.1 * rng.standard_normal(8000)).astype(np.float32))
            rows.append(f"x/{cat}/{rec}-{i}.wav,test,{cat},1,{rec}")
    (tmp_path / "NOISE_META.csv").write_text("\n".join(rows) + "\n")
    bank = noise_bank_from_path(tmp_path)
    assert bank.categories == ("hum", "rain") and len(bank.clips()) == 7
    assert bank.by_category["rain"][0].recording == "rain/r1"
    train, test = bank.split(0.25)
    rec = lambda b: {c.recording for c in b.clips()}
    assert not rec(train) & rec(test)                        # no recording on both sides
    assert len(train.by_category["hum"]) == 2 and "hum" not in test.categories   # one recording: training only
    assert {c.recording for c in test.by_category["rain"]} == {"rain/r4"}
    (tmp_path / "empty").mkdir()
    with pytest.raises(ChvoiceError, match="no <category>/ folders"):
        category_folders(tmp_path / "empty")


def test_extra_synthetic_categories_are_distinct_and_deterministic():
    def centroid(x):
        s = np.abs(np.fft.rfft(x))
        return (s * np.fft.rfftfreq(len(x), 1 / 16000)).sum() / s.sum()
    hum = synth_noise("hum", np.random.default_rng(1))
    assert np.array_equal(hum, synth_noise("hum", np.random.default_rng(1)))
    spec = np.abs(np.fft.rfft(hum))
    f = np.fft.rfftfreq(len(hum), 1 / 16000)
    assert 45 <= f[np.argmax(spec)] <= 61 * 30                 # energy at a mains harmonic
    assert centroid(synth_noise("hvac", np.random.default_rng(2))) < 3000
    for cat in EXTRA_SYNTH_CATEGORIES:
        x = synth_noise(cat, np.random.default_rng(5))
        assert x.dtype == np.float32 and np.isfinite(x).all() and abs(np.abs(x).max() - 0.5) < 1e-3
    # adding categories leaves the report's five untouched
    a, b = synthetic_noise_bank(2), synthetic_noise_bank(2, extra=EXTRA_SYNTH_CATEGORIES)
    for c in CATEGORIES:
        assert all(np.array_equal(x.audio, y.audio) for x, y in zip(a.by_category[c], b.by_category[c]))
    assert set(b.categories) == set(CATEGORIES) | set(EXTRA_SYNTH_CATEGORIES)


def test_babble_sums_several_talkers():
    talkers = [np.sin(np.arange(30000) * f).astype(np.float32) * 0.1 for f in (0.01, 0.02, 0.03, 0.05)]
    clips = babble_clips(talkers, 3, seed=0, prefix="t")
    assert [c.category for c in clips] == ["babble"] * 3 and len(clips[0].audio) == 80000
    peaks = np.abs(np.fft.rfft(clips[0].audio))
    assert (peaks > 0.2 * peaks.max()).sum() >= 2     # more than one talker's tone


@pytest.mark.realdata
def test_noise_categories_and_all_esc50_categories_on_real_files(shared_data):
    bank = category_folders(shared_data / "noise-categories")
    assert len(bank.categories) == 57 and len(bank.clips()) == 515
    train, test = bank.split(0.2)
    assert not ({c.recording for c in train.clips()} & {c.recording for c in test.clips()})
    assert len(test.categories) >= 50
    e = esc50(shared_data / "ESC-50", "all")
    assert set(e.categories) == set(CATEGORIES)      # this partial copy holds the report's five only
    only = esc50(shared_data / "ESC-50", ("wind",))
    assert only.categories == ("wind",)
    with pytest.raises(ChvoiceError, match="no ESC-50 clips for dog"):
        esc50(shared_data / "ESC-50", ("dog",))
