"""Denoising quality per utterance on each profile's fixed test set (budget-scale models), plus the
unprocessed noisy input as the reference row. The timed part is enhancing the whole test set."""
from __future__ import annotations

import numpy as np
import pytest

from bench._info import SAMPLE_RATE, base_info, footprint_info, variant_info
from chvoice_core.audio_io import write_audio
from chvoice_core.enhance import Denoiser


def example_indices(items) -> dict[str, int]:
    """The first environmental-noise and the first reverberant utterance: the report's Figures 4 and 5."""
    out = {}
    for i, it in enumerate(items):
        out.setdefault(it.mixture.kind, i)
    return {k: out[k] for k in ("environmental", "reverb") if k in out}


def save_examples(settings, info, items, outputs) -> dict:
    """Write the example clips (noisy, clean, output) as WAV files the report can read back."""
    folder = settings.cache_dir / "bench" / "examples" / settings.budget.name / info["profile"]
    ex = {}
    for kind, i in example_indices(items).items():
        it = items[i]
        paths = {"noisy": folder / f"{it.id}.noisy.wav", "clean": folder / f"{it.id}.clean.wav",
                 "output": folder / f"{it.id}.{info['variant'].replace(':', '_')}.wav"}
        for role, audio in (("noisy", it.mixture.noisy), ("clean", it.mixture.clean), ("output", outputs[i])):
            write_audio(paths[role], audio)
        ex[kind] = {"id": it.id, **{k: str(v) for k, v in paths.items()}}
    return ex


def _record(benchmark, items, outputs, scorer, info, settings=None):
    if settings is not None:
        info = {**info, "examples": save_examples(settings, info, items, outputs)}
    scores = scorer.score_many([(y, it.mixture.clean) for y, it in zip(outputs, items)])
    metrics = list(scores[0])
    per_utt = {m: [float(s[m]) for s in scores] for m in metrics}
    benchmark.extra_info.update(info, utterance_ids=[it.id for it in items],
                                noise_kinds=[it.mixture.kind for it in items],
                                snr_db=[None if not np.isfinite(it.mixture.snr_db) else round(float(it.mixture.snr_db), 3)
                                        for it in items],
                                metrics=per_utt, means={m: float(np.nanmean(v)) for m, v in per_utt.items()},
                                n_utterances=len(items))


@pytest.mark.benchmark(group="quality")
def test_quality(benchmark, zoo, build, scorer, settings, variant, profile):
    entry = build(variant, profile)
    if settings.device == "cuda" and entry.meta.get("quant"):
        pytest.skip(f"{variant}: int8 (FX, fbgemm/x86) kernels run on the CPU only")
    items = zoo.testset(profile)
    den = Denoiser(entry.model.to(settings.device), device=settings.device)
    outputs = benchmark.pedantic(lambda: [den(it.mixture.noisy) for it in items], rounds=1, iterations=1)
    seconds = sum(len(it.mixture.noisy) for it in items) / SAMPLE_RATE
    _record(benchmark, items, outputs, scorer,
            {**variant_info(variant), **base_info("quality", settings, profile, 1, seconds), **footprint_info(entry.meta),
             "architecture": "budget-scale", "loss_history": entry.meta.get("loss_history", [])}, settings)


@pytest.mark.benchmark(group="quality")
def test_quality_noisy(benchmark, zoo, scorer, settings, profile):
    """The reference row: the noisy input scored against clean."""
    items = zoo.testset(profile)
    outputs = benchmark.pedantic(lambda: [it.mixture.noisy for it in items], rounds=1, iterations=1)
    seconds = sum(len(it.mixture.noisy) for it in items) / SAMPLE_RATE
    _record(benchmark, items, outputs, scorer,
            {"variant": "noisy", "recipe": [], "model_label": "Noisy input", "compression": "-", "in_report": False,
             "parent": None, **base_info("quality", settings, profile, 1, seconds)}, settings)
