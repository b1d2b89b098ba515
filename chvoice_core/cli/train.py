"""`chvoice train`: a U-Net trained on noisy/clean pairs drawn on the fly."""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict, replace
from pathlib import Path

from ..api import model_path
from ..budgets import get_budget
from ..compress.artifact import load_artifact, load_float_model
from ..compress.distill import teacher_waveform
from ..data import get_profile, load_data
from ..data.mixing import LowFloor, NoiseEQ, NoiseWarp, SpeechGaps, SpeechWarp
from ..data.pairs import PairSampler
from ..data.profiles import load_category_weights
from ..data.rooms import TRAIN_ROOM_SEED
from ..data.speech import download_librispeech
from ..data.studio import with_studio_speech
from ..data.targets import GatedSpeech, TargetGate
from ..errors import ChvoiceError
from ..families import family_of
from ..models import UNet, start_as_identity
from ..models.archs import training_spec
from ..models.unet import with_phase_head
from ..train import TrainConfig, train
from ..validation import validation_set, validation_split
from .common import check_device, data_config


def cmd_train(a: argparse.Namespace) -> int:
    import torch

    check_device(a.device)
    if a.time_budget < 0:
        raise ChvoiceError("--time-budget must be >= 0 seconds (0: no limit)")
    for flag, value in (("--noise-warp", a.noise_warp), ("--noise-eq", a.noise_eq), ("--speech-warp", a.speech_warp),
                        ("--low-floor", a.low_floor), ("--speech-gaps", a.speech_gaps)):
        if not 0 <= value <= 1:
            raise ChvoiceError(f"{flag} {value}: a probability, 0..1")

    budget = get_budget(a.budget)
    profile = get_profile(a.profile)
    if a.phase and a.loss != "perceptual":
        raise ChvoiceError("--phase trains with --loss perceptual (dB tiles carry no phase)")
    cfg = training_spec(a.arch, budget.width_divisor, a.width, a.mask, a.phase, a.causal, a.lookahead, a.n_fft, a.hop)
    fe = cfg.front_end()
    out = Path(a.out)
    if out.exists() and not out.is_dir():
        raise ChvoiceError(f"--out {out}: exists and is not a folder")
    if a.download_librispeech:
        if not a.data_root:
            raise ChvoiceError("--download-librispeech needs --data-root to download into")
        download_librispeech(a.data_root, a.download_librispeech)
    data = load_data(data_config(a), broad=profile.category_probs is None)
    if a.threads:
        torch.set_num_threads(a.threads)
    train_speech, validation = data.train_speech, None
    if a.validate_every:
        train_speech, val_speech = validation_split(data.train_speech, a.seed)
        validation = validation_set(data, val_speech, profile, a.val_items, a.seed, a.val_key)
    if a.studio_speech:
        if not a.data_root:
            raise ChvoiceError("--studio-speech reads clean-speech/ under --data-root")
        train_speech = with_studio_speech(train_speech, a.data_root)
    target_speech = None
    gate = None
    if a.target_gate:
        gate = replace(TargetGate(), **{k: v for k, v in (("over", a.target_gate_over),
                                                          ("floor_gain_db", a.target_gate_floor)) if v is not None})
        target_speech = GatedSpeech(train_speech, gate)
    elif a.target_gate_over is not None or a.target_gate_floor is not None:
        raise ChvoiceError("--target-gate-over / --target-gate-floor set the --target-gate; pass it too")
    rooms = data.rooms(seed=TRAIN_ROOM_SEED) if profile.p_room else None
    warp = NoiseWarp(p=a.noise_warp) if a.noise_warp > 0 else None
    eq = NoiseEQ(p=a.noise_eq) if a.noise_eq > 0 else None
    speech_warp = SpeechWarp(p=a.speech_warp) if a.speech_warp > 0 else None
    draw_profile = profile      # the training draws; validation keeps the profile as named
    if a.noise_weights:
        if profile.category_probs is not None:
            raise ChvoiceError(f"--noise-weights: profile {profile.name} fixes its categories; use a broad one "
                               f"(general)")
        draw_profile = replace(profile, category_weights=load_category_weights(a.noise_weights,
                                                                               data.train_noise.categories))
    sampler = PairSampler(train_speech, data.train_noise, draw_profile, fe.tile_samples, seed=a.seed, rooms=rooms,
                          warp=warp, eq=eq, speech_warp=speech_warp, target_speech=target_speech,
                          floor=LowFloor(p=a.low_floor) if a.low_floor > 0 else None,
                          gaps=SpeechGaps(p=a.speech_gaps) if a.speech_gaps > 0 else None)
    torch.manual_seed(a.seed)     # initial weights are part of what --seed fixes
    model = start_as_identity(UNet(cfg))
    if a.init:                    # fine-tune: start from a trained float model of the same architecture
        init, imeta = load_artifact(a.init)
        if imeta.get("quant"):
            raise ChvoiceError(f"--init {a.init}: a quantized model ({imeta['quant']}); give the float model")
        if cfg.phase and init.config == cfg.__class__(**{**cfg.to_dict(), "phase": False}):
            init = with_phase_head(init)      # a magnitude model grows a phase head that starts at no rotation
        # the net is convolutional, so a model can start from one trained on another STFT (re-framing)
        same_net = lambda c: c.__class__(**{**c.to_dict(), "n_fft": cfg.n_fft, "hop": cfg.hop})
        if same_net(init.config) != cfg:
            raise ChvoiceError(f"--init {a.init}: its architecture ({init.config}) is not the one asked for ({cfg}); "
                               f"pass the same --arch/--width/--mask/--causal/--lookahead/--phase")
        model.load_state_dict(init.state_dict())
        # a fine-tune keeps its lineage: what the starting model had been through (nested for repeated passes)
        init_training = {k: imeta[k] for k in ("train_steps", "train_seconds", "batch_size", "lr", "init_training")
                         if k in imeta}
    wave_target = None
    if a.teacher_target:
        if a.loss != "perceptual":
            raise ChvoiceError("--teacher-target trains with --loss perceptual (the teacher's waveforms are the target)")
        if not 0 <= a.teacher_alpha <= 1:
            raise ChvoiceError(f"--teacher-alpha {a.teacher_alpha}: a share, 0..1")
        teacher, _ = load_float_model(model_path(a.teacher_target), f"--teacher-target {a.teacher_target}",
                                      "its waveforms take the noisy phase, not its rotation")
        wave_target = teacher_waveform(teacher, a.teacher_alpha)
    elif a.teacher_alpha:
        raise ChvoiceError("--teacher-alpha mixes the clean target into --teacher-target's output; pass it too")
    tc = TrainConfig(steps=a.steps or budget.steps, batch_size=a.batch_size or budget.batch_size, lr=a.lr,
                     seed=a.seed, device=a.device, log_every=budget.log_every,
                     checkpoint_every=a.checkpoint_every or budget.checkpoint_every, progress=not a.quiet,
                     loss=a.loss, schedule=a.schedule, warmup_steps=a.warmup, clip_grad_norm=a.clip_grad,
                     workers=a.workers, validate_every=a.validate_every, time_budget_s=a.time_budget, amp=a.amp,
                     residual_weight=a.residual_weight, high_band_weight=a.high_band_weight,
                     **({"sisdr_weight": a.sisdr_weight} if a.sisdr_weight is not None else {}))
    meta = {"arch": a.arch, "family": family_of(model).name, "profile": profile.name, "budget": budget.name, "data": data.label,
            "train_speakers": len(train_speech.speakers()), "seed": a.seed, "loss": a.loss,
            "schedule": a.schedule, "lr": a.lr, "batch_size": tc.batch_size, "device": a.device, "amp": a.amp,
            **({"noise_warp": a.noise_warp} if a.noise_warp else {}),
            **({"noise_eq": a.noise_eq} if a.noise_eq else {}),
            **({"speech_warp": a.speech_warp} if a.speech_warp else {}),
            **({"low_floor": a.low_floor} if a.low_floor else {}),
            **({"speech_gaps": a.speech_gaps} if a.speech_gaps else {}),
            **({"noise_weights": dict(draw_profile.category_weights)} if a.noise_weights else {}),
            **({"target_gate": True, "target_gate_config": asdict(gate)} if gate else {}),
            **({"studio_speech": True} if a.studio_speech else {}),
            **({"sisdr_weight": tc.sisdr_weight} if a.loss == "perceptual" else {}),
            **({"residual_weight": a.residual_weight} if a.residual_weight else {}),
            **({"high_band_weight": a.high_band_weight} if a.high_band_weight else {}),
            **({"teacher_target": str(a.teacher_target), "teacher_alpha": a.teacher_alpha} if a.teacher_target else {}),
            **({"init": str(a.init), "init_training": init_training} if a.init else {})}
    result = train(model, sampler, tc, out, meta=meta, resume=a.resume, validation=validation, wave_target=wave_target)
    if int(__import__("os").environ.get("RANK", "0")) == 0:
        print(json.dumps({"model": str(out / "model.pt"), "steps": result["steps"],
                          "final_loss": round(sum(result["history"][-10:]) / min(10, len(result["history"])), 3),
                          **({"params_in_sync": result["params_in_sync"]} if "params_in_sync" in result else {})}))
    return 0
