"""The zoo's artifact store: where an entry lives, the stamp that says what built it, and loading it back (a stale or
corrupt entry is rebuilt, never trusted)."""
from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

from torch import nn

from ..compress.artifact import load_artifact
from ..errors import ChvoiceError
from ..models.io import file_digest
from ..pretrained import teacher_path
from ..version import CODE_VERSION

log = logging.getLogger("chvoice.zoo")


class ArtifactStore:
    """Mixin of Zoo: cache paths and stamps (code version, budget, data, profile, key, seed, pretrained teacher)."""

    def _dir(self, profile: str) -> Path:
        slug = re.sub(r"[^a-z0-9]+", "-", self.data_label.lower()).strip("-")
        digest = hashlib.sha256(str(self.data.resolved()).encode()).hexdigest()[:8]
        return self.cache_dir / "zoo" / self.budget.name / f"{slug}-{digest}" / profile

    def _stamp(self, key: str, profile: str) -> dict:
        stamp = {"code_version": CODE_VERSION, "budget": self.budget.name, "data": self.data_label,
                 "profile": profile, "key": key, "seed": self.seed}
        arch = key.split("+")[0]
        if self.pretrained_parent(arch, profile) is not None:
            stamp["pretrained"] = file_digest(teacher_path(arch, profile))
        return stamp

    def _load_cached(self, path: Path, stamp: dict) -> tuple[nn.Module, dict] | None:
        if not path.is_file():
            return None
        try:
            model, meta = load_artifact(path)
        except ChvoiceError as e:
            log.warning("rebuilding %s: %s", path.name, e)
            return None
        if meta.get("stamp") != stamp:
            log.warning("rebuilding %s: stale cache entry (%s)", path.name, meta.get("stamp"))
            return None
        return model, meta

    def _is_cached(self, variant_id: str, profile: str) -> bool:
        v = self.variant(variant_id)
        key = v.prefix_ids()[-1]
        return self._load_cached(self._dir(profile) / f"{key}.pt", self._stamp(key, profile)) is not None
