"""Quantization: the report's dynamic int8 (which leaves every conv in float), static int8 post-training
quantization of the convolutions (FX graph mode, x86/fbgemm backend, per-channel weights), and
quantization-aware training converted to the same int8 model."""
from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ChvoiceError
from ..models.unet import StreamPad, carry_spec


@dataclass(frozen=True)
class StaticQuantConfig:
    backend: str = "x86"          # x86 (fbgemm + onednn) or qnnpack (ARM)
    calibration_tiles: int = 256  # the issue asks for "a few hundred training tiles"


@contextmanager
def _quiet():
    # torch.ao.quantization's FX API emits deprecation warnings on every call (it points to torchao's PT2E)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def select_backend(requested: str) -> str:
    """The requested quantized engine if this CPU/torch build has it, else a fallback with a warning."""
    engines = torch.backends.quantized.supported_engines
    if requested in engines:
        return requested
    for alt in ("x86", "fbgemm", "qnnpack", "onednn"):
        if alt in engines:
            warnings.warn(f"quantization backend {requested!r} is not available on this machine "
                          f"(have {engines}); falling back to {alt!r}")
            return alt
    raise ChvoiceError(f"no quantized engine available (torch reports {engines})")


def int8_layers(model: nn.Module) -> list[str]:
    """Names of the conv/linear modules that run int8 kernels (static, QAT or dynamic quantized)."""
    if hasattr(model, "int8_layer_names"):      # PT2E graphs and ONNX Runtime models say it themselves
        return model.int8_layer_names()
    return [name for name, m in model.named_modules()
            if ".quantized" in type(m).__module__ and ("Conv" in type(m).__name__ or "Linear" in type(m).__name__)]


def float_conv_layers(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]


def dynamic_int8(model: nn.Module) -> nn.Module:
    """The report's quantize_dynamic(..., qint8). For a conv U-Net nothing changes: dynamic quantization
    handles Linear/RNN layers only (pytorch/pytorch#71110), which int8_layers() reports honestly."""
    with _quiet():
        return torch.ao.quantization.quantize_dynamic(model.eval(), {nn.Linear, nn.LSTM, nn.GRU}, dtype=torch.qint8)


def _qconfig_mapping(backend: str, qat: bool = False):
    from torch.ao.quantization import get_default_qat_qconfig_mapping, get_default_qconfig_mapping
    return (get_default_qat_qconfig_mapping if qat else get_default_qconfig_mapping)(backend)


def _custom_config():
    """Causal models' StreamPad modules stay modules (traced through, FX would freeze their offline branch and
    lose the streaming state); they run on float tensors between the int8 convs."""
    from torch.ao.quantization.fx.custom_config import PrepareCustomConfig

    return PrepareCustomConfig().set_non_traceable_module_classes([StreamPad])


def prepare_static(model: nn.Module, backend: str = "x86") -> nn.Module:
    """Insert observers (BN folded into convs, conv+BN+ReLU fused). model: float, [B,1,F,T] -> [B,1,F,T]."""
    from torch.ao.quantization.quantize_fx import prepare_fx
    backend = select_backend(backend)
    torch.backends.quantized.engine = backend
    with _quiet():
        prepared = prepare_fx(model.eval(), _qconfig_mapping(backend), (torch.zeros(1, 1, 128, 128),),
                              prepare_custom_config=_custom_config())
    return carry_spec(prepared, model)


def convert(prepared: nn.Module) -> nn.Module:
    from torch.ao.quantization.quantize_fx import convert_fx
    with _quiet():
        return carry_spec(convert_fx(prepared.eval()), prepared)


@torch.no_grad()
def static_int8(model: nn.Module, calibration: torch.Tensor, cfg: StaticQuantConfig = StaticQuantConfig()) -> nn.Module:
    """Post-training static int8. calibration: normalised tiles [N, 1, F, T] (N > 0)."""
    if calibration is None or calibration.numel() == 0:
        raise ChvoiceError("static quantization needs calibration data (got none)")
    prepared = prepare_static(model, cfg.backend)
    for i in range(0, calibration.shape[0], 32):
        prepared(calibration[i:i + 32])
    return convert(prepared)


def prepare_qat(model: nn.Module, backend: str = "x86") -> nn.Module:
    """Fake-quantized copy for quantization-aware fine-tuning (train mode)."""
    from torch.ao.quantization.quantize_fx import prepare_qat_fx
    backend = select_backend(backend)
    torch.backends.quantized.engine = backend
    with _quiet():
        prepared = prepare_qat_fx(model.train(), _qconfig_mapping(backend, qat=True), (torch.zeros(2, 1, 128, 128),),
                                  prepare_custom_config=_custom_config())
    return carry_spec(prepared, model)      # the fine-tune reads the model's STFT from it


def skeleton_static(model: nn.Module, backend: str = "x86") -> nn.Module:
    """An int8 model of the right structure with placeholder qparams; load a saved state dict into it."""
    return convert(prepare_static(model, backend))
