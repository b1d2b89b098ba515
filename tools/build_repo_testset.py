"""Rebuild the compact real test set that ships in the repository (testsets/real/: clean and noise FLAC apart,
items.csv, ATTRIBUTION.md) from ../shared/data; chvoice_core.data.realset says what goes in.

    python tools/build_repo_testset.py ../shared/data [--out testsets/real]

Items that share a speaker or a noise source recording with a shipped model's training manifest
(chvoice_core/assets/manifests/, tools/build_manifests.py) are left out; tests/test_leaks.py checks the result.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chvoice_core.data.manifest import load_manifests, shipped_manifests
from chvoice_core.data.realset import REALSET_DIR, build_realset, load_realset


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_root")
    ap.add_argument("--out", default=str(REALSET_DIR))
    a = ap.parse_args()
    out = build_realset(a.data_root, a.out, exclude=load_manifests(shipped_manifests().values()))
    items = load_realset(out)
    size = sum(f.stat().st_size for f in Path(out).rglob("*") if f.is_file())
    parts = {p: sum(it.profile == f"real-{p}" for it in items) for p in ("libri", "studio")}
    print(f"wrote {len(items)} items ({parts}; {len({it.speaker for it in items})} speakers; "
          f"{sum(len(it.mixture.clean) for it in items) / 16000 / 60:.1f} min) to {out}: {size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
