"""Knowledge distillation: train a student on a frozen teacher's outputs (the report: MSE to the
teacher), optionally mixed with the clean target by weight alpha."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..dsp import from_db, istft, stft, to_db
from ..errors import ChvoiceError
from ..models.unet import causal_lookahead, front_end, fuse_for_inference, normaliser_for


@dataclass(frozen=True)
class DistillConfig:
    student_width: int = 32     # full-scale width; budgets divide it like every other width
    alpha: float = 0.0          # weight of the clean target (0 = the report's pure teacher targets)

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ChvoiceError(f"distillation alpha must be in [0, 1], got {self.alpha}")

    def to_dict(self) -> dict:
        return asdict(self)


def _frozen(teacher: nn.Module) -> nn.Module:
    """The teacher in eval mode without gradients, conv + BatchNorm + ReLU folded into one conv (the same outputs to
    float rounding; a width-8 teacher's batch of 16 tiles 74 -> 65 ms on one thread), channels-last as train() feeds it."""
    teacher = fuse_for_inference(teacher.eval()).to(memory_format=torch.channels_last)
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def _frame_aligned(t: torch.Tensor, look: int) -> torch.Tensor:
    """A causal teacher's output frame t estimates frame t - look: shift it onto the input's frames (the last `look`
    frames repeat), so the student's loss, which shifts the student by its own lookahead, sees aligned targets."""
    return torch.cat([t[..., look:], t[..., -1:].expand(*t.shape[:-1], look)], dim=-1) if look else t


def teacher_target(teacher: nn.Module, alpha: float = 0.0):
    """A train() target function: dB tiles the student should output (teacher output, mixed with clean)."""
    teacher = _frozen(teacher)

    @torch.no_grad()
    def target(noisy_db: torch.Tensor, clean_db: torch.Tensor) -> torch.Tensor:
        x, mean, std = normaliser_for(teacher)(noisy_db)
        t = teacher(x) * std + mean
        t = _frame_aligned(t, causal_lookahead(teacher))
        return t if alpha == 0 else alpha * clean_db + (1 - alpha) * t
    return target


def teacher_waveform(teacher: nn.Module, alpha: float = 0.0):
    """A train() target for the perceptual loss: the teacher's enhanced waveform of each noisy tile (its magnitude
    with the noisy phase), optionally mixed with the clean waveform by alpha. The student then learns the teacher's
    output under the loss the shipped parents were trained on (compressed magnitude + SI-SDR), not dB-MSE, whose
    errors in the quietest bins outweigh the speech that SI-SDR and PESQ hear (the dB-MSE width-8 student kept
    11 % of the default's SI-SDR gain on real recordings). noisy, clean: [B, N] -> [B, N]."""
    teacher = _frozen(teacher)
    fe = front_end(teacher)
    look = causal_lookahead(teacher)

    @torch.no_grad()
    def target(noisy: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        spec = stft(noisy, fe)
        x, mean, std = normaliser_for(teacher)(to_db(spec.abs(), fe).unsqueeze(1))
        out = _frame_aligned((teacher(x).float() * std + mean)[:, 0], look)
        est = istft(torch.polar(from_db(out), torch.angle(spec)), fe, noisy.shape[-1])
        return est if alpha == 0 else alpha * clean + (1 - alpha) * est
    return target
