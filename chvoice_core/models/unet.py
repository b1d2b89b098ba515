"""The report's U-Net: in-conv, `depth` down blocks, `depth` up blocks, 1x1 out-conv; and its time-causal twin.

Each block is a double 3x3 conv + BatchNorm + ReLU (the 2019 milesial layout the report used:
widths 64-128-256-512-512, both convs of a block output the block width, bilinear up-sampling and
skip concatenation). depth 4 / width 64 gives 13.4 M parameters and 7.7 GMAC per 128x128 tile.

The phase-aware variant (`UNetConfig(phase=True)`, offline only) also sees shift-invariant phase cues of the noisy
STFT (`dsp.phase_features`: 4 more input channels) and outputs a rotation of the noisy phase beside the dB
magnitude (2 more output channels, no rotation at zero): with the report's short frames (16 ms, 50 % overlap) the
noisy phase bounds a magnitude mask well below a complex one (real-noise test set, ideal masks: SI-SDR 15.8 dB
magnitude, 24.7 dB complex; research/oracle_masks.py).

The causal variant (`UNetConfig(causal=True)`) keeps the same modules, widths and MACs, but pools and up-samples
along frequency only and pads every 3x3 conv on the left in time (dilated 2**level in time, so the receptive
field still reaches about 1.5 s of the past). Its output frame t depends on input frames <= t only and is the
estimate for frame t - lookahead. The left pads are `StreamPad` modules: inside `streaming(state)` they carry their
last input frames across calls in `state` (the caller's, never the model's), so a hop computes its new frame(s) only
and equals the offline output.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import torch
from torch import nn

from ..dsp import FrontEnd, normalise, normalise_fixed
from .layers import Delay, DoubleConv, Down, StreamPad, StreamState, Up, streaming, time_dilation  # noqa: F401

Tensor = torch.Tensor
CAUSAL_DOUBLINGS = 0
PHASE_CHANNELS = 4      # dsp.phase_features: cos/sin of the instantaneous-frequency deviation and of the phase step


@dataclass(frozen=True)
class UNetConfig:
    """Architecture spec. `widths` (optional) lists every 3x3 conv's output channels in module order
    (inc.0, inc.1, down1.0, down1.1, ..., up<depth>.1); pruned models need it because their widths no
    longer follow base_width * 2**level."""

    depth: int = 4
    base_width: int = 64
    bilinear: bool = True
    residual: bool = True     # predict a correction to the (normalised) noisy input: starts as identity
    widths: tuple[int, ...] | None = field(default=None)
    # bounded gain head: output = input - softplus(out-conv), i.e. a per-bin gain of at most 0 dB (a mask in
    # [0, 1] on the linear magnitude, in units of the tile's dB std). False: the report's free residual.
    mask: bool = False
    # time-causal layout (see the module docstring); lookahead: output frame t estimates frame t - lookahead
    causal: bool = False
    lookahead: int = 0
    # phase-aware head (see the module docstring): input [B, 1 + PHASE_CHANNELS, F, T] (normalised dB, then
    # dsp.phase_features), output [B, 3, F, T] (dB, then the rotation (a, b) of dsp.rotate_phase)
    phase: bool = False
    # the STFT the model reads and writes (dsp.FrontEnd): the report's 16 ms frames at 50 % overlap by default;
    # 510/127 gives 32 ms frames at 75 % overlap with the same frame rate and tiles (256 bins instead of 128)
    n_fft: int = 254
    hop: int = 127
    # offline, 128-frame tiles start every tile_hop frames (dsp.FrontEnd.tile_hop): 64 overlaps them by half; a
    # longer hop runs fewer model calls per second of audio, for some quality at the seams (compress step `overlap`)
    tile_hop: int = 64

    def __post_init__(self) -> None:
        tile_frames = FrontEnd().tile_frames
        if not 1 <= self.tile_hop <= tile_frames:
            raise ValueError(f"tile_hop {self.tile_hop}: must be 1..{tile_frames} (the tile length, in frames)")
        bins = self.n_fft // 2 + 1
        if self.n_fft < 2 or self.n_fft % 2 or bins % 2 ** self.depth:
            raise ValueError(f"n_fft {self.n_fft}: its {bins} bins must halve {self.depth} times (depth); "
                             f"use an even n_fft with n_fft // 2 + 1 a multiple of {2 ** self.depth}, e.g. 254 or 510")
        if not 1 <= self.hop <= self.n_fft:
            raise ValueError(f"hop {self.hop}: must be 1..n_fft ({self.n_fft})")
        if self.phase and self.causal:
            raise ValueError("a phase-aware head is offline only (its phase cues need the previous frame's "
                             "phase, which the streaming state does not carry yet)")

    @property
    def in_channels(self) -> int:
        return 1 + PHASE_CHANNELS if self.phase else 1

    @property
    def out_channels(self) -> int:
        return 3 if self.phase else 1

    def conv_widths(self) -> tuple[int, ...]:
        if self.widths is not None:
            if len(self.widths) != 2 * (2 * self.depth + 1):
                raise ValueError(f"widths needs {2 * (2 * self.depth + 1)} entries for depth {self.depth}")
            return tuple(self.widths)
        b, d = self.base_width, self.depth
        # causal blocks keep every time frame at every level, so widths stay flat: doubling them per level as
        # the report does doubles a frame's cost per level (width 32: 4x the report layout's MACs per frame;
        # one doubling: 20.7 MMAC and 2.4 ms per frame on one thread, flat: 10.1 MMAC and 1.3 ms)
        doublings = min(d - 1, CAUSAL_DOUBLINGS) if self.causal else d - 1
        enc = [b * 2 ** min(i, doublings) for i in range(d + 1)]      # inc, down1..down_d
        dec = [enc[d - k - 1] if k < d else b for k in range(1, d + 1)]
        return tuple(w for w in enc + dec for _ in range(2))

    def front_end(self) -> FrontEnd:
        """The STFT this model reads and writes."""
        return FrontEnd(n_fft=self.n_fft, hop=self.hop, tile_hop=self.tile_hop)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"] = list(self.widths) if self.widths is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "UNetConfig":
        d = dict(d)
        if d.get("widths") is not None:
            d["widths"] = tuple(int(w) for w in d["widths"])
        return cls(**d)

    def with_widths(self, widths: tuple[int, ...]) -> "UNetConfig":
        return replace(self, widths=tuple(int(w) for w in widths))


class UNet(nn.Module):
    """Spectrogram U-Net. [B, 1, F, T] normalised dB tile -> [B, 1, F, T]; F and T divisible by 2**depth
    (causal: F only; any T). Phase-aware: [B, 5, F, T] -> [B, 3, F, T] (UNetConfig.phase)."""

    def __init__(self, config: UNetConfig = UNetConfig()):
        super().__init__()
        self.config = config
        d = config.depth
        w = config.conv_widths()
        pairs = [(w[2 * i], w[2 * i + 1]) for i in range(2 * d + 1)]   # (mid, out) per block
        c = config.causal
        self.inc = DoubleConv(config.in_channels, *pairs[0], c, time_dilation(0, c))
        self.downs = nn.ModuleList(Down(pairs[i][1], *pairs[i + 1], c, time_dilation(i + 1, c)) for i in range(d))
        enc_out = [p[1] for p in pairs[: d + 1]]
        ups = []
        c_low = enc_out[d]
        for k in range(1, d + 1):
            mid, out = pairs[d + k]
            ups.append(Up(c_low, enc_out[d - k], mid, out, config.bilinear, c, time_dilation(d - k, c)))
            c_low = out
        self.ups = nn.ModuleList(ups)
        self.outc = nn.Conv2d(c_low, config.out_channels, 1)
        if c:
            self.delay = Delay(config.lookahead)

    def forward(self, x: Tensor) -> Tensor:
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        h = skips.pop()
        for up in self.ups:
            h = up(h, skips.pop())
        y = self.outc(h)
        if self.config.phase:            # the dB channel leads; the rotation is the head's raw output
            y, rotation = y[:, :1], y[:, 1:]
            x = x[:, :1]
        if self.config.causal:
            x = self.delay(x)        # the input frame this output frame estimates
        if self.config.mask:
            db = x - nn.functional.softplus(y)
        else:
            db = x + y if self.config.residual else y
        return torch.cat([db, rotation], dim=1) if self.config.phase else db


def stream_pads(model: nn.Module) -> list[StreamPad]:
    """The StreamPad modules of a model (float, fused, int8 or DDP-wrapped alike); empty: not causal."""
    return [m for m in model.modules() if isinstance(m, StreamPad)]


def is_causal(model: nn.Module) -> bool:
    return bool(stream_pads(model))


def _spec(model: nn.Module) -> "UNetConfig | None":
    """The UNetConfig of a model: float, DDP-wrapped (in .module) or a loaded artifact (which carries it too)."""
    return getattr(getattr(model, "module", model), "config", None)


def carry_spec(derived: nn.Module, model: nn.Module) -> nn.Module:
    """`derived` (a graph traced, prepared or converted from `model`) keeps model's spec, so front_end() and the
    checkpoint see the same STFT and architecture for both. Returns `derived`."""
    config = _spec(model)
    if config is not None:
        derived.config = config
    return derived


def front_end(model: nn.Module) -> FrontEnd:
    """The STFT a model was trained on; the report's for models that carry no config."""
    config = _spec(model)
    return config.front_end() if config is not None else FrontEnd()


def is_phase_aware(model: nn.Module) -> bool:
    """Whether a model has the phase-aware head (UNetConfig.phase)."""
    return bool(getattr(_spec(model), "phase", False))


def causal_lookahead(model: nn.Module) -> int:
    """Frames an output frame lags its input frame (0 for non-causal models)."""
    return next((m.frames for m in model.modules() if isinstance(m, StreamPad) and m.is_delay), 0)


def normaliser_for(model: nn.Module):
    """The input standardisation a model was trained with: per tile (the report), or fixed constants (causal)."""
    return normalise_fixed if is_causal(model) else normalise


def fuse_for_inference(model: nn.Module) -> nn.Module:
    """A copy of a float eval-mode model with each conv -> BatchNorm -> ReLU folded into one conv+ReLU module:
    a third of the module calls, which is what a per-frame step of a causal model is bound by (width 32,
    one frame, one thread: 2.4 -> 1.6 ms). Quantized models are fused already and come back as they are."""
    import copy

    from torch.ao.quantization import fuse_modules
    if not any(isinstance(m, nn.BatchNorm2d) for m in model.modules()):
        return model
    model = copy.deepcopy(model).eval()
    groups = []
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Sequential):
            kids = list(mod.named_children())
            for i in range(len(kids) - 2):
                if isinstance(kids[i][1], nn.Conv2d) and isinstance(kids[i + 1][1], nn.BatchNorm2d) \
                        and isinstance(kids[i + 2][1], nn.ReLU):
                    groups.append([f"{name}.{kids[i + j][0]}" for j in range(3)])
    return fuse_modules(model, groups) if groups else model


def start_as_identity(model: "UNet") -> "UNet":
    """Zero the output conv of a residual U-Net, so that training starts from 'output = noisy input'.
    Measured at the quick budget (120 steps, weighted profile, 40 test utterances, seeds 0 / 1): SI-SDR gain
    smaller +6.20 / +6.09 dB (random init: -2.18 / +5.90), normal +6.43 / +7.18 (random: +4.39 / +6.34)."""
    if model.config.residual or model.config.mask:
        nn.init.zeros_(model.outc.weight)
        nn.init.zeros_(model.outc.bias)
    if model.config.mask:
        # softplus(-3) = 0.05 std: a gain of about -1 dB everywhere, close to the identity
        with torch.no_grad():
            model.outc.bias[0] = -3.0      # the dB channel; a phase head's rotation starts at zero
    return model


def with_phase_head(model: "UNet") -> "UNet":
    """A phase-aware copy of a trained magnitude U-Net that computes exactly what it did: the new input channels
    (phase cues) enter with zero weights and the new outputs (the rotation) start at zero, so fine-tuning starts
    from the magnitude model's quality. Float, non-causal models only."""
    cfg = model.config
    if cfg.phase:
        return model
    out = UNet(replace(cfg, phase=True))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    w_in, w_out, b_out = state["inc.0.weight"], state["outc.weight"], state["outc.bias"]
    state["inc.0.weight"] = torch.cat([w_in, w_in.new_zeros(w_in.shape[0], PHASE_CHANNELS, *w_in.shape[2:])], 1)
    state["outc.weight"] = torch.cat([w_out, w_out.new_zeros(2, *w_out.shape[1:])], 0)
    state["outc.bias"] = torch.cat([b_out, b_out.new_zeros(2)])
    out.load_state_dict(state)
    return out


def inference_layout(model: nn.Module, device: str | torch.device = "cpu") -> nn.Module:
    """Put a model's weights in the layout its convolutions run fastest in, in place; returns the model.
    On the CPU that is channels_last (oneDNN's native NHWC): with NCHW weights every fp32 conv reorders its
    input first. Measured, 1 thread, batch 1, one 128x128 tile (AMX Xeon): width-64 U-Net 115 -> 96 ms, its
    50 %-MAC pruned twin 64 -> 49 ms; static int8 models are unchanged (fbgemm packs its own weights).
    Inputs may stay NCHW: a conv follows its weights' layout, and the residual output comes back NCHW."""
    if torch.device(device).type == "cpu":
        model.to(memory_format=torch.channels_last)
    return model
