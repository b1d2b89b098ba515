"""Studio-clean speech, its held-out speakers, low noise floors, gated targets and what the sampler does with them."""
import numpy as np
import pytest

from chvoice_core.data import get_profile
from chvoice_core.data.mixing import LowFloor
from chvoice_core.data.synthnoise import synthetic_noise_bank
from chvoice_core.data.pairs import PairSampler
from chvoice_core.data.studio import STUDIO_TEST_SPEAKERS, split_studio, studio_speech
from chvoice_core.data.synthnoise import FLOOR_KINDS, floor_noise
from chvoice_core.data.targets import GatedSpeech, gate_floor
from chvoice_core.metrics import pause_energies, pooled_pause_attenuation

BANK = synthetic_noise_bank(clips_per_category=2, extra=())


def _tone_with_pause(seed=0):
    """0.5 s of digital silence, 1.5 s of a steady harmonic tone at 0.3 peak, 0.5 s of silence: a studio take."""
    t = np.arange(24000) / 16000
    s = 0.1 * sum(np.sin(2 * np.pi * 180 * k * t + seed) / k for k in range(1, 30))
    return np.concatenate([np.zeros(8000), s, np.zeros(8000)]).astype(np.float32)


@pytest.mark.parametrize("kind", FLOOR_KINDS)
def test_floor_noise_kinds_have_unit_level_and_their_tilt(kind):
    x, k = floor_noise(32000, np.random.default_rng(0), kind)
    assert k == kind and np.sqrt(np.mean(x ** 2)) == pytest.approx(1.0, rel=1e-3)
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / 16000)
    low, high = spec[(f > 100) & (f < 500)].mean(), spec[(f > 4000) & (f < 8000)].mean()
    assert low / high > {"pink": 5, "brown": 100, "steep": 1000, "room-tone": 100}[kind]


def test_gate_takes_a_stationary_floor_out_of_pauses_and_leaves_loud_speech():
    clean = _tone_with_pause()
    floor, _ = floor_noise(len(clean), np.random.default_rng(1), "pink")
    x = clean + 0.002 * floor                       # about 34 dB under the tone
    y = gate_floor(x)
    att = pooled_pause_attenuation([pause_energies(y, x, clean)])
    # gentle: about 12 dB (the frames next to the tone keep their floor), not the 25 dB its floor gain allows
    assert att["pause_att_min_1-8k"] > 10 and att["pause_att_min_0-1k"] > 10
    tone = slice(10000, 30000)
    change = np.sum((y[tone] - x[tone]) ** 2) / np.sum(x[tone] ** 2)
    assert 10 * np.log10(change) < -30             # the loud part passes (only its floor moves)


def test_gated_targets_and_floors_leave_the_other_side_of_a_pair_alone():
    from chvoice_core.data.speech import SpeechCorpus, Utterance
    from chvoice_core.errors import ChvoiceError

    class Tones(SpeechCorpus):
        def audio(self, utt):
            x = _tone_with_pause(int(utt.id[-1]))
            return x + 0.002 * floor_noise(len(x), np.random.default_rng(int(utt.id[-1])), "steep")[0]
    speech = Tones([Utterance(f"u{i}", f"s{i}", "") for i in range(3)], "tones")
    profile = get_profile("weighted")
    plain = PairSampler(speech, BANK, profile, 16000, seed=3)
    gated = PairSampler(speech, BANK, profile, 16000, seed=3, target_speech=GatedSpeech(speech))
    floored = PairSampler(speech, BANK, profile, 16000, seed=3, floor=LowFloor(p=1.0, below_db=(30.0, 30.0)))
    n0, c0 = plain.batch(5, 6)
    n1, c1 = gated.batch(5, 6)
    n2, c2 = floored.batch(5, 6)
    assert np.array_equal(n0, n1) and not np.allclose(c0, c1)     # the gate moves targets only
    assert np.array_equal(c0, c2)                                  # the floor moves mixtures only ...
    added = n2 - n0
    rms = lambda v: np.sqrt(np.mean(v.astype(np.float64) ** 2, axis=1))
    live = rms(c0) > 0
    assert np.allclose(20 * np.log10(rms(added)[live] / rms(c0)[live]), -30, atol=0.1)   # ... 30 dB under it
    with pytest.raises(ChvoiceError):
        floor_noise(10, np.random.default_rng(0), "purple")


@pytest.mark.realdata
def test_studio_speakers_are_split_and_held_out_ones_never_train(shared_data):
    from chvoice_core.data import DataConfig, load_data
    from chvoice_core.data.studio import with_studio_speech
    corpus = studio_speech(shared_data)
    train, test = split_studio(corpus)
    assert set(test.speakers()) == set(STUDIO_TEST_SPEAKERS)
    assert not set(train.speakers()) & set(test.speakers()) and len(train) + len(test) == len(corpus)
    assert {s.split("/")[0] for s in test.speakers()} == {"ears", "cmu_arctic", "vcc2016"}
    # what `chvoice train --studio-speech` trains on: LibriSpeech's training side and the studio training side only
    data = load_data(DataConfig(data_root=str(shared_data)), broad=True)
    trained = with_studio_speech(data.train_speech, shared_data)
    assert set(trained.speakers()) == set(data.train_speech.speakers()) | set(train.speakers())
    assert not set(trained.speakers()) & (set(STUDIO_TEST_SPEAKERS) | set(data.test_speech.speakers()))


@pytest.mark.realdata
def test_studio_testset_pauses_floors_and_speakers(shared_data):
    from chvoice_core.data import DataConfig, load_data
    from chvoice_core.data.realset import studio_items
    data = load_data(DataConfig(data_root=str(shared_data)), broad=True)
    _, held_out = split_studio(studio_speech(shared_data))
    items = studio_items(held_out, data.test_noise)
    assert len(items) == 126 and {it.speaker for it in items} == set(STUDIO_TEST_SPEAKERS)
    assert not {i for it in items for i in it.mixture.noise_ids} & data.train_noise.ids()
    used = [u for it in items if it.profile == "studio-noise" for u in it.utterance.split("+")]
    assert sorted(used) == sorted(u.id for u in held_out.utterances)        # each utterance once per condition
    for it in items:
        assert np.all(it.mixture.clean[:4000] == 0)                          # a pause before the speech
        if it.profile == "studio-floor":
            assert 25 <= it.mixture.params["floor_below_speech_db"] <= 45
        else:
            assert -0.5 <= it.mixture.snr_db <= 15.5


def test_speech_gaps_silence_speech_and_target_alike_and_leave_the_noise():
    from chvoice_core.data.mixing import SpeechGaps, gap_envelope
    from chvoice_core.data.speech import SpeechCorpus, Utterance

    env = gap_envelope(16000, np.random.default_rng(0), SpeechGaps(p=1.0, span_s=(0.3, 0.3), max_gaps=1))
    assert env.min() == 0 and env.max() == 1 and 0.27 < np.mean(env < 1e-6) < 0.3   # 0.3 s less the fades
    assert gap_envelope(100, np.random.default_rng(0), SpeechGaps(p=0.0)) is None

    class Tone(SpeechCorpus):
        def audio(self, utt):
            return (0.1 * np.sin(2 * np.pi * 200 * np.arange(32000) / 16000)).astype(np.float32)
    speech = Tone([Utterance("u0", "s0", "")], "tone")
    profile = get_profile("weighted")
    plain = PairSampler(speech, BANK, profile, 16000, seed=3)
    gapped = PairSampler(speech, BANK, profile, 16000, seed=3, target_speech=GatedSpeech(speech),
                         gaps=SpeechGaps(p=1.0))
    n0, c0 = plain.batch(2, 8)
    n1, c1 = gapped.batch(2, 8)
    silent = np.abs(c1) < 1e-7
    assert 0.1 < silent.mean() < 0.6                              # every crop has a gap, none is all gap
    held = silent.any(axis=1)
    noise_in_gaps = np.abs(n1[silent]).max()
    assert held.all() and noise_in_gaps > 1e-4                     # the noise stays where the speech went
    assert not np.array_equal(n0, n1)
