"""The compact real test set that ships in the repository (`testsets/real/`), so that a fresh clone measures real
speech with nothing else: FLAC files of each item's clean target and of its noise apart (`clean/`, `noise/`),
`items.csv`, and `ATTRIBUTION.md` (sources and licences of every file). An item's mixture is clean + noise,
summed at load time (exactly, so the set is mixed deterministically).

Two parts, both of material never used in training (speakers, utterances and noise recordings; a test checks it):
- `libri`: held-out LibriSpeech speakers (train-clean-100 held out by the speaker split, test-other files judged
  clean) and CMU ARCTIC aew/axb, cropped to at most `libri_seconds`, with 1-2 held-out real noise recordings at
  0-15 dB, a quarter in simulated test rooms (the target keeps the direct path and 50 ms of early reflections;
  the late tail is part of the stored noise);
- `studio`: held-out studio speakers (data.studio.STUDIO_TEST_SPEAKERS), one utterance with pauses around it,
  once with held-out real noise at 0-15 dB and once with only a low stationary floor 25-45 dB under the speech.

Rebuilt from ../shared/data by `python tools/build_repo_testset.py ../shared/data` (build_realset below)."""
from __future__ import annotations

import csv
import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import soundfile as sf

from ..audio_io import SAMPLE_RATE
from ..errors import ChvoiceError
from .manifest import Manifest, leaks
from .mixing import Mixture, measured_snr, mix
from .profiles import get_profile
from .rooms import TEST_ROOM_SEED
from .sources import DataConfig, load_data
from .speech import SpeechCorpus
from .studio import split_studio, studio_speech
from .synthnoise import floor_noise
from .testset import TestItem, TestSetConfig, build_testset

REALSET_DIR = Path(__file__).resolve().parents[2] / "testsets" / "real"
COLUMNS = ("id", "part", "speaker", "utterance", "kind", "categories", "noise_ids", "snr_db", "rt60",
           "clean_file", "noise_file", "seconds")


@dataclass(frozen=True)
class RealSetConfig:
    libri_items: int = 80
    libri_seconds: float = 3.0
    studio_per_speaker: int = 3          # ARCTIC / VCC speakers; every EARS utterance is taken
    studio_seconds: float = 6.0
    seed: int = 2029


def load_realset(root: str | os.PathLike = REALSET_DIR) -> list[TestItem]:
    """The shipped items, mixture = clean + noise (float32 [N] each), in items.csv order."""
    root = Path(root)
    table = root / "items.csv"
    if not table.is_file():
        raise ChvoiceError(f"{root}: no real test set here (items.csv missing); rebuild it with "
                           f"tools/build_repo_testset.py")
    items = []
    with open(table, newline="") as f:
        for r in csv.DictReader(f):
            clean = sf.read(root / r["clean_file"], dtype="float32")[0]
            noise = sf.read(root / r["noise_file"], dtype="float32")[0]
            if len(clean) != len(noise):
                raise ChvoiceError(f"{root}: item {r['id']}: clean and noise differ in length")
            params = {"rt60": float(r["rt60"])} if r["rt60"] else {}
            m = Mixture(clean + noise, clean, r["kind"], r["categories"].split(";") if r["categories"] else [],
                        r["noise_ids"].split(";") if r["noise_ids"] else [], float(r["snr_db"]), params)
            items.append(TestItem(r["id"], r["utterance"], f"real-{r['part']}", m, r["speaker"]))
    return items


def realset_sources(root: str | os.PathLike = REALSET_DIR) -> dict[str, set[str]]:
    """What the shipped set is made of: {'speakers', 'utterances', 'noise_ids'} (for disjointness checks)."""
    out: dict[str, set[str]] = {"speakers": set(), "utterances": set(), "noise_ids": set()}
    with open(Path(root) / "items.csv", newline="") as f:
        for r in csv.DictReader(f):
            out["speakers"].add(r["speaker"])
            out["utterances"].update(r["utterance"].split("+"))
            out["noise_ids"].update(i for i in r["noise_ids"].split(";") if i)
    return out


def build_realset(data_root: str | os.PathLike, out: str | os.PathLike = REALSET_DIR,
                  cfg: RealSetConfig = RealSetConfig(), exclude: tuple[Manifest, ...] = ()) -> Path:
    """Build the set from a data root laid out like ../shared/data; replaces `out` atomically. Items that share a
    speaker or a noise source recording with any of the `exclude` manifests (the shipped models' training data)
    are left out after the draw, so the other items are the ones a build without them makes."""

    data = load_data(DataConfig(data_root=str(data_root)), broad=True)
    libri = build_testset(clean_test_speech(data), data.test_noise, real_noise_profile("real-libri"),
                          TestSetConfig(n=cfg.libri_items, seed=cfg.seed, max_seconds=cfg.libri_seconds),
                          rooms=data.rooms(seed=TEST_ROOM_SEED))
    _, held = split_studio(studio_speech(data_root))
    chosen = []
    for spk in held.speakers():
        utts = [u for u in held.utterances if u.speaker == spk]
        chosen += utts if spk.startswith("ears/") else utts[:cfg.studio_per_speaker]
    studio = studio_items(SpeechCorpus(chosen, held.name), data.test_noise, cfg.seed, group=1,
                          max_seconds=cfg.studio_seconds)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        rows = []
        for part, items in (("libri", libri), ("studio", studio)):
            for it in items:
                probe = {"id": it.id, "speaker": it.speaker, "noise_ids": ";".join(it.mixture.noise_ids)}
                if not any(leaks(m, [probe]) for m in exclude):
                    rows.append(_write_item(tmp, part, it))
        with open(tmp / "items.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=COLUMNS)
            w.writeheader()
            w.writerows(rows)
        (tmp / "ATTRIBUTION.md").write_text(attribution(rows, data_root))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def _write_item(root: Path, part: str, it: TestItem) -> dict:
    m = it.mixture
    # a studio utterance's two items (real noise, low floor) share one clean file
    clean_file = f"clean/{it.id.split('-', 1)[1] if part == 'studio' else it.id}.flac"
    noise_file = f"noise/{it.id}.flac"
    # both halves in 16-bit FLAC; the stored clean is what the scores compare against, and the stored noise is
    # what the mixture adds to it, so the set is exactly what it says
    for name, x in ((clean_file, m.clean), (noise_file, m.noisy - m.clean)):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        sf.write(root / name, np.clip(x, -1, 1), SAMPLE_RATE, subtype="PCM_16", format="FLAC")
    return {"id": it.id, "part": part, "speaker": it.speaker, "utterance": it.utterance, "kind": m.kind,
            "categories": ";".join(m.categories), "noise_ids": ";".join(m.noise_ids),
            "snr_db": round(float(m.snr_db), 3), "rt60": round(m.params["rt60"], 3) if "rt60" in m.params else "",
            "clean_file": clean_file, "noise_file": noise_file, "seconds": round(len(m.clean) / SAMPLE_RATE, 3)}


def clean_test_speech(data) -> SpeechCorpus:
    """The held-out test speech of a DataSplit whose references are clean: LibriSpeech test-other readings under
    MIN_DYNAMIC_RANGE_DB are left out."""
    keep = [u for u in data.test_speech.utterances
            if "test-other" not in u.path or dynamic_range_db(data.test_speech.audio(u)) >= MIN_DYNAMIC_RANGE_DB]
    return SpeechCorpus(keep, data.test_speech.name + "[clean]")


def real_noise_profile(name: str, p_room: float = 0.25):
    """The real test sets' noise: the `general` categories (held-out recordings), 1-2 clips at 0-15 dB, `p_room` of
    the items in a room, no colouring, no level change. The name seeds the draws."""
    return replace(get_profile("general"), name=name, p_static=0.0, p_none=0.0, snr_db=(0.0, 15.0), p_room=p_room,
                   p_colour=0.0, level_db=(0.0, 0.0))


MIN_DYNAMIC_RANGE_DB = 30.0


def dynamic_range_db(x: np.ndarray, sr: int = SAMPLE_RATE) -> float:
    """95th minus 10th percentile of 20 ms frame energies: under 30 dB a test-other reading has audible background
    noise or no pauses, and is not used as a clean reference."""
    n = int(0.02 * sr)
    frames = x[: len(x) // n * n].reshape(-1, n)
    e = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    return float(np.percentile(e, 95) - np.percentile(e, 10))


LICENCES = {
    "LibriSpeech": "CC BY 4.0 (V. Panayotov et al., LibriSpeech, ICASSP 2015; readers in LibriSpeech SPEAKERS.TXT)",
    "CMU ARCTIC": "CMU ARCTIC licence (c) 2003 Carnegie Mellon University: use, modification and redistribution "
                  "allowed with this notice kept (J. Kominek, A. W. Black, SSW5 2004)",
    "VCC 2016": "ODC-By 1.0 (Voice Conversion Challenge 2016; speech from DAPS, CC BY-NC 4.0): research use only",
    "EARS": "CC BY-NC 4.0 (J. Richter et al., EARS, Interspeech 2024): non-commercial",
    "ESC-50": "CC BY-NC 3.0 (K. J. Piczak, ESC, ACM MM 2015; clips from freesound.org): non-commercial",
    "UrbanSound8K": "CC BY-NC 3.0 (J. Salamon, C. Jacoby, J. P. Bello, ACM MM 2014; freesound.org): non-commercial",
    "SpeechCommands_bg": "CC BY 4.0 (P. Warden, Speech Commands, arXiv:1804.03209)",
    "babble": "made of held-out LibriSpeech test speakers: CC BY 4.0",
}


def _speech_source(utt: str) -> str:
    if utt.startswith("ears-"):
        return "EARS"
    if utt.startswith("vcc2016-"):
        return "VCC 2016"
    if utt.startswith("cmu_arctic-") or "__arctic_" in utt:
        return "CMU ARCTIC"
    return "LibriSpeech"


def attribution(rows: list[dict], data_root: str | os.PathLike) -> str:
    """ATTRIBUTION.md: every file's speech and noise sources with their licences."""
    meta = {}
    table = Path(data_root) / "noise-categories" / "NOISE_META.csv"
    if table.is_file():
        with open(table, newline="") as f:
            meta = {Path(r["local_path"]).stem: r["source"] for r in csv.DictReader(f)}

    def noise_source(nid: str) -> str:
        if "babble" in nid:
            return "babble"
        return meta.get(nid.split("/")[-1], "ESC-50")

    used: set[str] = set()
    lines = []
    for r in rows:
        speech = _speech_source(r["utterance"])
        noises = sorted({noise_source(n) for n in r["noise_ids"].split(";") if n})
        used.update([speech, *noises])
        what = ", ".join(f"{n} ({noise_source(n)})" for n in r["noise_ids"].split(";") if n) or \
            f"synthetic {r['categories']} floor (generated, no licence)"
        lines.append(f"| {r['id']} | {r['utterance']} ({speech}) | {what} |")
    head = ["# Attribution and licences of testsets/real", "",
            "Every file here is derived from the recordings named below (cropped, mixed, possibly convolved with a "
            "simulated room, re-encoded as 16-bit FLAC at 16 kHz). Most noise is **CC BY-NC** (ESC-50, "
            "UrbanSound8K), as are EARS and the DAPS speech behind VCC 2016: the set is for research and "
            "benchmarking, **not for commercial use**. Origins and checksums of the source files: "
            "../shared/data/SOURCES.md and its MANIFEST files, as used by tools/build_repo_testset.py.", "",
            "## Licences", ""]
    head += [f"- **{k}**: {LICENCES[k]}" for k in sorted(used)]
    head += ["", "## Files (clean/<id>.flac, noise/<id>.flac)", "", "| item | speech (corpus) | noise (source) |",
             "|---|---|---|"]
    return "\n".join(head + lines) + "\n"


def studio_items(corpus: SpeechCorpus, bank, seed: int = 2028, group: int | None = None,
                 max_seconds: float | None = None) -> list:
    """The studio-clean evaluation set: every held-out studio utterance once, in clean items of one EARS
    utterance or two consecutive ARCTIC / VCC utterances of a speaker (`group`: that many for every speaker;
    `max_seconds`: each utterance cut to that length), with 0.3-0.6 s of digital silence before,
    0.4-1.0 s between and 0.3-0.6 s after (the pauses the residual-noise measure looks at). Each clean item comes
    twice: 'noise' (1-2 clips of `bank`, held-out real recordings, at 0-15 dB SNR, no room, no colouring) and
    'floor' (one stationary floor of FLOOR_KINDS alone, 25-45 dB under the speech). Deterministic in the sorted
    corpus and seed. Returns testset.TestItem objects."""
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
