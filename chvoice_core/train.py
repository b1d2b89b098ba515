"""The training loop: Adam on the report's dB-tile MSE or the perceptual loss (both in losses.py); learning-rate
warm-up and cosine decay, gradient clipping, a validation set (validation.py) scored during training with the best
checkpoint kept, mixing in DataLoader workers, progress bar, loss history, checkpoints, resume, bf16 autocast, and
DistributedDataParallel under torchrun (gloo on CPU, NCCL on CUDA)."""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from .audio_io import atomic_path
from .data.pairs import PairSampler, StepBatches
from .dsp import FrontEnd
from .errors import ChvoiceError
from .losses import PERCEPTUAL_SISDR_WEIGHT, TargetFn, Tensor, as_tensor, db_pairs, perceptual_loss, tile_loss
from .models.io import load_model, model_to_dict, save_model
from .models.unet import front_end
from .validation import Validation

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
    residual_weight: float = 0.0  # the perceptual loss's extra weight on noise left in (losses.perceptual_loss)
    high_band_weight: float = 0.0  # the perceptual loss's extra weight on bins from 3 kHz up (losses.perceptual_loss)
    time_budget_s: float = 0.0   # stop after this many seconds of training (0: no limit); see lr_factor
    # mixed precision: "bf16" runs the model's forward under torch.autocast (convolutions in bfloat16; weights,
    # optimiser, STFT and loss stay float32). A width-32 510-frame step of 16 tiles took 0.87 s instead of 2.1 s on
    # this project's 2-core Xeon (AMX-BF16); CPUs without bf16 units run it slower than float32.
    amp: str = "none"            # none | bf16


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
                noisy_t, clean_t = as_tensor(noisy, device), as_tensor(clean, device)
                if wave_target is not None:
                    clean_t = wave_target(noisy_t, clean_t)
                loss = perceptual_loss(net, noisy_t, clean_t, fe, cfg.sisdr_weight, cfg.residual_weight,
                                       cfg.high_band_weight)
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
