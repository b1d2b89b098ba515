"""Write the shipped models' training manifests (chvoice_core/assets/manifests/): the speakers and noise source
recordings each was trained on, from the data root it was trained from, split as it was trained (by clip id,
before source recordings were kept apart: DataConfig(shared_sources="keep")).

    python tools/build_manifests.py ../shared/data

general.json          the `general` profile's training side: LibriSpeech training speakers, training noise
                      (the report's clips minus ESC-50's, the categorised clips' training folds, babble)
general+studio.json   the same plus the training-side studio speakers (the default since 2026-12-06:
                      --studio-speech; its children learn its outputs, so they carry its manifest)
builtin.json          the proxy teachers: built-in synthetic speech and noise, no real speaker or recording
index.json            every shipped model file (relative to assets/) -> its manifest
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from chvoice_core.audio_io import atomic_path
from chvoice_core.data import DataConfig, load_data
from chvoice_core.data.manifest import MANIFESTS, Manifest, source_key
from chvoice_core.data.studio import split_studio, studio_speech
from chvoice_core.errors import ChvoiceError
from chvoice_core.pretrained import assets_dir


def manifest_of(path: str) -> str:
    """Which manifest a shipped model file (relative to assets/) trained on."""
    name = Path(path).name
    if path.startswith("teachers/"):
        return "builtin"
    return "general" if name.startswith("live") else "general+studio"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_root")
    ap.add_argument("--out", default=str(MANIFESTS))
    a = ap.parse_args()
    out = Path(a.out)
    try:
        split = load_data(DataConfig(data_root=a.data_root, shared_sources="keep"), broad=True)
        studio = split_studio(studio_speech(a.data_root))[0]
    except ChvoiceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    general = Manifest("general", frozenset(split.train_speech.speakers()),
                       frozenset(source_key(c.id) for c in split.train_noise.clips()),
                       f"training side of the general profile on {Path(a.data_root).name}/, split by clip id")
    studio_m = Manifest("studio", frozenset(studio.speakers()), frozenset(), "training-side studio speakers")
    out.mkdir(parents=True, exist_ok=True)
    for m in (general, general.union(studio_m, "general+studio"),
              Manifest("builtin", frozenset(), frozenset(), "built-in synthetic speech and noise only")):
        m.save(out / f"{m.name}.json")
        print(f"{m.name}: {len(m.speakers)} speakers, {len(m.noise_sources)} noise source recordings")
    assets = assets_dir()
    index = {p.relative_to(assets).as_posix(): manifest_of(p.relative_to(assets).as_posix())
             for p in sorted(assets.rglob("*.pt"))}
    with atomic_path(out / "index.json") as tmp:
        Path(tmp).write_text(json.dumps(index, indent=1) + "\n")
    print(f"index: {len(index)} shipped models")
    return 0


if __name__ == "__main__":
    sys.exit(main())
