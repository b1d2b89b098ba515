"""What kind of U-Net a model is, read off its spec, and what that allows: the graph it exports as (an ONNX / PT2E
tile graph, an ONNX streaming step, or none) and whether its output is dB alone. The compression steps ask here;
how each kind is run (its engine and live modes) is the engine layer's (`families`)."""
from __future__ import annotations

from torch import nn

from ..errors import ChvoiceError
from .unet import is_causal, is_phase_aware

GRAPH = {"tile": "tile", "phase": None, "causal": "step"}          # what each kind exports as
MAGNITUDE_ONLY = {"tile": True, "phase": False, "causal": True}    # dB-tile losses, quantization, teachers

_GRAPH_USERS = {"tile": "non-causal magnitude tile models", "step": "causal models (one streaming hop)"}
_GRAPH_INSTEAD = {"tile": "it exports as a tile graph",
                  "phase": "phase-aware models run offline in PyTorch only",
                  "causal": "causal models keep their streaming state between hops: chvoice export writes their "
                            "streaming step, live --backend onnxruntime runs it"}


def kind_of(model: nn.Module) -> str:
    """"tile", "phase" or "causal" for a float, fused, int8 or exported model (anything that carries its spec or
    its pads); a causal phase head is refused by the spec (UNetConfig)."""
    if is_causal(model):
        return "causal"
    return "phase" if is_phase_aware(model) else "tile"


def require_graph(model: nn.Module, graph: str, what: str) -> None:
    """ChvoiceError unless the model exports as `graph` ("tile" or "step"); `what` names the refusing step."""
    kind = kind_of(model)
    if GRAPH[kind] != graph:
        raise ChvoiceError(f"{what} takes {_GRAPH_USERS[graph]}; this is a {kind} model ({_GRAPH_INSTEAD[kind]})")
