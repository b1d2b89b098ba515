"""ONNX Runtime backend for streaming a causal model.

A streaming hop is a small, fixed computation: the newest frame(s) and every StreamPad's cached past frames in,
the output frame(s) and the updated caches out. Exported once with torch.onnx (TorchScript exporter) and run by
onnxruntime, it skips PyTorch's per-module Python overhead, which is what bounds a one-frame step of a small
network: width-32 causal U-Net, one frame, one thread: PyTorch eager (conv+BN+ReLU fused) about 1.5 ms,
onnxruntime about 0.6 ms (measured on the 2-core dev VM; the live benchmark reports its own figures).
Float models only: static int8 models stream through PyTorch.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .audio_io import atomic_path
from .compress.ort import OrtTileModel, available, export_onnx, tile_graph
from .compress.quantize import int8_layers
from .errors import ChvoiceError
from .models.kinds import GRAPH, kind_of, require_graph
from .models.unet import StreamState, front_end, stream_pads, streaming

Tensor = torch.Tensor


class StepModule(nn.Module):
    """(frames [1, 1, F, k], *states) -> (output frames [1, 1, F, k], *new states): one streaming hop of a causal
    model with the pads' state passed explicitly, so that a tracer sees it as inputs and outputs."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.pads = stream_pads(model)

    def forward(self, x: Tensor, *states: Tensor) -> tuple[Tensor, ...]:
        state = StreamState()
        state.frames.update(zip(self.pads, states))
        with streaming(state):
            y = self.model(x)
        return (y, *[state.frames[p] for p in self.pads])


@torch.no_grad()
def initial_states(model: nn.Module, n_bins: int, frames: int) -> list[Tensor]:
    """The zero states of every StreamPad for a stream of [1, 1, n_bins, frames] steps."""
    state = StreamState()
    with streaming(state):
        model(torch.zeros(1, 1, n_bins, frames))
    return [torch.zeros_like(state.frames[p]) for p in stream_pads(model)]


@torch.no_grad()
def export_step(model: nn.Module, n_bins: int = 128, frames: int = 1) -> tuple[bytes, list[Tensor]]:
    """The ONNX graph (serialised) of one streaming hop of `frames` frames of a float causal model, and the
    zero states a stream starts from (the graph's state inputs, in order)."""
    require_graph(model, "step", "the ONNX streaming step")
    if int8_layers(model):
        raise ChvoiceError("the ONNX streaming step exports float models only (int8 models stream in PyTorch)")
    model = model.eval()
    states = initial_states(model, n_bins, frames)
    names = [f"state{i}" for i in range(len(states))]
    # eval wrapper: the exporter restores the wrapper's training flag afterwards, recursively, and a fresh
    # module is in training mode (BatchNorm would then use batch statistics)
    graph = export_onnx(StepModule(model).eval(), (torch.zeros(1, 1, n_bins, frames), *states),
                        input_names=["frames", *names], output_names=["out", *[n + "_next" for n in names]])
    return graph, states


class OrtStep:
    """One streaming hop in onnxruntime, shared by every session of a model: stateless, each call takes a
    session's states and returns the new ones (InferenceSession.run is safe to call from many threads)."""

    def __init__(self, model: nn.Module, n_bins: int = 128, frames: int = 1, threads: int = 1):
        import onnxruntime as ort
        graph, zero = export_step(model, n_bins, frames)
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(graph, so, providers=["CPUExecutionProvider"])
        self.zero = [s.numpy() for s in zero]
        self.names = [f"state{i}" for i in range(len(self.zero))]

    def zero_states(self) -> list[np.ndarray]:
        """The states a stream starts from (copies: a session's own)."""
        return [z.copy() for z in self.zero]

    def __call__(self, x: Tensor, states: list[np.ndarray]) -> tuple[Tensor, list[np.ndarray]]:
        """(frames [1, 1, F, k], states) -> (output frames [1, 1, F, k], new states)."""
        out = self.session.run(None, {"frames": np.ascontiguousarray(x.numpy(), np.float32),
                                      **dict(zip(self.names, states))})
        return torch.from_numpy(out[0]), out[1:]


@torch.no_grad()
def export_model(model: nn.Module, path, frames: int = 128, n_bins: int | None = None) -> dict:
    """Write a model as ONNX for deployment. Non-causal U-Nets: the tile model [B, 1, F, T] (normalised dB in,
    normalised dB out; batch dynamic, T = `frames`, a multiple of 2**depth); models that already run in ONNX
    Runtime (the `onnx` and `ort-int8` steps: float or QDQ int8) are written as they are. Causal U-Nets: the
    streaming step (one frame and every layer's state in, the output frame and the new states out), which is
    what a live deployment runs. F (`n_bins`): the model's front end's bins unless given. Returns a description of
    the graph's inputs and outputs and the STFT around it."""
    fe = front_end(model)
    n_bins = n_bins or fe.n_bins
    if isinstance(model, OrtTileModel):
        graph = model.graph.numpy().tobytes()
        desc = {"kind": "tile", "inputs": {"tiles": ["batch", 1, n_bins, frames]}, "outputs": ["out"],
                "int8_layers": len(model.int8_layer_names())}
    elif int8_layers(model):
        raise ChvoiceError("ONNX export takes float models or ONNX Runtime ones; for int8 ONNX quantize the float "
                           "model with ONNX Runtime first: chvoice quantize FLOAT.pt --mode ort-int8 --out Q.pt")
    elif GRAPH[kind_of(model)] == "step":
        graph, states = export_step(model.eval(), n_bins, 1)
        desc = {"kind": "causal-step", "inputs": {"frames": [1, 1, n_bins, 1],
                                                  **{f"state{i}": list(s.shape) for i, s in enumerate(states)}},
                "outputs": ["out"] + [f"state{i}_next" for i in range(len(states))]}
    else:
        graph = tile_graph(model, n_bins, frames)
        desc = {"kind": "tile", "inputs": {"tiles": ["batch", 1, n_bins, frames]}, "outputs": ["out"]}
    with atomic_path(path) as tmp:
        tmp.write_bytes(graph)
    return {**desc, "front_end": {"n_fft": fe.n_fft, "hop": fe.hop, "window": "hann", "sample_rate": fe.sample_rate}}
