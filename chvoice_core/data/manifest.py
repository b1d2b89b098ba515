"""Training manifests: the speakers and the noise source recordings a shipped model trained on, kept in the package
(`assets/manifests/`) so that a fresh clone, without the data, can check a test set against what its models saw.

A noise clip's source recording is what two clips cut from one recording share: ESC-50 names its clips
`<fold>-<freesound id>-<take>-<class>` and UrbanSound8K `<freesound id>-<class>-<occurrence>-<slice>`, so the same
Freesound upload can sit in both datasets, under different categories and folders. `source_key` maps every such
name to `freesound:<id>`; any other clip (babble, synthetic noise) is its own source."""
from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..audio_io import atomic_path
from ..errors import ChvoiceError
from ..pretrained import assets_dir

MANIFESTS = assets_dir() / "manifests"
_ESC50 = re.compile(r"^\d+-(\d+)-[A-Z]-\d+$")
_URBAN = re.compile(r"^(\d+)-\d+-\d+-\d+$")


def source_key(noise_id: str) -> str:
    """The source recording of a noise clip id ('clock_alarm/4-209698-A-37' -> 'freesound:209698', as for
    '5-209698-A-38'); ids of other clips stand for themselves."""
    stem = noise_id.rsplit("/", 1)[-1]
    m = _ESC50.match(stem) or _URBAN.match(stem)
    return f"freesound:{m.group(1)}" if m else noise_id


@dataclass(frozen=True)
class Manifest:
    """What a model trained on: speaker ids (LibriSpeech ids, '<corpus>/<speaker>' for studio speech) and noise
    source keys (source_key)."""

    name: str
    speakers: frozenset[str]
    noise_sources: frozenset[str]
    note: str = ""

    def save(self, path: str | os.PathLike) -> None:
        data = {"name": self.name, "note": self.note, "speakers": sorted(self.speakers),
                "noise_sources": sorted(self.noise_sources)}
        with atomic_path(path) as tmp:
            Path(tmp).write_text(json.dumps(data, indent=0) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Manifest":
        try:
            d = json.loads(Path(path).read_text())
            return cls(d["name"], frozenset(d["speakers"]), frozenset(d["noise_sources"]), d.get("note", ""))
        except (OSError, ValueError, KeyError) as e:
            raise ChvoiceError(f"{path}: not a training manifest ({e.__class__.__name__}: {e})") from None

    def union(self, other: "Manifest", name: str) -> "Manifest":
        return Manifest(name, self.speakers | other.speakers, self.noise_sources | other.noise_sources,
                        f"{self.note}; {other.note}".strip("; "))


def leaks(manifest: Manifest, items: Iterable[dict]) -> list[str]:
    """Test items (rows with 'id', 'speaker' and 'noise_ids', ';'-separated, as testsets/real/items.csv) that share
    a speaker or a noise source recording with the manifest: one line each, empty when disjoint."""
    out = []
    for it in items:
        why = []
        if it["speaker"] in manifest.speakers:
            why.append(f"speaker {it['speaker']}")
        shared = sorted({source_key(n) for n in it["noise_ids"].split(";") if n} & manifest.noise_sources)
        why += [f"noise source {s}" for s in shared]
        if why:
            out.append(f"{it['id']}: {', '.join(why)} also in {manifest.name}'s training data")
    return out


def shipped_manifests() -> dict[str, str]:
    """Every shipped model file (relative to assets/) -> the name of its training manifest (assets/manifests/)."""
    try:
        return json.loads((MANIFESTS / "index.json").read_text())
    except (OSError, ValueError) as e:
        raise ChvoiceError(f"{MANIFESTS}/index.json: no manifest index ({e.__class__.__name__}); "
                           f"python tools/build_manifests.py DATA_ROOT writes it") from None


def load_manifests(names: Iterable[str]) -> tuple[Manifest, ...]:
    """The named manifests of assets/manifests/, in sorted order."""
    return tuple(Manifest.load(MANIFESTS / f"{n}.json") for n in sorted(set(names)))


def read_items(path: str | os.PathLike) -> list[dict]:
    """The rows of a test set's items.csv."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
