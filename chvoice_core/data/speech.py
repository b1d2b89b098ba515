"""Clean speech sources: a LibriSpeech folder, any folder of audio, or the built-in synthetic corpus.

Every source yields a SpeechCorpus: a sorted list of utterances with a speaker label, so splits by
speaker (train on some speakers, test on others) are deterministic.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import urllib.request
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from ..audio_io import SAMPLE_RATE, list_audio_files, read_audio, resample, write_audio
from ..errors import ChvoiceError
from .espeak import Synth, Voice

LIBRISPEECH_URL = "https://www.openslr.org/resources/12/{subset}.tar.gz"


@dataclass(frozen=True)
class Utterance:
    id: str
    speaker: str
    path: str


class SpeechCorpus:
    """Utterances backed by files; audio is read (and resampled to 16 kHz) on demand and cached."""

    def __init__(self, utterances: list[Utterance], name: str):
        if not utterances:
            raise ChvoiceError(f"{name}: no speech files found")
        self.utterances = sorted(utterances, key=lambda u: u.id)
        self.name = name
        self._cache: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.utterances)

    def speakers(self) -> list[str]:
        return sorted({u.speaker for u in self.utterances})

    def audio(self, utt: Utterance) -> np.ndarray:
        """Whole utterance, float32 [N] at 16 kHz (cached in memory after the first read)."""
        if utt.id not in self._cache:
            self._cache[utt.id] = read_audio(utt.path)[0]
        return self._cache[utt.id]

    def subset(self, speakers: set[str], name: str) -> "SpeechCorpus":
        return SpeechCorpus([u for u in self.utterances if u.speaker in speakers], name)

    def split_speakers(self, test_fraction: float = 0.15, seed: int = 0, test_only: set[str] = frozenset()
                       ) -> tuple["SpeechCorpus", "SpeechCorpus"]:
        """(train, test) with disjoint speakers; the same corpus and seed always give the same split.
        `test_only` speakers (e.g. a LibriSpeech test- subset) are always test; the fraction applies to the rest."""
        spk = [s for s in self.speakers() if s not in test_only]
        if len(spk) < 2:
            raise ChvoiceError(f"{self.name}: need at least two speakers to hold some out for testing")
        ranked = sorted(spk, key=lambda s: zlib.crc32(f"{seed}:{s}".encode()))
        n_test = max(1, round(len(spk) * test_fraction))
        test = set(ranked[:n_test]) | set(test_only)
        spk = self.speakers()
        return (self.subset(set(spk) - test, f"{self.name}[train]"), self.subset(test, f"{self.name}[test]"))


def librispeech(root: str | os.PathLike, subsets: list[str] | None = None) -> SpeechCorpus:
    """Read `<root>/LibriSpeech/<subset>/<speaker>/<chapter>/*.flac` (root may also be the LibriSpeech
    folder itself). Transcripts are not needed."""
    root = Path(root)
    base = root / "LibriSpeech" if (root / "LibriSpeech").is_dir() else root
    if not base.is_dir():
        raise ChvoiceError(f"{root}: no such folder")
    found = sorted(p.name for p in base.iterdir() if p.is_dir())
    subsets = subsets or found
    utts = []
    for subset in subsets:
        sdir = base / subset
        if not sdir.is_dir():
            raise ChvoiceError(f"{base}: no LibriSpeech subset {subset!r} (found: {', '.join(found) or 'none'})")
        for f in sorted(sdir.glob("*/*/*.flac")):
            speaker = f.parent.parent.name
            utts.append(Utterance(id=f.stem, speaker=speaker, path=str(f)))
    if not utts:
        raise ChvoiceError(f"{root}: not a LibriSpeech folder (expected LibriSpeech/<subset>/<speaker>/<chapter>/*.flac)")
    return SpeechCorpus(utts, f"librispeech:{base}")


def audio_folder(root: str | os.PathLike) -> SpeechCorpus:
    """Any folder of audio files; the speaker is the file's parent folder name."""
    root = Path(root)
    if not root.is_dir():
        raise ChvoiceError(f"{root}: no such folder")
    files = list_audio_files(root)
    if not files:
        raise ChvoiceError(f"{root}: no audio files (.wav/.flac/.ogg/.mp3) found")
    utts = [Utterance(id=str(f.relative_to(root).with_suffix("")).replace(os.sep, "__"),
                      speaker=f.parent.name if f.parent != root else f.stem, path=str(f)) for f in files]
    return SpeechCorpus(utts, f"folder:{root}")


def download_librispeech(root: str | os.PathLike, subset: str = "dev-clean", timeout: float = 10.0,
                         url: str | None = None) -> Path:
    """Download and unpack a LibriSpeech subset into root (for users with a network).

    Offline this fails with a clear ChvoiceError rather than hanging or leaving a partial folder."""
    import tarfile
    import tempfile

    root = Path(root)
    url = url or LIBRISPEECH_URL.format(subset=subset)
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        archive = Path(tmp) / f"{subset}.tar.gz"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r, open(archive, "wb") as f:
                while chunk := r.read(1 << 20):
                    f.write(chunk)
        except OSError as e:
            raise ChvoiceError(f"could not download LibriSpeech {subset} from {url}: {e} "
                               f"(no network? pass --data-root with a local copy instead)") from None
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        dest = root / "LibriSpeech" / subset
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(Path(tmp) / "LibriSpeech" / subset, dest)
    return root


# ---------------------------------------------------------------- built-in synthetic speech

_WORDS = """time people year way day man thing woman life child world school state family student group
country problem hand part place case week company system program question work government number night
point home water room mother area money story fact month lot right study book eye job word business issue
side kind head house service friend father power hour game line end member law car city community name
president team minute idea kid body information back parent face others level office door health person
art war history party result change morning reason research girl guy moment air teacher force education
river garden window letter music winter summer morning evening forest mountain ocean island village
bright quiet heavy gentle simple strange ancient modern careful sudden narrow golden silver little great
small large young old early late happy sad warm cold green blue red yellow dark light clear soft loud
walk talk run jump read write open close carry bring build break find keep leave learn listen follow
watch speak think believe remember forget begin finish travel arrive answer explain wonder decide""".split()

_TEMPLATES = [
    "the {a} {n} will {v} the {n2} before the {n3} ends",
    "{N} said that every {n} should {v} a {a} {n2}",
    "after the {n} we decided to {v} near the {a} {n2}",
    "please {v} the {a} {n} and the {n2} by {num} o'clock",
    "I think the {n} is more {a} than the {n2} in the {n3}",
    "on {day} my {n} began to {v} with a {a} {n2}",
    "there were {num} {a} {n}s waiting by the {n2} this {n3}",
    "why did the {n} {v} the {a} {n2} so quickly",
    "she told her {n} to {v} the {n2} and then {v2} home",
    "we can {v} the {n} if the {n2} stays {a} until {day}",
]
_DAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
_NUMS = "two three four five six seven eight nine ten eleven twelve twenty".split()


@dataclass(frozen=True)
class SyntheticSpeechConfig:
    """The built-in corpus: eSpeak NG voices (language x variant x pitch) reading generated sentences."""

    n_speakers: int = 48
    utterances_per_speaker: int = 8
    sentences_per_utterance: tuple[int, int] = (1, 3)
    seed: int = 0
    version: int = 2     # bump when generation changes, so caches are rebuilt (2: seeded breathy voices)

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


_LANGS = ["en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-us-nyc"]
_VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2",
             "Alex", "Andy", "Annie", "anika", "belinda", "benjamin", "david", "edward", "iven", "john",
             "linda", "max", "michel", "norbert", "adam", "aunty", "grandma", "grandpa", "steph", "Mike"]


def _sentence(rng: random.Random) -> str:
    t = rng.choice(_TEMPLATES)
    w = lambda: rng.choice(_WORDS)  # noqa: E731
    s = t.format(a=w(), n=w(), n2=w(), n3=w(), v=w(), v2=w(), N=w().capitalize(), day=rng.choice(_DAYS),
                 num=rng.choice(_NUMS))
    return s[0].upper() + s[1:] + rng.choice([".", ".", "?", "!"])


def _speaker_voices(cfg: SyntheticSpeechConfig):
    rng = random.Random(cfg.seed)
    voices = []
    for i in range(cfg.n_speakers):
        voices.append(Voice(language=_LANGS[i % len(_LANGS)], variant=_VARIANTS[i % len(_VARIANTS)],
                            rate=rng.randint(130, 190), pitch=rng.randint(25, 75), pitch_range=rng.randint(30, 80)))
    return voices


def _generate_synthetic(cfg: SyntheticSpeechConfig, out_dir: str) -> None:
    """Runs in a fresh process: eSpeak keeps state between calls, so only a fixed order from a clean
    start, with every utterance's random seed fixed, reproduces the same audio bit for bit."""
    synth = Synth()
    rng = random.Random(cfg.seed + 1)
    manifest = []
    for si, voice in enumerate(_speaker_voices(cfg)):
        speaker = f"synth{si:03d}"
        for ui in range(cfg.utterances_per_speaker):
            text = " ".join(_sentence(rng) for _ in range(rng.randint(*cfg.sentences_per_utterance)))
            x = synth.synthesise(text, voice, seed=cfg.seed * 1_000_003 + si * 1009 + ui)
            x = resample(x, synth.sample_rate, SAMPLE_RATE)
            x = 0.9 * x / max(1e-6, float(np.abs(x).max()))   # eSpeak voices differ a lot in level
            uid = f"{speaker}-{ui:03d}"
            write_audio(Path(out_dir) / speaker / f"{uid}.flac", x)
            manifest.append({"id": uid, "speaker": speaker, "voice": voice.name, "rate": voice.rate,
                             "pitch": voice.pitch, "text": text})
    (Path(out_dir) / "manifest.json").write_text(json.dumps(manifest, indent=1))


def synthetic_speech(cache_dir: str | os.PathLike, cfg: SyntheticSpeechConfig = SyntheticSpeechConfig()
                     ) -> SpeechCorpus:
    """The built-in corpus, generated offline on first use (a few seconds) and cached under cache_dir."""
    import multiprocessing as mp
    import shutil
    import tempfile

    dest = Path(cache_dir) / f"synthetic-speech-{cfg.key()}"
    if not (dest / "manifest.json").is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".synth-", dir=dest.parent)
        try:
            proc = mp.get_context("spawn").Process(target=_generate_synthetic, args=(cfg, tmp))
            proc.start()
            proc.join()
            if proc.exitcode != 0:
                raise ChvoiceError(f"built-in speech generation failed (exit code {proc.exitcode})")
            if dest.exists():   # another process finished first
                shutil.rmtree(tmp)
            else:
                os.replace(tmp, dest)
        finally:
            if Path(tmp).exists():
                shutil.rmtree(tmp, ignore_errors=True)
    manifest = json.loads((dest / "manifest.json").read_text())
    utts = [Utterance(id=m["id"], speaker=m["speaker"], path=str(dest / m["speaker"] / f"{m['id']}.flac"))
            for m in manifest]
    return SpeechCorpus(utts, "builtin:synthetic-speech")


def describe(corpus: SpeechCorpus) -> dict:
    """Size summary (seconds of audio read from file headers)."""
    secs = sum(sf.info(u.path).duration for u in corpus.utterances)
    return {"name": corpus.name, "utterances": len(corpus), "speakers": len(corpus.speakers()),
            "hours": round(secs / 3600, 3)}
