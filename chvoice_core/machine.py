"""What decides int8 and bf16 speed on this CPU: its model and instruction sets, torch's CPU capability and
quantized engine. Every benchmark run records them, and every speed-up the report prints names them, because a
ratio measured with AMX (int8 / bf16 tiles) is not the ratio a CPU without it gets."""
from __future__ import annotations

import platform
from pathlib import Path

import torch

# instruction sets that change int8 / bf16 kernels, as /proc/cpuinfo names them, and how the report prints them
ISA = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_vnni": "AVX-512 VNNI", "avx_vnni": "AVX-VNNI",
       "avx512_bf16": "AVX-512 BF16", "amx_tile": "AMX", "amx_int8": "AMX-INT8", "amx_bf16": "AMX-BF16"}


def _cpuinfo() -> tuple[str | None, set[str] | None]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None, None
    model, flags = None, None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and model is None:
            model = value.strip()
        elif key.strip() == "flags" and flags is None:
            flags = set(value.split())
    return model, flags


def cpu_facts() -> dict:
    """{'model', 'isa': {flag: bool | None}, 'torch_capability', 'quantized_engine', 'bf16'}: None where the
    platform does not say (no /proc/cpuinfo)."""
    model, flags = _cpuinfo()
    isa = {k: (None if flags is None else k in flags) for k in ISA}
    return {"model": model or platform.processor() or platform.machine(), "isa": isa,
            "torch_capability": torch.backends.cpu.get_cpu_capability(),
            "quantized_engine": torch.backends.quantized.engine, "bf16": bf16_native(isa)}


def bf16_native(isa: dict) -> bool | None:
    """Whether the CPU has bf16 arithmetic (AVX-512 BF16 or AMX-BF16); elsewhere bf16 is emulated, slower than fp32."""
    if isa.get("avx512_bf16") is None and isa.get("amx_bf16") is None:
        return None
    return bool(isa.get("avx512_bf16") or isa.get("amx_bf16"))


def describe(facts: dict | None) -> str:
    """One line: 'AMD EPYC 9R14 (AVX2, AVX-512 VNNI, AVX-512 BF16; no AMX); torch AVX512, quantized engine x86'."""
    if not facts:
        return "CPU not recorded (a run from before the machine was recorded)"
    isa = facts.get("isa") or {}
    if all(v is None for v in isa.values()):
        sets = "instruction sets unknown"
    else:
        has = [ISA[k] for k in ("avx2", "avx512_vnni", "avx_vnni", "avx512_bf16") if isa.get(k)]
        amx = [ISA[k] for k in ("amx_int8", "amx_bf16") if isa.get(k)]
        sets = ", ".join(has) + ("; " + ", ".join(amx) if amx else "; no AMX")
    return (f"{facts.get('model', '?')} ({sets}); torch {facts.get('torch_capability', '?')}, quantized engine "
            f"{facts.get('quantized_engine', '?')}")
