"""The fixed test set of a profile: re-creatable from (speech, noise, profile, seed), with a record per
utterance of its id, profile, noise kind, noise clips and SNR."""
from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio_io import SAMPLE_RATE, write_audio
from ..errors import ChvoiceError
from .mixing import Mixture, mix
from .noise import NoiseBank
from .profiles import NoiseProfile
from .speech import SpeechCorpus


@dataclass(frozen=True)
class TestSetConfig:
    __test__ = False   # not a pytest class
    n: int = 100
    seed: int = 2021
    max_seconds: float = 4.0      # longer utterances are cropped (at a seeded offset) to keep scoring fast
    include_clean: bool = False   # 'no noise' draws make SI-SDR infinite, so they are left out by default
    # at most one item per utterance: n is capped at the corpus size rather than reusing recordings with other
    # crops and noise (reused items are not independent, and statistics would treat them as if they were)
    distinct: bool = True


@dataclass
class TestItem:
    __test__ = False
    id: str
    utterance: str
    profile: str
    mixture: Mixture
    speaker: str = ""

    def record(self) -> dict:
        return {"id": self.id, "utterance": self.utterance, "speaker": self.speaker, "profile": self.profile,
                "seconds": round(len(self.mixture.clean) / SAMPLE_RATE, 3), **self.mixture.record()}


def build_testset(speech: SpeechCorpus, bank: NoiseBank, profile: NoiseProfile,
                  cfg: TestSetConfig = TestSetConfig(), rooms: list | None = None) -> list[TestItem]:
    """Deterministic: item i depends only on (seed, profile name, i) and the sorted sources (so a capped set is
    the first items of the uncapped one)."""
    order = np.random.default_rng([cfg.seed, 0]).permutation(len(speech))
    max_len = int(cfg.max_seconds * SAMPLE_RATE)
    items = []
    for i in range(min(cfg.n, len(speech)) if cfg.distinct else cfg.n):
        rng = np.random.default_rng([cfg.seed, zlib.crc32(profile.name.encode()), i])
        utt = speech.utterances[order[i % len(order)]]
        x = speech.audio(utt)
        if len(x) > max_len:
            start = int(rng.integers(0, len(x) - max_len + 1))
            x = x[start:start + max_len]
        m = mix(x, profile, bank, rng, include_none=cfg.include_clean, rooms=rooms)
        items.append(TestItem(f"{profile.name}-{i:04d}-{utt.id}", utt.id, profile.name, m, utt.speaker))
    return items


def write_testset(items: list[TestItem], out_dir: str | os.PathLike) -> Path:
    """Write noisy/, clean/ (16-bit WAV, same file names) and manifest.csv/json. The folder appears
    complete or not at all."""
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise ChvoiceError(f"{out}: folder exists and is not empty")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for it in items:
            write_audio(tmp / "noisy" / f"{it.id}.wav", it.mixture.noisy)
            write_audio(tmp / "clean" / f"{it.id}.wav", it.mixture.clean)
        records = [it.record() for it in items]
        (tmp / "manifest.json").write_text(json.dumps(records, indent=1))
        with open(tmp / "manifest.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["id", "utterance", "speaker", "profile", "seconds", "kind", "categories",
                                              "noise_ids", "snr_db"], extrasaction="ignore")
            w.writeheader()
            for r in records:
                w.writerow({**r, "categories": ";".join(r["categories"]), "noise_ids": ";".join(r["noise_ids"])})
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out
