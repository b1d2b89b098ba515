"""Studio-clean read speech (`<root>/clean-speech/<corpus>/<speaker>/*.wav`: CMU ARCTIC, VCC 2016, EARS). Its noise
floors are `synthnoise.floor_noise`, its evaluation set `realset.studio_items`.

Whole speakers are held out for evaluation (STUDIO_TEST_SPEAKERS: every EARS speaker and the three cleanest of the
others); the rest may join training (`chvoice train --studio-speech`)."""
from __future__ import annotations

import os
from pathlib import Path

from ..audio_io import list_audio_files
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
