"""The code version that stamps every cache (zoo models, full-scale twins, scores): a digest of the source of every
module that builds artifacts or scores them, so any change there invalidates the caches without a hand-bumped
number to forget. The command line, the web app and live mode do not build cached artifacts and stay out."""
from __future__ import annotations

import hashlib
from pathlib import Path

RELEASE = "2026.12"
_PACKAGE = Path(__file__).resolve().parent
# what a cached model or score depends on (whole folders: data/, models/, compress/)
_BUILDS = ("data", "models", "compress", "dsp.py", "audio_io.py", "train.py", "losses.py", "validation.py", "budgets.py",
           "zoo", "enhance.py", "families.py", "longform.py", "stream.py", "onnx_step.py", "metrics.py", "scoring.py", "baselines.py",
           "pretrained.py")


def code_digest(package: Path = _PACKAGE) -> str:
    """First 12 hex digits of the SHA-256 over the sorted relative paths and bytes of the artifact-building
    sources (and the shipped models, which the zoo starts from)."""
    h = hashlib.sha256()
    files = []
    for name in _BUILDS:
        p = package / name
        files += sorted(p.rglob("*.py")) if p.is_dir() else [p]
    files += sorted((package / "assets").rglob("*.pt"))
    for f in files:
        h.update(f.relative_to(package).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


CODE_VERSION = f"{RELEASE}+{code_digest()}"
