"""bf16 autocast: a float model's convolutions run in bfloat16 on the CPU (oneDNN's AVX-512 BF16 or AMX-BF16
kernels), its weights and outputs stay float32. A deployment choice, not a compression: no calibration, no training,
the same file size; on a CPU without bf16 arithmetic it is emulated and slower than fp32 (machine.bf16_native)."""
from __future__ import annotations

import torch
from torch import nn


class Bf16Model(nn.Module):
    """A float tile model run under CPU bf16 autocast. forward: [B, C, F, T] -> the float model's output, float32.
    Its state dict is the float model's (keys under `inner.`)."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner
        self.config = getattr(inner, "config", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return self.inner(x).float()
