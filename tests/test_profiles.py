import collections

import numpy as np
import pytest

import hashlib

from chvoice_core.data import PROFILES, get_profile, mix
from chvoice_core.data.mixing import draw_kind
from chvoice_core.data.noise import EXTRA_SYNTH_CATEGORIES
from chvoice_core.data.synthnoise import synthetic_noise_bank
from chvoice_core.data.profiles import REPORT_PROFILES
from chvoice_core.data.rooms import RoomConfig, simulate_rooms
from chvoice_core.errors import ChvoiceError

BANK = synthetic_noise_bank(clips_per_category=2)


def test_profiles_are_the_reports():
    w, e, n = PROFILES["weighted"], PROFILES["equal"], PROFILES["no-reverb"]
    assert w.category_probs == {"keyboard": 0.4, "coughing": 0.1, "clock-tick": 0.1, "click": 0.2, "wind": 0.2}
    assert set(e.category_probs.values()) == {0.2}
    assert n.p_reverb == 0 and n.category_probs == w.category_probs
    assert w.gains == {"keyboard": 0.3, "coughing": 0.1, "clock-tick": 0.3, "click": 0.3, "wind": 0.1}
    with pytest.raises(ChvoiceError, match="unknown noise profile"):
        get_profile("loud")


@pytest.mark.parametrize("name", list(PROFILES))
def test_kind_draws_match_profile_probabilities(name):
    p = PROFILES[name]
    rng = np.random.default_rng(0)
    n = 20000
    counts = collections.Counter(draw_kind(p, rng) for _ in range(n))
    for kind, prob in p.kind_probs().items():
        se = np.sqrt(prob * (1 - prob) / n)
        assert abs(counts[kind] / n - prob) < 4 * se + 1e-9, (kind, counts[kind] / n, prob)


@pytest.mark.parametrize("name", REPORT_PROFILES)
def test_category_draws_and_snr(name):
    p = PROFILES[name]
    rng = np.random.default_rng(1)
    clean = (0.1 * np.sin(np.arange(8000) * 0.05)).astype(np.float32)
    cats = collections.Counter()
    snrs, n_env = [], 0
    for _ in range(1500):
        m = mix(clean, p, BANK, rng, include_none=False)
        assert m.kind != "none"
        if m.kind == "environmental":
            n_env += 1
            assert 1 <= len(m.categories) <= 3
            cats.update(m.categories)
        if m.kind in ("environmental", "static"):
            snrs.append(m.snr_db)
    total = sum(cats.values())
    for c, prob in p.category_probs.items():
        assert abs(cats[c] / total - prob) < 0.04, (c, cats[c] / total, prob)
    snrs = np.array(snrs)
    lo, hi = p.snr_db
    assert snrs.min() >= lo - 0.01 and snrs.max() <= hi + 0.01
    assert abs(snrs.mean() - (lo + hi) / 2) < 0.5     # uniform over the range
    expected_env = p.kind_probs(include_none=False)["environmental"]
    assert abs(n_env / 1500 - expected_env) < 0.04
    if p.p_reverb == 0:
        rng2 = np.random.default_rng(5)
        assert all(mix(clean, p, BANK, rng2).kind != "reverb" for _ in range(300))


def test_report_profiles_draw_exactly_as_before():
    """The report's three profiles must not change when broader profiles gain augmentations: this digest of 180
    mixtures was computed with the code before `general` existed (commit 9696665)."""
    bank = synthetic_noise_bank(clips_per_category=3)
    h = hashlib.sha256()
    for name in ("weighted", "equal", "no-reverb"):
        rng = np.random.default_rng(42)
        for i in range(60):
            clean = (0.1 * np.sin(np.arange(8000) * (0.01 + 0.001 * i))).astype(np.float32)
            m = mix(clean, PROFILES[name], bank, rng)
            h.update(m.noisy.tobytes())
            h.update(m.clean.tobytes())
            h.update(repr(m.record()).encode())
    assert h.hexdigest() == "ce6c5811a35e59e126f896e5b99989602e48885c8ead6216c03ed18c88a4a95a"


def test_general_profile_draws_every_category_rooms_levels_and_snrs():
    p = get_profile("general")
    assert p.category_probs is None and p.snr_db == (-5.0, 20.0)
    bank = synthetic_noise_bank(clips_per_category=2, extra=EXTRA_SYNTH_CATEGORIES)
    rooms = simulate_rooms(RoomConfig(n_rooms=4))
    rng = np.random.default_rng(3)
    speech = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.05
    cats, n_room, peaks, snrs = collections.Counter(), 0, [], []
    for _ in range(600):
        m = mix(speech, p, bank, rng, include_none=False, rooms=rooms)
        cats.update(m.categories)
        peaks.append(np.abs(m.noisy).max())
        assert np.abs(m.noisy).max() <= 0.99 + 1e-6
        if "rt60" in m.params:
            n_room += 1
            # the target keeps the direct path and early reflections only: it differs from the dry speech
            assert not np.allclose(m.clean, speech * (m.clean.std() / speech.std()), atol=1e-3)
        if m.kind in ("environmental", "static"):
            snrs.append(m.snr_db)
    assert set(cats) == set(bank.categories)                       # uniform over all 9 built-in categories
    assert max(cats.values()) / min(cats.values()) < 1.6
    assert 0.2 < n_room / 600 < 0.4                                  # p_room 0.3
    assert np.percentile(peaks, 90) / np.percentile(peaks, 10) > 5   # random level over 30 dB
    with pytest.raises(ValueError, match="rooms"):
        for _ in range(50):
            mix(speech, p, bank, rng)


def test_category_weights_draw_a_category_that_much_more_often(tmp_path):
    """Hard negatives (chvoice train --noise-weights): a category weighed 4 is drawn about 4x as often as the
    others, which stay equally likely; bad files and names are one clear error."""
    import dataclasses
    import json
    from chvoice_core.data.profiles import load_category_weights
    bank = synthetic_noise_bank(clips_per_category=1, extra=EXTRA_SYNTH_CATEGORIES)
    f = tmp_path / "w.json"
    f.write_text(json.dumps({"hum": 4}))
    p = dataclasses.replace(get_profile("general"), p_room=0.0, category_weights=load_category_weights(f, bank.categories))
    probs = p.probs_for(bank.categories)
    assert probs["hum"] == pytest.approx(4 * probs["wind"]) and sum(probs.values()) == pytest.approx(1)
    rng = np.random.default_rng(1)
    speech = np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.05
    cats = collections.Counter()
    for _ in range(800):
        cats.update(mix(speech, p, bank, rng, include_none=False).categories)
    others = [v for c, v in cats.items() if c != "hum"]
    assert 3.0 < cats["hum"] / np.mean(others) < 5.2
    assert get_profile("general").probs_for(bank.categories)["hum"] == pytest.approx(1 / len(bank.categories))
    for text, msg in (('{"thunder": 2}', "lacks: thunder"), ('{"hum": 0}', "weight > 0"), ("[1]", "weight > 0"),
                      ("{", "not JSON")):
        f.write_text(text)
        with pytest.raises(ChvoiceError, match=msg):
            load_category_weights(f, bank.categories)
    with pytest.raises(ChvoiceError, match="No such file"):
        load_category_weights(tmp_path / "none.json", bank.categories)
    with pytest.raises(ValueError, match="every category"):
        dataclasses.replace(get_profile("weighted"), category_weights=(("wind", 2.0),))


@pytest.mark.parametrize("factor", [0.8, 1.25])
def test_noise_warp_moves_a_tone_by_its_factor_without_aliasing(factor):
    """A warped 1 kHz (and 7.5 kHz) tone comes out at factor x its frequency; at x1.25 the 7.5 kHz tone would
    fold back to 6.6 kHz if it aliased: it must instead be filtered out (9.4 kHz is above Nyquist)."""
    from chvoice_core.data.mixing import NoiseWarp, warp_segment
    sr, n = 16000, 16129
    t = np.arange(3 * sr) / sr
    rng = np.random.default_rng(0)
    for f0 in (1000.0, 7500.0):
        y = warp_segment(np.sin(2 * np.pi * f0 * t).astype(np.float32), n, rng, NoiseWarp(1.0, factor, factor))
        assert y.shape == (n,) and y.dtype == np.float32 and np.all(np.isfinite(y))
        spec = np.abs(np.fft.rfft(y * np.hanning(n)))
        freqs = np.fft.rfftfreq(n, 1 / sr)
        if f0 * factor < sr / 2:
            assert abs(freqs[spec.argmax()] - f0 * factor) < 5
        else:
            assert np.sqrt(np.mean(y[500:-500] ** 2)) < 0.01 * np.sqrt(0.5)   # -40 dB: filtered, not folded


@pytest.mark.parametrize("aug", ["warp", "eq", "speech"])
def test_sampler_augments_only_when_asked(builtin_data, aug):
    """PairSampler with no augmentation draws what it always drew; with one the same step gives another batch,
    and still the same batch every time it is asked for. Noise augmentations leave the speech alone; speech warp
    changes the target too."""
    from chvoice_core.data.mixing import NoiseEQ, NoiseWarp, SpeechWarp
    from chvoice_core.data.pairs import PairSampler
    profile = get_profile("weighted")
    plain = PairSampler(builtin_data.train_speech, builtin_data.train_noise, profile, 16129)
    again = PairSampler(builtin_data.train_speech, builtin_data.train_noise, profile, 16129, warp=None, eq=None,
                        speech_warp=None)
    kw = {"warp": {"warp": NoiseWarp(p=1.0)}, "eq": {"eq": NoiseEQ(p=1.0)},
          "speech": {"speech_warp": SpeechWarp(p=1.0)}}[aug]
    augmented = PairSampler(builtin_data.train_speech, builtin_data.train_noise, profile, 16129, **kw)
    a, b, c = plain.batch(5, 8), again.batch(5, 8), augmented.batch(5, 8)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    assert c[0].shape == c[1].shape == a[0].shape and np.all(np.isfinite(c[0]))
    unit = lambda x: x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)
    # the first item's speech is drawn before its noise: the same speech (its level may move) unless it is
    # the speech that warps; later items differ, as the augmentation draws from the same generator
    same_speech = np.allclose(unit(a[1])[0], unit(c[1])[0], atol=1e-5)
    assert same_speech == (aug != "speech")
    assert np.array_equal(augmented.batch(5, 8)[0], c[0])     # still deterministic per step


def test_noise_eq_reshapes_the_spectrum_within_its_gains_at_any_level():
    """Each draw changes the spectrum's shape (one band against another) by at most 3 x 12 dB, and a
    full-scale clip boosted by the filters is not clipped (torchaudio's lfilter clamps to [-1, 1]): clipped noise
    would hold its peak on many samples."""
    from chvoice_core.data.mixing import NoiseEQ, eq_segment
    n = 16129
    x = np.random.default_rng(1).standard_normal(n)
    x = (x / np.abs(x).max()).astype(np.float32)                  # peak 1.0: a boost would clip without care
    freqs = np.fft.rfftfreq(n, 1 / 16000)
    edges = np.geomspace(60, 7600, 13)

    def band_db(y):
        s = np.abs(np.fft.rfft(y.astype(np.float64))) ** 2
        return np.array([10 * np.log10(s[(freqs >= lo) & (freqs < hi)].mean())
                         for lo, hi in zip(edges[:-1], edges[1:])])

    spread = []
    for seed in range(20):
        y = eq_segment(x, np.random.default_rng(seed), NoiseEQ(p=1.0))
        assert y.shape == (n,) and y.dtype == np.float32 and np.all(np.isfinite(y))
        assert np.sum(np.abs(y) >= 0.999 * np.abs(y).max()) <= 2
        d = band_db(y) - band_db(x)
        spread.append(d.max() - d.min())
    assert max(spread) < 2 * 3 * 12 and np.median(spread) > 3


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_speech_warp_moves_a_voice_by_its_factor(factor):
    """A crop played at x0.9 / x1.1 moves a 200 Hz voice-like tone to 180 / 220 Hz and keeps its length."""
    from fractions import Fraction
    from chvoice_core.data.mixing import play_at, source_samples
    sr, n = 16000, 16129
    r = Fraction(factor).limit_denominator(16)
    t = np.arange(source_samples(n, r)) / sr
    y = play_at(np.sin(2 * np.pi * 200 * t).astype(np.float32), r, n)
    assert y.shape == (n,) and y.dtype == np.float32
    spec = np.abs(np.fft.rfft(y * np.hanning(n)))
    assert abs(np.fft.rfftfreq(n, 1 / sr)[spec.argmax()] - 200 * factor) < 2
