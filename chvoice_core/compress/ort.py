"""ONNX Runtime execution of tile models: the float graph as exported by torch.onnx, and ONNX Runtime's own
static QDQ int8 quantization of it (u8 activations, s8 per-channel weights, calibrated on training tiles).

An `OrtTileModel` is an nn.Module whose only state is the serialised ONNX graph (a uint8 buffer), so it saves,
loads (weights_only) and runs through the same artifact, denoiser and benchmark code as every PyTorch model."""
from __future__ import annotations

import copy
import io
import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import ChvoiceError
from ..models.kinds import require_graph
from ..models.unet import front_end
from .quantize import int8_layers


def available() -> bool:
    """True when onnx (for export) and onnxruntime (to run) are importable."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


# torch.onnx.export keeps process-wide state (GLOBALS.in_onnx_export) and is not re-entrant: two exports at once,
# from any two threads, fail. Every export of the package goes through `export_onnx`.
_EXPORT_LOCK = threading.Lock()


def export_onnx(module: nn.Module, args: tuple, **kw) -> bytes:
    """torch.onnx.export (TorchScript exporter, opset 17) of `module` on example `args`, serialised; one at a time
    in the process. kw: input_names, output_names, dynamic_axes."""
    buf = io.BytesIO()
    with _EXPORT_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")     # tracer warnings about Python-side values the graphs make explicit
        torch.onnx.export(module, args, buf, dynamo=False, opset_version=17, **kw)
    return buf.getvalue()


def _need() -> None:
    if not available():
        raise ChvoiceError("ONNX steps need onnx and onnxruntime (pip install 'chvoice[live]')")


@torch.no_grad()
def tile_graph(model: nn.Module, n_bins: int | None = None, frames: int = 128) -> bytes:
    """The ONNX graph of a float, non-causal tile model: 'tiles' [batch, 1, F, T] -> 'out' (batch dynamic; F: the
    model's front end's bins unless given)."""
    _need()
    n_bins = n_bins or front_end(model).n_bins
    require_graph(model, "tile", "an ONNX tile graph")
    if int8_layers(model):
        raise ChvoiceError("ONNX export takes float models (quantize in ONNX Runtime: the ort-int8 step)")
    return export_onnx(copy.deepcopy(model).eval(), (torch.zeros(1, 1, n_bins, frames),), input_names=["tiles"],
                       output_names=["out"], dynamic_axes={"tiles": {0: "batch"}, "out": {0: "batch"}})


def quantize_graph(graph: bytes, calibration: torch.Tensor, per_channel: bool = True) -> bytes:
    """ONNX Runtime static QDQ int8 of a float tile graph, calibrated (min-max) on tiles [N, 1, F, T]."""
    _need()
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if calibration is None or calibration.numel() == 0:
        raise ChvoiceError("ONNX Runtime quantization needs calibration data (got none)")

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"tiles": calibration[i:i + 8].numpy().astype(np.float32)}
                                 for i in range(0, calibration.shape[0], 8)])

        def get_next(self):
            return next(self.batches, None)

    with tempfile.TemporaryDirectory() as d:
        src, pre, dst = Path(d) / "float.onnx", Path(d) / "pre.onnx", Path(d) / "int8.onnx"
        src.write_bytes(graph)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
            quantize_static(str(pre), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        return dst.read_bytes()


class OrtTileModel(nn.Module):
    """Runs a serialised ONNX tile graph with ONNX Runtime (CPU provider, as many intra-op threads as torch is
    set to use). forward: [B, 1, F, T] -> [B, 1, F, T]."""

    def __init__(self, graph: bytes | torch.Tensor, config=None):
        super().__init__()
        data = graph if isinstance(graph, torch.Tensor) else torch.frombuffer(bytearray(graph), dtype=torch.uint8)
        self.register_buffer("graph", data.clone())
        self.config = config
        self._session: dict = {}

    @classmethod
    def empty(cls) -> "OrtTileModel":
        """A placeholder to load a saved state dict into (the buffer takes the saved graph's size on load)."""
        return cls(torch.zeros(0, dtype=torch.uint8))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        g = state_dict.get(prefix + "graph")
        if isinstance(g, torch.Tensor) and g.shape != self.graph.shape:
            self.graph = torch.zeros_like(g)
        self._session.clear()
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def int8_layer_names(self) -> list[str]:
        """Conv nodes whose weights come through a DequantizeLinear (QDQ int8; ONNX Runtime fuses them into
        int8 kernels)."""
        import onnx
        g = onnx.load_from_string(self.graph.numpy().tobytes()).graph
        dq = {o for n in g.node if n.op_type == "DequantizeLinear" for o in n.output}
        return [n.name for n in g.node if n.op_type in ("Conv", "ConvTranspose") and len(n.input) > 1
                and n.input[1] in dq]

    def session(self):
        threads = torch.get_num_threads()
        if self._session.get("threads") != threads:
            _need()
            import onnxruntime as ort
            so = ort.SessionOptions()
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            self._session.update(threads=threads, run=ort.InferenceSession(self.graph.numpy().tobytes(), so,
                                                                           providers=["CPUExecutionProvider"]))
        return self._session["run"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu":
            raise ChvoiceError("ONNX Runtime models run on the CPU here (the CUDA provider is not wired in)")
        out = self.session().run(None, {"tiles": np.ascontiguousarray(x.detach().float().numpy())})[0]
        return torch.from_numpy(out)
