"""Studio-clean read speech (`<root>/clean-speech/<corpus>/<speaker>/*.wav`: CMU ARCTIC, VCC 2016, EARS) and the
low, coloured noise floors that the perceptual-quality work trains and tests with.

Whole speakers are held out for evaluation (STUDIO_TEST_SPEAKERS: every EARS speaker and the three cleanest of the
others); the rest may join training (`chvoice train --studio-speech`)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy import signal

from ..audio_io import SAMPLE_RATE, list_audio_files
from ..errors import ChvoiceError
from .speech import SpeechCorpus, Utterance

STUDIO_FOLDER = "clean-speech"
# never trained on: EARS (all six), and CMU ARCTIC clb, VCC SF1 and TM1, the three cleanest by their 2-8 kHz hiss
# (../shared/data/SOURCES.md: -68, -75 and -75 dB against LibriSpeech's -51)
STUDIO_TEST_SPEAKERS = ("ears/p102", "ears/p103", "ears/p104", "ears/p105", "ears/p106", "ears/p107",
                        "cmu_arctic/clb", "vcc2016/SF1", "vcc2016/TM1")


def studio_speech(root: str | os.PathLike) -> SpeechCorpus:
    """Every utterance under `root` (a data root holding clean-speech/, or that folder itself); speakers are
    named '<corpus>/<speaker>', utterances '<corpus>-<speaker>-<file stem>'."""
    root = Path(root)
    base = root / STUDIO_FOLDER if (root / STUDIO_FOLDER).is_dir() else root
    if not base.is_dir():
        raise ChvoiceError(f"{root}: no {STUDIO_FOLDER}/ folder")
    utts = []
    for f in list_audio_files(base):
        rel = f.relative_to(base).parts
        if len(rel) != 3:
            continue
        corpus, speaker = rel[0], rel[1]
        utts.append(Utterance(f"{corpus}-{speaker}-{f.stem}", f"{corpus}/{speaker}", str(f)))
    return SpeechCorpus(utts, f"studio:{base}")


def split_studio(corpus: SpeechCorpus) -> tuple[SpeechCorpus, SpeechCorpus]:
    """(training, held-out) speakers of a studio corpus."""
    test = set(STUDIO_TEST_SPEAKERS) & set(corpus.speakers())
    return (corpus.subset(set(corpus.speakers()) - test, f"{corpus.name}[train]"),
            corpus.subset(test, f"{corpus.name}[test]"))


def with_studio_speech(train_speech: SpeechCorpus, root: str | os.PathLike) -> SpeechCorpus:
    """Training speech plus the training-side studio speakers under `root` (never STUDIO_TEST_SPEAKERS)."""
    studio = split_studio(studio_speech(root))[0]
    return SpeechCorpus(train_speech.utterances + studio.utterances, f"{train_speech.name}+{studio.name}")


FLOOR_KINDS = ("pink", "brown", "steep", "room-tone")


def floor_noise(n: int, rng: np.random.Generator, kind: str | None = None) -> tuple[np.ndarray, str]:
    """A stationary noise floor [n] (unit RMS) and its kind: pink (1/f), brown (1/f^2), steep (1/f^beta, beta
    2.5..3.5: the low hiss of real rooms and preamps, whose spectrum falls steeply) or room tone (low-passed
    rumble with a faint fan tone). kind=None draws one."""
    kind = kind or str(rng.choice(FLOOR_KINDS))
    f = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    f[0] = f[1]
    if kind == "room-tone":
        x = signal.sosfilt(signal.butter(2, rng.uniform(150, 600), "low", fs=SAMPLE_RATE, output="sos"),
                           rng.standard_normal(n))
        x = x / (np.std(x) + 1e-12) + rng.uniform(0.02, 0.2) * np.sin(
            2 * np.pi * rng.uniform(60, 240) * np.arange(n) / SAMPLE_RATE + rng.uniform(0, 2 * np.pi))
        # and a weak broadband hiss 30..45 dB under the rumble, as in a real room recording
        x = x + 10 ** (-rng.uniform(30, 45) / 20) * rng.standard_normal(n)
    else:
        beta = {"pink": 1.0, "brown": 2.0}.get(kind) or rng.uniform(2.5, 3.5)
        if kind not in ("pink", "brown", "steep"):
            raise ChvoiceError(f"unknown noise floor {kind!r}; known: {', '.join(FLOOR_KINDS)}")
        # the slope starts at 50 Hz (flat below, nothing under 20 Hz: a floor's level is what one hears, not
        # infrasound) and never falls more than 70 dB under its 100 Hz level, as a real preamp's floor would not
        shape = np.maximum((np.maximum(f, 50.0) / 100.0) ** (-beta / 2), 10 ** (-70 / 20)) * (f >= 20)
        x = np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) * shape, n)
    x = x - x.mean()
    return (x / (np.sqrt(np.mean(x ** 2)) + 1e-12)).astype(np.float32), kind


def studio_items(corpus: SpeechCorpus, bank, seed: int = 2028, group: int | None = None,
                 max_seconds: float | None = None) -> list:
    """The studio-clean evaluation set: every held-out studio utterance once, in clean items of one EARS
    utterance or two consecutive ARCTIC / VCC utterances of a speaker (`group`: that many for every speaker;
    `max_seconds`: each utterance cut to that length), with 0.3-0.6 s of digital silence before,
    0.4-1.0 s between and 0.3-0.6 s after (the pauses the residual-noise measure looks at). Each clean item comes
    twice: 'noise' (1-2 clips of `bank`, held-out real recordings, at 0-15 dB SNR, no room, no colouring) and
    'floor' (one stationary floor of FLOOR_KINDS alone, 25-45 dB under the speech). Deterministic in the sorted
    corpus and seed. Returns testset.TestItem objects."""
    from .mixing import Mixture, measured_snr, mix
    from .realset import real_noise_profile
    from .testset import TestItem
    profile = real_noise_profile("studio", p_room=0.0)
    groups = []
    for spk in corpus.speakers():
        utts = [u for u in corpus.utterances if u.speaker == spk]
        step = group or (1 if spk.startswith("ears/") else 2)
        groups += [utts[i:i + step] for i in range(0, len(utts), step)]
    items = []
    for i, members in enumerate(groups):
        rng = np.random.default_rng([seed, i])
        pieces = [np.zeros(int(rng.uniform(0.3, 0.6) * SAMPLE_RATE), np.float32)]
        for j, u in enumerate(members):
            if j:
                pieces.append(np.zeros(int(rng.uniform(0.4, 1.0) * SAMPLE_RATE), np.float32))
            pieces.append(corpus.audio(u)[: int(max_seconds * SAMPLE_RATE) if max_seconds else None])
        pieces.append(np.zeros(int(rng.uniform(0.3, 0.6) * SAMPLE_RATE), np.float32))
        clean = np.concatenate(pieces)
        speech_rms = float(np.sqrt(np.mean(np.concatenate(pieces[1:-1:2]) ** 2)))
        utt = "+".join(u.id for u in members)
        m = mix(clean, profile, bank, rng)
        items.append(TestItem(f"noise-{i:03d}-{members[0].id}", utt, "studio-noise", m, members[0].speaker))
        floor, kind = floor_noise(len(clean), rng)
        below = float(rng.uniform(25, 45))
        noisy = clean + floor * speech_rms * 10 ** (-below / 20)
        f = Mixture(noisy.astype(np.float32), clean, "floor", [kind], [], measured_snr(clean, noisy),
                    {"floor_below_speech_db": below})
        items.append(TestItem(f"floor-{i:03d}-{members[0].id}", utt, "studio-floor", f, members[0].speaker))
    return items
