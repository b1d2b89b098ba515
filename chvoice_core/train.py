"""Training: MSE on dB tiles with Adam (the report's setup), or a perceptual loss (compressed-magnitude MSE +
SI-SDR of the resynthesised waveform); learning-rate warm-up and cosine decay, gradient clipping, a validation
set scored during training with the best checkpoint kept, mixing in DataLoader workers, progress bar, loss
history, checkpoints, resume, and DistributedDataParallel under torchrun (gloo on CPU, NCCL on CUDA)."""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from .audio_io import atomic_path
from .data.pairs import PairSampler, StepBatches
from .dsp import FrontEnd, analyse, from_db, istft, phase_features, rotate_phase, stft, to_db
from .errors import ChvoiceError
from .metrics import TOP_DB
from .models.io import model_to_dict, save_model
from .models.unet import causal_lookahead, front_end, is_phase_aware, normaliser_for

if TYPE_CHECKING:
    from .data import DataSplit, Mixture, NoiseProfile
    from .data.noise import NoiseBank
    from .data.speech import SpeechCorpus

Tensor = torch.Tensor
# A target function maps (noisy dB tiles, clean dB tiles) [B,1,F,T] to the tiles the model should output;
# plain training returns the clean tiles, distillation mixes in a teacher's output.
TargetFn = Callable[[Tensor, Tensor], Tensor]


# Weights of the perceptual loss, chosen so that both terms move the loss alike at the start of training
# (measured at initialisation on `general` batches: 10 x compressed-magnitude MSE ~2, SI-SDR of the mixtures -4..20 dB).
PERCEPTUAL_COMPRESS = 0.3
PERCEPTUAL_SISDR_WEIGHT = 0.05
AMP_MODES = ("none", "bf16")


@dataclass(frozen=True)
class TrainConfig:
    steps: int
    batch_size: int = 16
    lr: float = 4e-4
    seed: int = 0
    device: str = "cpu"
    log_every: int = 10
    checkpoint_every: int = 100
    progress: bool = True
    channels_last: bool = True   # NHWC: a width-8 U-Net step took 0.28 s, not 0.48 s, on one CPU thread
    loss: str = "db-mse"         # db-mse (the report) | perceptual (compressed magnitude + SI-SDR)
    warmup_steps: int = 0        # linear warm-up, then cosine decay to min_lr_fraction (schedule="cosine")
    schedule: str = "constant"   # constant | cosine
    min_lr_fraction: float = 0.05
    clip_grad_norm: float = 0.0  # 0: no clipping
    workers: int = 0             # DataLoader worker processes that mix batches (0: mix in this process)
    validate_every: int = 0      # steps between validation passes (0: never); needs `validation`
    weight_decay: float = 0.0
    sisdr_weight: float = PERCEPTUAL_SISDR_WEIGHT   # the perceptual loss's SI-SDR term
    time_budget_s: float = 0.0   # stop after this many seconds of training (0: no limit); see lr_factor
    # mixed precision: "bf16" runs the model's forward under torch.autocast (convolutions in bfloat16; weights,
    # optimiser, STFT and loss stay float32). A width-32 510-frame step of 16 tiles took 0.87 s instead of 2.1 s on
    # this project's 2-core Xeon (AMX-BF16); CPUs without bf16 units run it slower than float32.
    amp: str = "none"            # none | bf16


def _as_tensor(x: np.ndarray | Tensor, device: torch.device) -> Tensor:
    # non_blocking: from the loader's pinned memory a host-to-GPU copy then queues instead of waiting
    return (torch.from_numpy(x) if isinstance(x, np.ndarray) else x).to(device, non_blocking=True)


def db_pairs(noisy: np.ndarray | Tensor, clean: np.ndarray | Tensor, fe: FrontEnd, device: torch.device
             ) -> tuple[Tensor, Tensor]:
    """Waveforms [B, N] -> dB tiles [B, 1, F, T]; the clean target is floored TOP_DB below its peak so
    that digital silence (-100 dB) does not dominate the loss."""
    n_db, _ = analyse(_as_tensor(noisy, device), fe)
    c_db, _ = analyse(_as_tensor(clean, device), fe)
    floor = c_db.amax(dim=(1, 2), keepdim=True) - TOP_DB
    return n_db.unsqueeze(1), torch.maximum(c_db, floor).unsqueeze(1)


def batch_si_sdr(est: Tensor, ref: Tensor, eps: float = 1e-8) -> Tensor:
    """SI-SDR in dB per item. est, ref: [B, N] -> [B]."""
    est = est - est.mean(dim=-1, keepdim=True)
    ref = ref - ref.mean(dim=-1, keepdim=True)
    alpha = (est * ref).sum(-1, keepdim=True) / (ref.pow(2).sum(-1, keepdim=True) + eps)
    target = alpha * ref
    return 10 * torch.log10((target.pow(2).sum(-1) + eps) / ((est - target).pow(2).sum(-1) + eps))


def perceptual_loss(model: nn.Module, noisy: Tensor, clean: Tensor, fe: FrontEnd,
                    sisdr_weight: float = PERCEPTUAL_SISDR_WEIGHT) -> Tensor:
    """Compressed-magnitude MSE (|S|^0.3, both sides scaled by the noisy RMS so a mixture's level does not
    weigh it) minus a small weight times the SI-SDR of the resynthesised waveform (noisy phase). A phase-aware
    model's estimate takes its rotated phase, and its spectral term is the usual mix of the compressed
    magnitude (0.3) and the compressed complex spectrum (0.7), which also scores the phase.
    noisy, clean: waveforms [B, N]."""
    spec = stft(noisy, fe)
    n_db = to_db(spec.abs(), fe).unsqueeze(1)
    x, mean, std = normaliser_for(model)(n_db)
    phased = is_phase_aware(model)
    if phased:
        x = torch.cat([x, phase_features(spec, fe)], dim=1)
    out = model(x).float()
    pred_db = out[:, 0] * std[:, 0] + mean[:, 0]
    c_spec = stft(clean, fe)
    look = causal_lookahead(model)       # (phase-aware models are not causal)
    length = noisy.shape[-1]
    if look:   # output frame t estimates frame t - look: score the frames that have their estimate
        keep = spec.shape[-1] - look
        pred_db, spec, c_spec = pred_db[..., look:], spec[..., :keep], c_spec[..., :keep]
        length = (keep - 1) * fe.hop
    phase = rotate_phase(torch.angle(spec), out[:, 1:]) if phased else torch.angle(spec)
    mag = from_db(pred_db)
    scale = noisy.pow(2).mean(-1).sqrt().clamp_min(1e-5)[:, None, None]
    c_mag = c_spec.abs()
    c = PERCEPTUAL_COMPRESS
    m_c, c_c = (mag / scale).clamp_min(1e-8) ** c, (c_mag / scale).clamp_min(1e-8) ** c
    spectral = torch.mean((m_c - c_c) ** 2)
    if phased:
        diff = torch.polar(m_c, phase) - torch.polar(c_c, torch.angle(c_spec))
        spectral = 0.3 * spectral + 0.7 * torch.mean(diff.real ** 2 + diff.imag ** 2)   # |diff|^2, no sqrt at 0
    est = istft(torch.polar(mag, phase), fe, length)
    sdr = batch_si_sdr(est, clean[..., :length]).clamp(max=60.0)
    return spectral * 10.0 - sisdr_weight * sdr.mean()


def lr_factor(step: int, cfg: "TrainConfig", elapsed_s: float = 0.0) -> float:
    """Learning-rate multiplier at `step`: linear warm-up, then constant or cosine decay. With a time budget
    the decay follows whichever runs out first, steps or seconds, so a run cut by the clock still ends
    annealed rather than at its peak rate."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.schedule == "cosine":
        span = max(1, cfg.steps - cfg.warmup_steps)
        t = (step - cfg.warmup_steps) / span
        if cfg.time_budget_s > 0:
            t = max(t, elapsed_s / cfg.time_budget_s)
        t = min(1.0, t)
        return cfg.min_lr_fraction + (1 - cfg.min_lr_fraction) * 0.5 * (1 + math.cos(math.pi * t))
    return 1.0


@dataclass
class Validation:
    """A fixed validation set scored during training: noisy/clean waveforms [N] at 16 kHz (speakers and
    noise drawn apart from the test set). The best checkpoint by `key` is kept as best.pt."""

    noisy: list[np.ndarray]
    clean: list[np.ndarray]
    key: str = "pesq_wb"      # pesq_wb | si_sdr | stoi

    def score(self, model: nn.Module, fe: FrontEnd | None = None) -> dict[str, float]:
        from .enhance import Denoiser
        from .metrics import pesq_wb, si_sdr, stoi
        was = model.training
        model.eval()
        den = Denoiser(model, fe)
        rows = []
        for x, y in zip(self.noisy, self.clean):
            e = den(x)
            rows.append((si_sdr(e, y), pesq_wb(e, y), stoi(e, y)))
        model.train(was)
        model.to(memory_format=torch.channels_last)
        a = np.array(rows, dtype=np.float64)
        return {"si_sdr": float(np.nanmean(a[:, 0])), "pesq_wb": float(np.nanmean(a[:, 1])),
                "stoi": float(np.nanmean(a[:, 2]))}


def validation_split(train_speech: "SpeechCorpus", seed: int = 0) -> tuple["SpeechCorpus", "SpeechCorpus"]:
    """(training, validation) speakers: validation speakers are carved out of the training speakers (never the
    test speakers), the same ones for every run of a --seed, so packs and scoring tools can leave them out."""
    return train_speech.split_speakers(0.05, seed=seed + 1)


def validation_mixtures(data: "DataSplit", speech: "SpeechCorpus", bank: "NoiseBank", profile: "NoiseProfile",
                        n_items: int = 40, seed: int = 0) -> list["Mixture"]:
    """The validation recipe: `n_items` mixtures of at most 4 s of `speech` with noise from `bank`, in rooms of
    their own seed when the profile uses rooms (item i's noise, SNR and room depend only on seed and i)."""
    from .data import TestSetConfig, build_testset
    from .data.rooms import VALIDATION_ROOM_SEED
    items = build_testset(speech, bank, profile, TestSetConfig(n=n_items, seed=seed + 77, max_seconds=4.0),
                          rooms=data.rooms(seed=VALIDATION_ROOM_SEED) if profile.p_room else None)
    return [it.mixture for it in items]


def validation_set(data: "DataSplit", val_speech: "SpeechCorpus", profile: "NoiseProfile", n_items: int = 40,
                   seed: int = 0, key: str = "pesq_wb") -> Validation:
    """The fixed validation mixtures of a run: the validation recipe on the validation speakers and the
    training noise."""
    mixtures = validation_mixtures(data, val_speech, data.train_noise, profile, n_items, seed)
    return Validation([m.noisy for m in mixtures], [m.clean for m in mixtures], key)


def tile_loss(model: nn.Module, noisy_db: Tensor, target_db: Tensor) -> Tensor:
    """MSE in dB between the de-normalised prediction and the target tiles (a causal model's output frame t
    against target frame t - lookahead)."""
    if is_phase_aware(model):
        raise ChvoiceError("a phase-aware model trains with the perceptual loss (--loss perceptual): dB tiles "
                           "carry no phase")
    x, mean, std = normaliser_for(model)(noisy_db)
    pred = model(x) * std + mean
    look = causal_lookahead(model)
    if look:
        pred, target_db = pred[..., look:], target_db[..., :target_db.shape[-1] - look]
    return torch.mean((pred - target_db) ** 2)


def _cpu_copy(model: nn.Module) -> nn.Module:
    import copy
    return copy.deepcopy(model).cpu().to(memory_format=torch.contiguous_format)


def _dist_info() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return world, int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))


def train(model: nn.Module, sampler: PairSampler, cfg: TrainConfig, out_dir: str | os.PathLike | None = None,
          meta: dict[str, Any] | None = None, target_fn: TargetFn | None = None, resume: bool = False,
          fe: FrontEnd | None = None, on_step: Callable[[int, nn.Module], nn.Module | None] | None = None,
          make_optimizer: Callable[[nn.Module], torch.optim.Optimizer] | None = None,
          validation: Validation | None = None, wave_target: TargetFn | None = None) -> dict[str, Any]:
    """Train `model` in place for cfg.steps steps. Writes <out_dir>/checkpoint.pt every checkpoint_every
    steps (model, optimiser, step, loss history) and <out_dir>/model.pt + history.json at the end. With a
    validation set, <out_dir>/best.pt holds the best-scoring weights so far, and model.pt is the best model.

    `on_step(step, model)` may return a replaced model (pruning changes the architecture); the optimiser
    is then rebuilt. `target_fn` (dB-MSE) or `wave_target` (perceptual loss) replace the clean targets, as
    distillation does. Returns {'history': [...], 'steps': n, ...}."""
    fe = fe or front_end(model)
    world, rank, local_rank = _dist_info()
    device = torch.device(cfg.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ChvoiceError("--device cuda requested but no CUDA device is available")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    distributed = world > 1
    if distributed and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True     # tiles have one fixed shape: let cuDNN pick its fastest kernels
    if cfg.amp not in AMP_MODES:
        raise ChvoiceError(f"unknown --amp {cfg.amp!r}; known: {', '.join(AMP_MODES)}")
    autocast = lambda: torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.amp == "bf16")
    torch.manual_seed(cfg.seed)
    sampler.rank = rank
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model.to(device, memory_format=fmt).train()
    make_optimizer = make_optimizer or (lambda m: torch.optim.AdamW(m.parameters(), lr=cfg.lr,
                                                                    weight_decay=cfg.weight_decay)
                                        if cfg.weight_decay else torch.optim.Adam(m.parameters(), lr=cfg.lr))

    def wrap(m: nn.Module) -> nn.Module:
        return nn.parallel.DistributedDataParallel(m) if distributed else m

    net = wrap(model)
    opt = make_optimizer(model)
    history: list[float] = []
    val_history: list[dict] = []
    best: dict | None = None
    start = 0
    elapsed0 = 0.0                # training seconds spent before a resume
    out = Path(out_dir) if out_dir is not None else None
    ckpt_path = out / "checkpoint.pt" if out else None
    if resume and ckpt_path is not None and ckpt_path.is_file():
        state = torch.load(ckpt_path, map_location=device, weights_only=True)
        model.load_state_dict(state["model"]["state_dict"])
        opt.load_state_dict(state["optimizer"])
        history, start = list(state["history"]), int(state["step"])
        elapsed0 = float(state.get("elapsed_s", 0.0))
        val_history = list(state.get("validation", []))
        best = max(val_history, key=lambda r: r[validation.key]) if (val_history and validation) else None
    is_main = rank == 0
    if cfg.loss not in ("db-mse", "perceptual"):
        raise ChvoiceError(f"unknown loss {cfg.loss!r}; known: db-mse, perceptual")
    if cfg.loss == "perceptual" and target_fn is not None:
        raise ChvoiceError("the perceptual loss takes waveform targets (wave_target); target_fn gives dB tiles")
    if wave_target is not None and cfg.loss != "perceptual":
        raise ChvoiceError("wave_target (a teacher's waveforms) goes with the perceptual loss")
    base_lrs = [g["lr"] for g in opt.param_groups]
    if cfg.workers > 0:
        loader = torch.utils.data.DataLoader(StepBatches(sampler, start, cfg.steps, cfg.batch_size), batch_size=None,
                                             num_workers=cfg.workers, prefetch_factor=4,
                                             pin_memory=device.type == "cuda")
        batches = iter(loader)
    else:
        batches = None
    bar = tqdm(total=cfg.steps, initial=start, desc="train", disable=not (cfg.progress and is_main),
               dynamic_ncols=True)
    t0 = time.monotonic()
    steps_done = cfg.steps

    def elapsed() -> float:
        return elapsed0 + time.monotonic() - t0

    # Step losses stay on the device until a flush: reading each one back would make the host wait for the
    # accelerator every step (on a GPU the next step's kernels could no longer queue behind this one's).
    pending: list[Tensor] = []

    def flush(step: int) -> None:
        if not pending:
            return
        values = torch.stack(pending).float()
        if distributed:
            dist.all_reduce(values)
            values /= world
        first = step + 1 - len(pending)
        pending.clear()
        for i, value in enumerate(values.tolist()):
            if not math.isfinite(value):
                raise ChvoiceError(f"training diverged at step {first + i} (loss {value})")
            history.append(value)

    for step in range(start, cfg.steps):
        noisy, clean = next(batches) if batches is not None else sampler.batch(step, cfg.batch_size)
        f = lr_factor(step, cfg, elapsed())
        for g, lr0 in zip(opt.param_groups, base_lrs):
            g["lr"] = lr0 * f
        with autocast():
            if cfg.loss == "perceptual":
                noisy_t, clean_t = _as_tensor(noisy, device), _as_tensor(clean, device)
                if wave_target is not None:
                    clean_t = wave_target(noisy_t, clean_t)
                loss = perceptual_loss(net, noisy_t, clean_t, fe, cfg.sisdr_weight)
            else:
                n_db, c_db = db_pairs(noisy, clean, fe, device)
                n_db = n_db.contiguous(memory_format=fmt)
                target = target_fn(n_db, c_db) if target_fn else c_db
                loss = tile_loss(net, n_db, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.clip_grad_norm:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad_norm)
        opt.step()
        pending.append(loss.detach())
        if on_step is not None:
            new = on_step(step, model)
            if new is not None and new is not model:
                model = new.to(device, memory_format=fmt).train()
                net, opt = wrap(model), make_optimizer(model)
        out_of_time = cfg.time_budget_s > 0 and elapsed() >= cfg.time_budget_s
        if distributed and cfg.time_budget_s > 0:    # every rank must stop at the same step
            t = torch.tensor([float(out_of_time)], device=device)
            dist.all_reduce(t)
            out_of_time = bool(t.item() > 0)
        log = (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps
        last = step + 1 == cfg.steps or out_of_time
        validate = bool(validation is not None and cfg.validate_every
                        and ((step + 1) % cfg.validate_every == 0 or last))
        checkpoint = ckpt_path is not None and ((step + 1) % cfg.checkpoint_every == 0 or out_of_time)
        if log or last or validate or checkpoint:   # the same steps on every rank
            flush(step)
        validate, checkpoint = validate and is_main, checkpoint and is_main
        if log:
            bar.set_postfix(loss=f"{np.mean(history[-cfg.log_every:]):.3f}",
                            **({"val": f"{val_history[-1][validation.key]:.3f}"} if val_history else {}))
        bar.update(1)
        if validate:
            row = {"step": step + 1, **validation.score(model, fe)}
            val_history.append(row)
            if best is None or row[validation.key] > best[validation.key]:
                best = row
                if out is not None:
                    save_model(out / "best.pt", _cpu_copy(model), {**(meta or {}), "validation": row})
            if out is not None:
                with atomic_path(out / "validation.json") as tmp:
                    tmp.write_text(json.dumps(val_history, indent=1))
        if checkpoint:
            with atomic_path(ckpt_path) as tmp:
                torch.save({"model": model_to_dict(model), "optimizer": opt.state_dict(), "step": step + 1,
                            "history": history, "validation": val_history, "elapsed_s": elapsed()}, tmp)
        if out_of_time:
            steps_done = step + 1
            break
    bar.close()
    result: dict[str, Any] = {"history": history, "steps": steps_done, "world_size": world,
                              "seconds": round(elapsed(), 1),
                              "validation": val_history, "best": best}
    if best is not None and out is not None and (out / "best.pt").is_file():
        from .models.io import load_model
        model.load_state_dict(load_model(out / "best.pt")[0].state_dict())
    if distributed:
        # every rank must hold the same weights after DDP; check it rather than assume it
        flat = torch.cat([p.detach().flatten() for p in model.parameters()]).double()
        sums = [torch.zeros(2, dtype=torch.float64, device=device) for _ in range(world)]
        dist.all_gather(sums, torch.stack([flat.sum(), (flat * torch.arange(len(flat), device=device)).sum()]))
        result["params_in_sync"] = bool(all(torch.allclose(s, sums[0]) for s in sums))
    if is_main and out is not None:
        meta = {**(meta or {}), "loss_history": history, "train_steps": steps_done, "world_size": world,
                "train_seconds": round(elapsed(), 1),
                "loss": cfg.loss, **({"validation": best} if best else {}),
                **({"params_in_sync": result["params_in_sync"]} if distributed else {})}
        save_model(out / "model.pt", model.cpu(), meta)
        with atomic_path(out / "history.json") as tmp:
            tmp.write_text(json.dumps({"loss": history, "batch_size": cfg.batch_size, "lr": cfg.lr}))
        model.to(device)
    if distributed:
        dist.barrier()
    result["model"] = model
    return result
