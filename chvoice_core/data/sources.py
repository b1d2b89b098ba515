"""Resolve where speech and noise come from, and split them into train and test parts.

With no paths everything is built in (synthetic speech + synthetic noise). With a data root laid out like
../shared/data (LibriSpeech/, ESC-50/, chvoice-noises/) training uses LibriSpeech speakers and the report's
noise clips, and testing uses held-out speakers mixed with ESC-50 clips that were kept out of training.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ChvoiceError
from .manifest import source_key
from .noise import EXTRA_SYNTH_CATEGORIES, NoiseBank, category_folders, noise_bank_from_path
from .rooms import Room, RoomConfig, measured_rooms, room_bank
from .speech import SpeechCorpus, audio_folder, librispeech, synthetic_speech
from .synthnoise import babble_clips, synthetic_noise_bank


def default_cache_dir() -> Path:
    return Path(os.environ.get("CHVOICE_CACHE", Path.home() / ".cache" / "chvoice"))


@dataclass(frozen=True)
class DataConfig:
    """Paths are optional; None means the built-in offline data."""

    data_root: str | None = None     # a folder holding LibriSpeech/ and ESC-50/ and/or chvoice-noises/
    speech: str | None = None        # LibriSpeech root or any audio folder (overrides data_root)
    noise: str | None = None         # ESC-50 folder or <category>-mono/ folders (overrides data_root)
    test_noise: str | None = None    # a separate noise source for testing; its clips are kept out of training
    cache_dir: str | None = None
    test_speaker_fraction: float = 0.15
    split_seed: int = 0
    noise_categories: str | None = None   # any <category>/*.wav folder (broad profiles only; split by recording)
    test_speech: str | None = None        # extra test-only speech (e.g. cmu_arctic/)
    rirs: str | None = None               # measured room impulse responses (else rooms are simulated)
    train_only: bool = False              # the folders hold training material only (a pack from
                                          # tools/pack_training_data.py): hold nothing out
    shared_sources: str = "exclude"       # "exclude": no training clip shares a source recording with a test clip
                                          # (manifest.source_key, across every noise source); "keep": the split
                                          # before 2026-12-07, by clip id, which the shipped models trained on

    def resolved(self) -> "DataConfig":
        """Fill speech/noise/test_noise from data_root."""
        if self.data_root is None:
            return self
        root = Path(self.data_root)
        if not root.is_dir():
            raise ChvoiceError(f"--data-root {root}: no such folder")
        speech = self.speech or (str(root) if (root / "LibriSpeech").is_dir() else None)
        noise, test_noise = self.noise, self.test_noise
        cats = self.noise_categories or (str(root / "noise-categories") if (root / "noise-categories").is_dir() else None)
        test_speech = self.test_speech or (str(root / "cmu_arctic") if (root / "cmu_arctic").is_dir() else None)
        rirs = self.rirs or (str(root / "rir") if (root / "rir").is_dir() else None)
        if noise is None:
            if (root / "chvoice-noises").is_dir():
                noise = str(root / "chvoice-noises")
                if test_noise is None and (root / "ESC-50").is_dir():
                    test_noise = str(root / "ESC-50")
            elif (root / "ESC-50").is_dir():
                noise = str(root / "ESC-50")
        if speech is None and noise is None:
            raise ChvoiceError(f"--data-root {root}: expected LibriSpeech/, ESC-50/ or chvoice-noises/ inside")
        return DataConfig(None, speech, noise, test_noise, self.cache_dir, self.test_speaker_fraction,
                          self.split_seed, cats, test_speech, rirs, self.train_only, self.shared_sources)

    @property
    def label(self) -> str:
        r = self.resolved()
        sp = "builtin-speech" if r.speech is None else ("librispeech" if _is_librispeech(r.speech) else "audio-folder")
        no = "builtin-noise" if r.noise is None else Path(r.noise).name.lower()
        return f"{sp}+{no}" + (f"/test:{Path(r.test_noise).name.lower()}" if r.test_noise else "")


def _is_librispeech(path: str) -> bool:
    p = Path(path)
    return (p / "LibriSpeech").is_dir() or p.name == "LibriSpeech"


@dataclass
class DataSplit:
    train_speech: SpeechCorpus
    test_speech: SpeechCorpus
    train_noise: NoiseBank
    test_noise: NoiseBank
    label: str
    rirs: str | None = None
    cache_dir: Path | None = None

    def rooms(self, seed: int = 0, workers: int = 1) -> list[Room]:
        """Rooms for profiles that simulate them: measured RIRs when the data has them, else simulated, in
        `workers` processes (training and test sets use different seeds, so test rooms are never trained on)."""
        if self.rirs:
            return measured_rooms(self.rirs)
        return room_bank(RoomConfig(seed=seed), self.cache_dir / "rooms" if self.cache_dir else None, workers)


def load_speech(path: str | None, cache_dir: Path) -> SpeechCorpus:
    if path is None:
        return synthetic_speech(cache_dir)
    return librispeech(path) if _is_librispeech(path) else audio_folder(path)


def load_data(cfg: DataConfig = DataConfig(), broad: bool = False) -> DataSplit:
    """Speech and noise, split into disjoint train and test parts.

    broad=True (profiles over every category, e.g. `general`) adds what those profiles draw from: the extra
    built-in synthetic categories (built-in noise) or the categorised noise folder (split by source recording),
    and babble made from other speakers of each side's own speech. LibriSpeech test-/dev- subsets and
    `test_speech` are test-only.

    train_only=True (for training runs on a pack of material already held out elsewhere): everything goes to
    training, and the test side aliases it, so such a split must never be used to score a model."""
    r = cfg.resolved()
    cache = Path(r.cache_dir) if r.cache_dir else default_cache_dir()
    speech = load_speech(r.speech, cache)
    if r.train_only:
        return _train_only(r, speech, cache, broad)
    test_only = {u.speaker for u in speech.utterances if _held_out_subset(u.path)}
    train_speech, test_speech = speech.split_speakers(r.test_speaker_fraction, r.split_seed, test_only)
    if r.test_speech:
        extra = audio_folder(r.test_speech)
        test_speech = SpeechCorpus(test_speech.utterances + extra.utterances, f"{test_speech.name}+{extra.name}")
    bank = _noise_bank(r, broad)
    if r.test_noise is not None:
        test_bank = noise_bank_from_path(r.test_noise)
        train_bank = bank.without(test_bank.ids(), f"{bank.name}[train]")
    else:
        train_bank, test_bank = bank.split()
    if broad:
        if r.noise_categories:
            cat_train, cat_test = category_folders(r.noise_categories).split(0.2)
            train_bank = train_bank.merged(cat_train, train_bank.name)
            test_bank = test_bank.merged(cat_test, test_bank.name)
        train_bank = train_bank.merged(_babble(train_speech, "train"), train_bank.name)
        test_bank = test_bank.merged(_babble(test_speech, "test"), test_bank.name)
    if r.shared_sources == "exclude":
        tested = {source_key(c.id) for c in test_bank.clips()}
        train_bank = train_bank.without({c.id for c in train_bank.clips() if source_key(c.id) in tested},
                                        train_bank.name)
    elif r.shared_sources != "keep":
        raise ChvoiceError(f"shared_sources {r.shared_sources!r}: use exclude or keep")
    return DataSplit(train_speech, test_speech, train_bank, test_bank, cfg.label, r.rirs, cache)


def _noise_bank(r: DataConfig, broad: bool) -> NoiseBank:
    """The noise source (before any split): built-in synthetic noise, or the folder `r.noise`."""
    if r.noise is None:
        return synthetic_noise_bank(extra=EXTRA_SYNTH_CATEGORIES if broad else ())
    return noise_bank_from_path(r.noise)


def _babble(corpus: SpeechCorpus, side: str) -> NoiseBank:
    """Babble made from one side's own speakers (32 clips for training, 8 for testing)."""
    audio = [corpus.audio(u) for u in corpus.utterances]
    return NoiseBank(babble_clips(audio, 32 if side == "train" else 8, seed=1, prefix=side), "babble", ())


def _train_only(r: DataConfig, speech: SpeechCorpus, cache: Path, broad: bool) -> DataSplit:
    bank = _noise_bank(r, broad)
    if broad:
        if r.noise_categories:
            bank = bank.merged(category_folders(r.noise_categories), bank.name)
        bank = bank.merged(_babble(speech, "train"), bank.name)
    return DataSplit(speech, speech, bank, bank, r.label + "[train-only]", r.rirs, cache)


def _held_out_subset(path: str) -> bool:
    parts = Path(path).parts
    return any(p.startswith(("test-", "dev-")) for p in parts)
