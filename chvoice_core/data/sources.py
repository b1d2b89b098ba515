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
from .noise import NoiseBank, noise_bank_from_path, synthetic_noise_bank
from .speech import SpeechCorpus, audio_folder, librispeech, synthetic_speech


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

    def resolved(self) -> "DataConfig":
        """Fill speech/noise/test_noise from data_root."""
        if self.data_root is None:
            return self
        root = Path(self.data_root)
        if not root.is_dir():
            raise ChvoiceError(f"--data-root {root}: no such folder")
        speech = self.speech or (str(root) if (root / "LibriSpeech").is_dir() else None)
        noise, test_noise = self.noise, self.test_noise
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
                          self.split_seed)

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


def load_speech(path: str | None, cache_dir: Path) -> SpeechCorpus:
    if path is None:
        return synthetic_speech(cache_dir)
    return librispeech(path) if _is_librispeech(path) else audio_folder(path)


def load_data(cfg: DataConfig = DataConfig()) -> DataSplit:
    r = cfg.resolved()
    cache = Path(r.cache_dir) if r.cache_dir else default_cache_dir()
    speech = load_speech(r.speech, cache)
    train_speech, test_speech = speech.split_speakers(r.test_speaker_fraction, r.split_seed)
    bank: NoiseBank = synthetic_noise_bank() if r.noise is None else noise_bank_from_path(r.noise)
    if r.test_noise is not None:
        test_bank = noise_bank_from_path(r.test_noise)
        train_bank = bank.without(test_bank.ids(), f"{bank.name}[train]")
    else:
        train_bank, test_bank = bank.split()
    return DataSplit(train_speech, test_speech, train_bank, test_bank, cfg.label)
