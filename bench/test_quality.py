"""Denoising quality per utterance on each profile's fixed test set (budget-scale models), plus the
unprocessed noisy input as the reference row.

The timed part is enhancing the first TIMED_UTTERANCES utterances in this process (batch 1, --threads);
scores of the whole test set come from the scorer, which enhances and scores the rest in its worker
processes and caches scores by (model digest, utterance), so a warm run re-times but does not re-score."""
from __future__ import annotations

import numpy as np
import pytest

from bench._info import SAMPLE_RATE, base_info, footprint_info, variant_info
from chvoice_core.benchrows import record
from chvoice_core.audio_io import write_audio
from chvoice_core.enhance import Denoiser
from chvoice_core.scoring import Enhancer
from chvoice_core.timing import artifact_digest

TIMED_UTTERANCES = 5    # ~15 s of audio: a file-enhancement speed, re-timed every run


def example_indices(items) -> dict[str, int]:
    """The first environmental-noise and the first reverberant utterance: the report's Figures 4 and 5."""
    out = {}
    for i, it in enumerate(items):
        out.setdefault(it.mixture.kind, i)
    return {k: out[k] for k in ("environmental", "reverb") if k in out}


def save_examples(settings, info, items, outputs: dict[int, np.ndarray]) -> dict:
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


def timed_enhance(benchmark, fn, items) -> tuple[dict[int, np.ndarray], dict]:
    """Time fn over the first TIMED_UTTERANCES utterances; the example utterances are enhanced untimed.
    -> (outputs by index, timing extra_info)."""
    n = min(TIMED_UTTERANCES, len(items))
    timed = benchmark.pedantic(lambda: [fn(it.mixture.noisy) for it in items[:n]], rounds=1, iterations=1)
    outputs = dict(enumerate(timed))
    for i in example_indices(items).values():
        if i not in outputs:
            outputs[i] = fn(items[i].mixture.noisy)
    seconds = sum(len(it.mixture.noisy) for it in items[:n]) / SAMPLE_RATE
    return outputs, {"timed_utterances": n, "timed_audio_seconds": round(seconds, 3),
                     "realtime_factor": seconds / benchmark.stats.stats.min}


def record_quality(benchmark, items, enhancer, outputs, scorer, info, settings) -> None:
    info = {**info, "examples": save_examples(settings, info, items, outputs)}
    scores = scorer.score(enhancer, [(it.mixture.noisy, it.mixture.clean) for it in items], known=outputs)
    metrics = list(scores[0])
    per_utt = {m: [float(s[m]) for s in scores] for m in metrics}
    record(benchmark, **info, utterance_ids=[it.id for it in items],
                                recordings=[it.utterance for it in items], speakers=[it.speaker for it in items],
                                noise_kinds=[it.mixture.kind for it in items],
                                snr_db=[None if not np.isfinite(it.mixture.snr_db) else round(float(it.mixture.snr_db), 3)
                                        for it in items],
                                metrics=per_utt, means={m: float(np.nanmean(v)) for m, v in per_utt.items()},
                                nan_counts={m: int(np.sum(~np.isfinite(v))) for m, v in per_utt.items()},
                                n_utterances=len(items))


@pytest.mark.benchmark(group="quality")
def test_quality(benchmark, zoo, build, scorer, settings, variant, profile):
    entry = build(variant, profile)
    if settings.device == "cuda" and entry.meta.get("quant"):
        pytest.skip(f"{variant}: int8 (FX, fbgemm/x86) kernels run on the CPU only")
    items = zoo.testset(profile)
    den = Denoiser(entry.model.to(settings.device), device=settings.device)
    outputs, timing = timed_enhance(benchmark, den, items)
    record_quality(benchmark, items, Enhancer.artifact(entry.path), outputs, scorer,
           {**variant_info(settings.variant(variant)), **base_info("quality", settings, profile, 1, timing["timed_audio_seconds"]),
            **footprint_info(entry.meta), **timing, "architecture": "budget-scale",
            "artifact": artifact_digest(entry.path),
            "loss_history": entry.meta.get("loss_history", []),
            "width": entry.config.base_width, "widths": list(entry.config.conv_widths()),
            "stage_steps": len(entry.meta.get("loss_history", []) or []),
            "teacher_steps": (entry.meta.get("pretrained") or {}).get("train_steps"),
            "pretrained_teacher": bool(entry.meta.get("pretrained"))}, settings)


@pytest.mark.benchmark(group="quality")
def test_quality_noisy(benchmark, zoo, scorer, settings, profile):
    """The reference row: the noisy input scored against clean."""
    items = zoo.testset(profile)
    outputs, timing = timed_enhance(benchmark, lambda x: x, items)
    record_quality(benchmark, items, Enhancer.identity(), outputs, scorer,
           {"variant": "noisy", "recipe": [], "model_label": "Noisy input", "compression": "-", "in_report": False,
            "parent": None, **base_info("quality", settings, profile, 1, timing["timed_audio_seconds"]), **timing},
           settings)
