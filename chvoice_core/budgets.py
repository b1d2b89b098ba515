"""Named training budgets. Budgets below `paper` scale the channel widths down, so that every variant
trains in minutes on a laptop CPU; latency is always measured on the full-scale architectures."""
from __future__ import annotations

from dataclasses import dataclass

from .errors import ChvoiceError


@dataclass(frozen=True)
class Budget:
    name: str
    steps: int                 # optimiser steps for a model trained from scratch
    batch_size: int            # tiles per step (per process under DDP)
    width_divisor: int         # base widths are divided by this (normal 64 -> 64 / divisor)
    finetune_steps: int        # steps for fine-tunes (pruning, QAT)
    test_utterances: int       # fixed test set size per profile
    log_every: int = 10
    checkpoint_every: int = 100
    distill_lr: float = 4e-4   # the student's learning rate; the report's 4e-4 suits its 10 000 steps
    distill_steps: int = 0     # steps of distillation (0: `steps`)
    amp: str = "none"          # train.TrainConfig.amp: "bf16" halves a CPU step where the CPU has bf16 units (AMX)
    schedule: str = "constant" # train.TrainConfig.schedule (cosine: warm-up, then decay)
    warmup_steps: int = 0
    resumable: bool = False    # checkpoint long trainings under the cache and resume them after an interruption

    @property
    def student_steps(self) -> int:
        return self.distill_steps or self.steps


BUDGETS: dict[str, Budget] = {
    "smoke": Budget("smoke", steps=12, batch_size=4, width_divisor=8, finetune_steps=6, test_utterances=8,
                    log_every=2, checkpoint_every=6, distill_lr=2e-3),
    # The default benchmark run. Its teachers (1200 steps, 10x the budget of 2026.11.6) ship pretrained in the
    # package (tools/build_teachers.py: the zoo's own recipe, so a run without them would train the same models);
    # the run distils, prunes, quantizes and fine-tunes itself, sized to fit ~20 minutes on 2 cores.
    # A width-4 student learns far more at lr 2e-3 than at 4e-4 (120 steps: SI-SDR gain +4.2/+5.5/+6.0 ->
    # +6.2/+6.9/+6.9 dB); the teachers gained nothing from a higher rate, so they keep 4e-4. Its 150 distillation
    # steps (600 before the real track joined the main job, then 300, then 200 until the parents' free deployments
    # joined it) are the proxy track's longest build: three students on two cores took 6 of the cold run's 21
    # minutes at 600, 3.5 of 20 at 300, 2 of 21.5 at 200 (AMD EPYC). 80 test utterances a profile (100 before).
    "quick": Budget("quick", steps=1200, batch_size=16, width_divisor=8, finetune_steps=30, test_utterances=80,
                    checkpoint_every=400, distill_lr=2e-3, distill_steps=150),
    # The report: 5 epochs of LibriSpeech train-clean-100, ~10 000 iterations of up to 64 tiles.
    "paper": Budget("paper", steps=10_000, batch_size=64, width_divisor=1, finetune_steps=2_000,
                    test_utterances=200, log_every=50, checkpoint_every=500),
    # The real track: compress the shipped full-width parents (width_divisor 1; they are never retrained here, so
    # `steps` is 0) on real speech and noise. Sized for one 2-core CPU session per child: a width-16 student's
    # distillation step (16 tiles, bf16, one thread, width-32 teacher) takes about 1 s.
    "real": Budget("real", steps=0, batch_size=16, width_divisor=1, finetune_steps=1000, test_utterances=100,
                   log_every=10, checkpoint_every=50, distill_lr=1e-3, distill_steps=3000, amp="bf16",
                   schedule="cosine", warmup_steps=100, resumable=True),
}


def get_budget(name: str) -> Budget:
    try:
        return BUDGETS[name]
    except KeyError:
        raise ChvoiceError(f"unknown budget {name!r}; known: {', '.join(BUDGETS)}") from None
