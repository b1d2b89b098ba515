"""Artifact formats of the registry: how a saved model of each quantization format is rebuilt before its state dict
is loaded (its skeleton), and how its full-scale twin (untrained weights, for architecture latency) is made."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..errors import ChvoiceError
from .bf16 import Bf16Model
from .ort import OrtTileModel, quantize_graph, tile_graph
from .pt2e import pt2e_int8, pt2e_skeleton
from .quantize import dynamic_int8, skeleton_static, static_int8


@dataclass(frozen=True)
class QuantFormat:
    """How an artifact of one quantization format is rebuilt before its state dict is loaded, and how its
    full-scale twin (untrained weights, for architecture latency) is made."""

    name: str
    skeleton: Callable[[nn.Module, dict], nn.Module]          # (float model, checkpoint) -> module to load into
    twin: Callable[[nn.Module, torch.Tensor], nn.Module]       # (float model, calibration tiles) -> model
    twin_format: str | None = None                             # the twin's format (QAT twins are static int8)


FORMATS: dict[str | None, QuantFormat] = {}


def _register_format(f: QuantFormat) -> None:
    FORMATS[f.name] = f


def quant_format(name: str | None) -> QuantFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise ChvoiceError(f"unknown quantization format {name!r} (saved by a newer chvoice?)") from None


def _static_skeleton(m, ckpt):
    return skeleton_static(m, ckpt.get("backend", "x86"))


def _static_twin(m, calib):
    return static_int8(m, calib)


def _dynamic_fn(m, _):
    return dynamic_int8(m)


def _pt2e_skeleton(m, ckpt):
    return pt2e_skeleton(m)


def _pt2e_qat_skeleton(m, ckpt):
    return pt2e_skeleton(m, qat=True)


def _pt2e_twin(m, calib):
    return pt2e_int8(m, calib)


def _bf16(m, _):
    return Bf16Model(m)


def _ort_skeleton(m, ckpt):
    return OrtTileModel.empty()


def _onnx_twin(m, calib):
    return OrtTileModel(tile_graph(m))


def _ort_int8_twin(m, calib):
    return OrtTileModel(quantize_graph(tile_graph(m), calib, True))


for _f in (QuantFormat(None, lambda m, ckpt: m, lambda m, calib: m),
           QuantFormat("dynamic", _dynamic_fn, _dynamic_fn, "dynamic"),
           QuantFormat("static", _static_skeleton, _static_twin, "static"),
           QuantFormat("qat", _static_skeleton, _static_twin, "static"),
           QuantFormat("pt2e", _pt2e_skeleton, _pt2e_twin, "pt2e"),
           QuantFormat("pt2e-qat", _pt2e_qat_skeleton, _pt2e_twin, "pt2e"),   # QAT twins: the same PT2E kernels
           QuantFormat("bf16", _bf16, _bf16, "bf16"),
           QuantFormat("onnx", _ort_skeleton, _onnx_twin, "onnx"),
           QuantFormat("onnx-int8", _ort_skeleton, _ort_int8_twin, "onnx-int8")):
    _register_format(_f)
