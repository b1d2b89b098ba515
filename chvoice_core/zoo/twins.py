"""Full-scale twins for latency: a variant's architecture at the report's full widths, untrained, same quantization."""
from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..compress.artifact import load_artifact, save_artifact
from ..compress.quantize import int8_layers
from ..compress.steps import quant_format
from ..models.footprint import count_macs, count_params
from ..models.unet import UNet, UNetConfig, inference_layout
from ..version import CODE_VERSION

if TYPE_CHECKING:
    from .core import Entry

TWIN_CALIBRATION_PROFILE = "weighted"   # twins of every profile are calibrated alike: only value ranges matter


class TwinFactory:
    """Mixin of Zoo: full-scale twins, cached on disk by architecture and quantization."""

    def full_scale(self, variant_id: str, profile: str) -> tuple[nn.Module, dict]:
        """The variant's architecture at the report's full widths (64/32), with the same per-layer pruning
        ratios and the same quantization, for latency. Weights are untrained (speed does not depend on them),
        so a twin depends on its architecture and quantization only: variants and profiles that share those
        share one twin, built once and cached on disk like the zoo's entries."""
        e = self.entry(variant_id, profile)
        if self.budget.width_divisor == 1 or self.variant(variant_id).teacher:   # user teachers: their own scale
            return e.model, e.meta
        full_cfg, quant = self._full_config(e), quant_format(e.meta.get("quant")).twin_format
        spec = {"config": full_cfg.to_dict(), "quant": quant}
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
        if digest in self._full:
            return self._full[digest]
        shape = f"w{full_cfg.base_width}" + ("-pruned" if full_cfg.widths else "")
        path = self._twin_dir() / f"{shape}-{quant or 'fp32'}-{digest}.pt"
        stamp = {"code_version": CODE_VERSION, "data": self.data_label, "twin": spec}
        cached = self._load_cached(path, stamp)
        if cached is None:
            model = self._build_twin(full_cfg, quant)
            twin = UNet(full_cfg)
            save_artifact(path, model, full_cfg, quant, {"stamp": stamp, "params": count_params(twin),
                                                         "macs": count_macs(twin), "int8_layers": int8_layers(model)})
            cached = load_artifact(path)
        inference_layout(cached[0], self.device)
        self._full[digest] = cached
        return cached

    def _twin_dir(self) -> Path:
        return self._dir(TWIN_CALIBRATION_PROFILE).parent / "twins"

    def _full_config(self, e: Entry) -> UNetConfig:
        cfg, base = e.config, UNetConfig.from_dict(e.meta["base_config"])
        full_base = replace(base, base_width=e.meta.get("full_base_width", base.base_width * self.budget.width_divisor),
                            widths=None)
        if cfg.widths is None:
            return full_base
        ratios = [w / b for w, b in zip(cfg.conv_widths(), base.conv_widths())]
        full_widths = [max(1, round(r * fw)) for r, fw in zip(ratios, full_base.conv_widths())]
        return full_base.with_widths(tuple(max(8, 8 * round(w / 8)) for w in full_widths))

    def _build_twin(self, cfg: UNetConfig, quant: str | None) -> nn.Module:
        torch.manual_seed(0)
        model = UNet(cfg)
        # untrained weights: a few real tiles give realistic BatchNorm statistics and int8 ranges
        calib = self.calibration(TWIN_CALIBRATION_PROFILE, 8)[:4]
        with torch.no_grad():
            model.train()
            model(calib)
        model.eval()
        return quant_format(quant).twin(model, calib)
