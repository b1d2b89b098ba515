"""extra_info common to every benchmark, so the report can read any entry without guessing."""
from __future__ import annotations

import numpy as np

from chvoice_core.compress.recipes import VARIANTS, Variant
from chvoice_core.compress.steps import describe

SAMPLE_RATE = 16_000
TILE_SECONDS = 16129 / SAMPLE_RATE     # one 128-frame tile


def variant_info(v: Variant) -> dict:
    return {"variant": v.id, **describe(v.steps), "model_label": v.model_label, "compression": v.compression,
            "in_report": v.in_report, "parent": v.parent, "user_recipe": v.id not in VARIANTS,
            "teacher": v.teacher}


def base_info(kind: str, settings, profile: str | None, batch: int, audio_seconds: float) -> dict:
    """profile None: the measurement stands for every selected profile (listed in `profiles`)."""
    profiles = list(settings.profiles) if profile is None else [profile]
    return {"track": "proxy", "kind": kind, "profile": profile, "profiles": profiles, "device": settings.device, "threads": settings.threads,
            "batch": batch, "audio_seconds_per_call": round(audio_seconds, 4), "budget": settings.budget.name,
            "data": settings.data.label}


def footprint_info(meta: dict) -> dict:
    return {"params": int(meta["params"]), "macs": int(meta["macs"]), "size_bytes": int(meta.get("size_bytes", 0)),
            "int8_layers": len(meta.get("int8_layers", [])), "int8_layer_names": list(meta.get("int8_layers", [])),
            "quant": meta.get("quant")}


def timing_info(samples_s: list[float], calls_per_round: int) -> dict:
    """Percentiles of per-call times and the report's 'best round' (minimum of per-round means)."""
    ms = np.asarray(samples_s) * 1000
    rounds = [ms[i:i + calls_per_round].mean() for i in range(0, len(ms) - calls_per_round + 1, calls_per_round)]
    return {"p50_ms": float(np.percentile(ms, 50)), "p90_ms": float(np.percentile(ms, 90)),
            "p99_ms": float(np.percentile(ms, 99)), "best_round_ms": float(min(rounds)) if rounds else float(ms.min()),
            "calls_per_round": calls_per_round, "samples_ms": [round(float(v), 4) for v in ms]}
