"""Static int8 (post-training or quantization-aware) through torchao's PT2E flow, the successor of
torch.ao.quantization's FX API: torch.export -> prepare_pt2e(X86InductorQuantizer) -> calibrate -> convert_pt2e -> torch.compile (inductor with
freezing, which folds the int8 weights and fuses quantize/dequantize into oneDNN int8 convolutions).

The artifact keeps the calibrated *prepared* graph's state dict (float weights + observer ranges): loading
re-exports the float architecture, loads that state, and converts, so nothing but tensors is unpickled. The
compiled kernels are built on the first call (seconds; inductor caches them on disk)."""
from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

from ..errors import ChvoiceError
from ..models.kinds import require_graph
from ..models.unet import carry_spec, front_end

EXAMPLE_TILES = 2        # batch of the export example; the batch dimension stays dynamic


def _quantizer(qat: bool = False):
    import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as xiq
    return xiq.X86InductorQuantizer().set_global(xiq.get_default_x86_inductor_quantization_config(is_qat=qat))


def prepare(model: nn.Module, n_bins: int | None = None, frames: int = 128, qat: bool = False) -> torch.fx.GraphModule:
    """Export a float tile model ([B, 1, F, T], batch dynamic; F: the model's front end's bins unless given) and
    insert PT2E observers (qat: fake-quantize modules, exported in training mode so BatchNorm trains with them;
    .train()/.eval() work on the result)."""
    from torchao.quantization.pt2e import allow_exported_model_train_eval
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e, prepare_qat_pt2e
    n_bins = n_bins or front_end(model).n_bins
    require_graph(model, "tile", "PT2E int8")
    batch = torch.export.Dim("batch", min=1, max=4096)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        float_model = copy.deepcopy(model)
        exported = torch.export.export(float_model.train(qat), (torch.zeros(EXAMPLE_TILES, 1, n_bins, frames),),
                                       dynamic_shapes=({0: batch},)).module()
        prepared = (prepare_qat_pt2e if qat else prepare_pt2e)(exported, _quantizer(qat))
    allow_exported_model_train_eval(prepared)    # in place
    return carry_spec(prepared, model)           # a QAT fine-tune reads the model's STFT from it


class Pt2eInt8(nn.Module):
    """A calibrated PT2E graph, run as its converted and compiled int8 form. forward: [B, 1, F, T] -> same."""

    def __init__(self, prepared: torch.fx.GraphModule, config=None):
        super().__init__()
        self.prepared = prepared
        self.config = config
        self._run: dict = {}      # the compiled model (a plain dict keeps it out of the state dict)

    def compiled(self):
        if "fn" not in self._run:
            self._run["fn"] = torch.compile(self._converted(), dynamic=False)
        return self._run["fn"]

    def _converted(self) -> torch.fx.GraphModule:
        from torchao.quantization.pt2e import move_exported_model_to_eval
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return convert_pt2e(move_exported_model_to_eval(copy.deepcopy(self.prepared)))

    def int8_layer_names(self) -> list[str]:
        """The convolutions whose weights the converted graph dequantizes from int8 (they lower to int8 kernels)."""
        g = self._converted().graph
        names = []
        for n in g.nodes:
            if n.op == "call_function" and "conv" in str(n.target) and len(n.args) > 1:
                w = n.args[1]
                if getattr(w, "op", None) == "call_function" and "dequantize" in str(w.target):
                    names.append(n.name)
        return names

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        result = super().load_state_dict(state_dict, strict=strict, assign=assign)
        # observers' own loading skips `eps` (the X86 quantizer sets 2**-12 for some), which changes their scales
        with torch.no_grad():
            for k, v in state_dict.items():
                if k.endswith(".eps") and isinstance(v, torch.Tensor):
                    self.get_buffer(k).copy_(v)
        self._run.clear()
        return result

    def train(self, mode: bool = True) -> "Pt2eInt8":
        # an exported graph has no train/eval switch (its BatchNorms are folded at export): only the flag changes
        self.training = mode
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One tile per compiled call: a single static shape compiles once (dynamic batch shapes fail in
        inductor's int8 conv lowering, and each new static batch would compile again). It costs speed: width 32,
        one 4 s clip (7 tiles), 1 thread: 14.0 ms per s of audio this way, 9.8 compiled for batch 7."""
        import torch._inductor.config as inductor
        fn = self.compiled()
        # freezing makes the int8 weights constants, so inductor pre-packs them for oneDNN (without it the compiled
        # int8 model was slower than fp32 eager); a config patch, not a global setting, active while compiling.
        # Tiles are cloned inside inference mode so the compiled graph always sees the same kind of tensor: dynamo
        # guards on a tensor's dispatch keys, and a caller's no_grad, inference_mode or inference tensor each
        # recompiled the model (4-5 s on a warm inductor cache, 3 times per model in the benchmark suite)
        with torch.inference_mode(), inductor.patch(freezing=True):
            y = torch.cat([fn(x[i:i + 1].clone(memory_format=torch.contiguous_format)) for i in range(x.shape[0])])
        return y.clone()     # a normal tensor again: callers may write into it outside inference mode


@torch.no_grad()
def pt2e_int8(model: nn.Module, calibration: torch.Tensor) -> Pt2eInt8:
    """Post-training static int8 through PT2E. calibration: normalised tiles [N, 1, F, T]."""
    if calibration is None or calibration.numel() == 0:
        raise ChvoiceError("PT2E quantization needs calibration data (got none)")
    prepared = prepare(model, calibration.shape[-2], calibration.shape[-1])
    for i in range(0, calibration.shape[0], 32):
        prepared(calibration[i:i + 32])
    return Pt2eInt8(prepared, getattr(model, "config", None)).eval()


def pt2e_skeleton(model: nn.Module, qat: bool = False) -> Pt2eInt8:
    """A Pt2eInt8 of the float model's architecture with uncalibrated observers (qat: fake-quantize modules):
    load a saved state into it."""
    return Pt2eInt8(prepare(model, qat=qat), getattr(model, "config", None)).eval()


def prepare_qat(model: nn.Module) -> torch.fx.GraphModule:
    """The PT2E QAT graph of a float tile model, in training mode: fine-tune it with train(), then wrap it in
    Pt2eInt8 (which converts it to int8 and compiles it)."""
    prepared = prepare(model, qat=True)
    prepared.train()      # the exported graph's train() switches its special ops in place and returns None
    return prepared
