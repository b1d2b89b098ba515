"""The `chvoice` command: train, denoise, evaluate, testset."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .errors import ChvoiceError


def _add_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data (default: built-in synthetic speech and noise)")
    g.add_argument("--data-root", help="folder with LibriSpeech/ and ESC-50/ and/or chvoice-noises/")
    g.add_argument("--speech", help="LibriSpeech root or any folder of audio files")
    g.add_argument("--noise", help="ESC-50 folder or the report's <category>-mono/ folders")
    g.add_argument("--test-noise", help="noise source for testing only; its clips are kept out of training")
    g.add_argument("--cache-dir", help="where built-in data is generated (default ~/.cache/chvoice or $CHVOICE_CACHE)")


def _data_config(a: argparse.Namespace):
    from .data import DataConfig
    return DataConfig(data_root=a.data_root, speech=a.speech, noise=a.noise, test_noise=a.test_noise,
                      cache_dir=a.cache_dir, train_only=getattr(a, "train_only", False))


def cmd_train(a: argparse.Namespace) -> int:
    import torch

    check_device(a.device)
    if a.time_budget < 0:
        raise ChvoiceError("--time-budget must be >= 0 seconds (0: no limit)")
    for flag, value in (("--noise-warp", a.noise_warp), ("--noise-eq", a.noise_eq), ("--speech-warp", a.speech_warp),
                        ("--low-floor", a.low_floor)):
        if not 0 <= value <= 1:
            raise ChvoiceError(f"{flag} {value}: a probability, 0..1")
    from .budgets import get_budget
    from .data import get_profile, load_data
    from .data.pairs import PairSampler
    from .data.rooms import TRAIN_ROOM_SEED
    from .models import UNet, start_as_identity
    from .models.archs import arch_config
    from .train import TrainConfig, train

    budget = get_budget(a.budget)
    profile = get_profile(a.profile)
    cfg = arch_config(a.arch, budget.width_divisor if a.width is None else 1)
    if a.width is not None:
        if a.width < 1:
            raise ChvoiceError("--width must be at least 1")
        cfg = cfg.__class__(**{**cfg.to_dict(), "base_width": a.width, "widths": None})
    if a.mask:
        cfg = cfg.__class__(**{**cfg.to_dict(), "mask": True})
    if a.phase:
        if a.causal:
            raise ChvoiceError("--phase: a phase-aware head is offline only; drop --causal")
        if a.loss != "perceptual":
            raise ChvoiceError("--phase trains with --loss perceptual (dB tiles carry no phase)")
        cfg = cfg.__class__(**{**cfg.to_dict(), "phase": True})
    if a.causal:
        from .models.io import MAX_LOOKAHEAD
        if not 0 <= a.lookahead <= MAX_LOOKAHEAD:
            raise ChvoiceError(f"--lookahead must be 0..{MAX_LOOKAHEAD} frames")
        cfg = cfg.__class__(**{**cfg.to_dict(), "causal": True, "lookahead": a.lookahead})
    try:
        cfg = cfg.__class__(**{**cfg.to_dict(), "n_fft": a.n_fft, "hop": a.hop})
    except ValueError as e:
        raise ChvoiceError(f"--n-fft/--hop: {e}") from None
    fe = cfg.front_end()
    out = Path(a.out)
    if out.exists() and not out.is_dir():
        raise ChvoiceError(f"--out {out}: exists and is not a folder")
    if a.download_librispeech:
        from .data.speech import download_librispeech
        if not a.data_root:
            raise ChvoiceError("--download-librispeech needs --data-root to download into")
        download_librispeech(a.data_root, a.download_librispeech)
    data = load_data(_data_config(a), broad=profile.category_probs is None)
    if a.threads:
        torch.set_num_threads(a.threads)
    train_speech, validation = data.train_speech, None
    if a.validate_every:
        from .train import validation_set, validation_split
        train_speech, val_speech = validation_split(data.train_speech, a.seed)
        validation = validation_set(data, val_speech, profile, a.val_items, a.seed, a.val_key)
    if a.studio_speech:
        from .data.studio import with_studio_speech
        if not a.data_root:
            raise ChvoiceError("--studio-speech reads clean-speech/ under --data-root")
        train_speech = with_studio_speech(train_speech, a.data_root)
    target_speech = None
    if a.target_gate:
        from .data.targets import GatedSpeech
        target_speech = GatedSpeech(train_speech)
    rooms = data.rooms(seed=TRAIN_ROOM_SEED) if profile.p_room else None
    from .data.mixing import LowFloor, NoiseEQ, NoiseWarp, SpeechWarp
    warp = NoiseWarp(p=a.noise_warp) if a.noise_warp > 0 else None
    eq = NoiseEQ(p=a.noise_eq) if a.noise_eq > 0 else None
    speech_warp = SpeechWarp(p=a.speech_warp) if a.speech_warp > 0 else None
    sampler = PairSampler(train_speech, data.train_noise, profile, fe.tile_samples, seed=a.seed, rooms=rooms,
                          warp=warp, eq=eq, speech_warp=speech_warp, target_speech=target_speech,
                          floor=LowFloor(p=a.low_floor) if a.low_floor > 0 else None)
    torch.manual_seed(a.seed)     # initial weights are part of what --seed fixes
    model = start_as_identity(UNet(cfg))
    if a.init:                    # fine-tune: start from a trained float model of the same architecture
        from .compress.artifact import load_artifact
        init, imeta = load_artifact(a.init)
        if imeta.get("quant"):
            raise ChvoiceError(f"--init {a.init}: a quantized model ({imeta['quant']}); give the float model")
        if cfg.phase and init.config == cfg.__class__(**{**cfg.to_dict(), "phase": False}):
            from .models.unet import with_phase_head
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
    tc = TrainConfig(steps=a.steps or budget.steps, batch_size=a.batch_size or budget.batch_size, lr=a.lr,
                     seed=a.seed, device=a.device, log_every=budget.log_every,
                     checkpoint_every=a.checkpoint_every or budget.checkpoint_every, progress=not a.quiet,
                     loss=a.loss, schedule=a.schedule, warmup_steps=a.warmup, clip_grad_norm=a.clip_grad,
                     workers=a.workers, validate_every=a.validate_every, time_budget_s=a.time_budget, amp=a.amp,
                     **({"sisdr_weight": a.sisdr_weight} if a.sisdr_weight is not None else {}))
    meta = {"arch": a.arch + ("-causal" if a.causal else ""), "profile": profile.name, "budget": budget.name, "data": data.label,
            "train_speakers": len(train_speech.speakers()), "seed": a.seed, "loss": a.loss,
            "schedule": a.schedule, "lr": a.lr, "batch_size": tc.batch_size, "device": a.device, "amp": a.amp,
            **({"noise_warp": a.noise_warp} if a.noise_warp else {}),
            **({"noise_eq": a.noise_eq} if a.noise_eq else {}),
            **({"speech_warp": a.speech_warp} if a.speech_warp else {}),
            **({"low_floor": a.low_floor} if a.low_floor else {}),
            **({"target_gate": True} if a.target_gate else {}),
            **({"studio_speech": True} if a.studio_speech else {}),
            **({"sisdr_weight": tc.sisdr_weight} if a.loss == "perceptual" else {}),
            **({"init": str(a.init), "init_training": init_training} if a.init else {})}
    result = train(model, sampler, tc, out, meta=meta, resume=a.resume, validation=validation)
    if int(__import__("os").environ.get("RANK", "0")) == 0:
        print(json.dumps({"model": str(out / "model.pt"), "steps": result["steps"],
                          "final_loss": round(sum(result["history"][-10:]) / min(10, len(result["history"])), 3),
                          **({"params_in_sync": result["params_in_sync"]} if "params_in_sync" in result else {})}))
    return 0


def check_device(name: str) -> str:
    """--device: one clear line for an unknown or unavailable device."""
    import torch
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise ChvoiceError(f"--device {name}: unknown device (use cpu, cuda or cuda:N)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ChvoiceError(f"--device {name}: no CUDA device is available here")
    if dev.type not in ("cpu", "cuda"):
        raise ChvoiceError(f"--device {name}: unsupported device type {dev.type!r} (use cpu or cuda)")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ChvoiceError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) here")
    return name


def _load_denoiser(model_path: str | None, device: str = "cpu"):
    from .api import load
    check_device(device)
    return load(model_path, device)


def _is_model_path(p: str) -> bool:
    return Path(p).suffix in (".pt", ".pth", ".ckpt")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def plan_outputs(inputs: list[Path], output: str | None) -> list[tuple[Path, Path]]:
    """(input, destination) pairs; refuses, before any work, to write over an input or to send two inputs
    to one destination."""
    if output and len(inputs) > 1 and not Path(output).is_dir():
        raise ChvoiceError(f"-o {output}: with several inputs, -o must be an existing folder")
    plan = []
    for p in inputs:
        if output is None:
            dst = p.with_name(f"{p.stem}-denoised{p.suffix}")
        elif Path(output).is_dir():
            dst = Path(output) / p.name
        else:
            dst = Path(output)
        plan.append((p, dst))
    for p, dst in plan:
        for q in inputs:
            if _same_file(dst, q):
                raise ChvoiceError(f"{dst}: refusing to write over the input {q} (choose another -o)")
    seen: dict[Path, Path] = {}
    for p, dst in plan:
        key = dst.resolve()
        if key in seen:
            raise ChvoiceError(f"{dst}: two inputs ({seen[key]} and {p}) would be written to the same file")
        seen[key] = p
    return plan


def cmd_denoise(a: argparse.Namespace) -> int:
    import tempfile

    from .audio_io import io_error, target_mode
    from .enhance import denoise_file
    from .longform import scan

    paths = list(a.paths)
    model_path = paths.pop(0) if paths and _is_model_path(paths[0]) else a.model
    if not paths:
        raise ChvoiceError("no input files given")
    inputs = [Path(p) for p in paths]
    for p in inputs:   # check every input (in blocks: any length) before writing anything
        scan(p)
    plan = plan_outputs(inputs, a.output)
    denoiser = _load_denoiser(model_path, a.device)
    # all outputs or none: each is written to a hidden file beside its destination, renamed at the end
    staged: list[tuple[Path, Path]] = []
    try:
        for p, dst in plan:
            if dst.is_dir():
                raise ChvoiceError(f"{dst}: cannot write (is a folder)")
            try:
                dst.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=f".{dst.stem}.", suffix=dst.suffix, dir=dst.parent)
                os.close(fd)
            except OSError as e:
                raise io_error(dst, e) from None
            staged.append((Path(tmp), dst))
            try:
                denoise_file(denoiser, p, tmp, progress=not a.quiet and len(plan) == 1, label=dst)
            except OSError as e:
                raise io_error(dst, e) from None
        done: list[Path] = []
        for tmp, dst in staged:
            try:
                os.chmod(tmp, target_mode(dst))
                os.replace(tmp, dst)
            except OSError as e:
                written = f"; already written: {', '.join(map(str, done))}" if done else ""
                raise ChvoiceError(f"{io_error(dst, e)}{written}") from None
            done.append(dst)
    finally:
        for tmp, _ in staged:
            if tmp.exists():
                tmp.unlink()
    for _, dst in plan:
        print(dst)
    return 0


def cmd_evaluate(a: argparse.Namespace) -> int:
    from tabulate import tabulate

    from .audio_io import atomic_path, list_audio_files, read_audio
    from .evaluate import evaluate_pairs, evaluate_unpaired, paired_folders, summary

    if a.model and a.peer:
        raise ChvoiceError("give a model or --peer, not both")
    if a.out:   # fail before minutes of scoring, not after
        from .audio_io import io_error
        out = Path(a.out)
        if out.exists() and not out.is_dir():
            raise ChvoiceError(f"--out {out}: exists and is not a folder")
        try:
            out.mkdir(parents=True, exist_ok=True)
            probe = out / f".chvoice-write-test-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as e:
            raise io_error(out, e) from None
    if a.peer:
        from .baselines import get_peer
        enhance, label = get_peer(a.peer), f"peer:{a.peer}"
        ok, why = enhance.available()
        if not ok:
            raise ChvoiceError(f"peer {a.peer}: {why}")
    else:
        enhance = _load_denoiser(a.model, a.device) if a.model else None
        label = Path(a.model).stem if a.model else "noisy input"
    if a.live:
        if enhance is None or a.peer:
            raise ChvoiceError("--live streams a chvoice model: give a model file")
        enhance, label = _live_enhancer(enhance, a.live), f"{label} (live, {a.live})"
    if a.clean:
        pairs = paired_folders(a.noisy, a.clean)
        df = evaluate_pairs(pairs, enhance, progress=not a.quiet)
    else:   # no reference: a non-intrusive metric
        nd = Path(a.noisy)
        if not nd.is_dir():
            raise ChvoiceError(f"{nd}: no such folder")
        files = list_audio_files(nd)
        if not files:
            raise ChvoiceError(f"{nd}: no audio files")
        df = evaluate_unpaired([(f.relative_to(nd).with_suffix("").as_posix(), read_audio(f)[0]) for f in files],
                               enhance, progress=not a.quiet)
    print(f"# {label}: {len(df)} files")
    shown = df[[c for c in df.columns if not c.startswith(("pause_in_", "pause_out_"))]]
    print(tabulate(shown, headers="keys", tablefmt="github", floatfmt=".3f", showindex=False, missingval="n/a"))
    means = summary(df)
    nan = shown.drop(columns=["id"]).isna().sum()
    print("\nmean: " + ", ".join(f"{k} {v:.3f}" + (f" ({nan[k]} n/a)" if nan.get(k) else "")
                                 for k, v in means.items() if not k.startswith("pause_")))
    if "pause_frames" in means:
        print(f"pause attenuation, pooled over {means['pause_frames']} pause frames (dB, input / output energy): "
              + ", ".join(f"{k[len('pause_att_'):]} {v:.1f}" for k, v in means.items() if k.startswith("pause_att_")))
    if "pesq_wb" in nan and nan["pesq_wb"]:
        print(f"n/a: PESQ needs at least 0.25 s of audio with speech ({nan['pesq_wb']} file(s) without a score)")
    out = Path(a.out) if a.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
        with atomic_path(out / "scores.csv") as tmp:
            df.to_csv(tmp, index=False)
        with atomic_path(out / "scores.json") as tmp:
            tmp.write_text(json.dumps({"model": a.model, "system": label, "files": df.to_dict(orient="records"),
                                       "mean": means}, indent=1))
        print(f"wrote {out / 'scores.csv'} and {out / 'scores.json'}")
    return 0


def _live_enhancer(den, mode: str):
    """The live engine as a file enhancer: each file streamed from silence in blocks of one hop per model call,
    exactly as `chvoice live` would process it (causal models: frame by frame)."""
    from .stream import make_streamer
    if mode == "causal" and not den.causal:
        raise ChvoiceError("--live causal needs a causal model")
    if mode != "causal" and den.causal:
        raise ChvoiceError(f"--live {mode}: a causal model streams with --live causal")
    try:
        return make_streamer(den.model, mode, fe=den.fe).denoise     # causal: ONNX Runtime when installed, the same samples
    except ValueError as e:
        raise ChvoiceError(f"--live: {e}, causal") from None


def cmd_testset(a: argparse.Namespace) -> int:
    from .data import TestSetConfig, build_testset, get_profile, load_data, write_testset
    profile = get_profile(a.profile)
    if a.n < 1:
        raise ChvoiceError("-n must be at least 1")
    data = load_data(_data_config(a))
    items = build_testset(data.test_speech, data.test_noise, profile,
                          TestSetConfig(n=a.n, seed=a.seed, max_seconds=a.max_seconds))
    out = write_testset(items, a.out)
    print(f"wrote {len(items)} pairs to {out}/noisy and {out}/clean ({data.label}, profile {profile.name})")
    return 0


def cmd_compress(a: argparse.Namespace) -> int:
    """Build a variant of the table, or a user recipe (--recipe, from --teacher or --arch), and write it."""
    import shutil

    from .audio_io import atomic_path
    from .budgets import get_budget
    from .compress.recipes import get_variant, user_variant
    from .data import get_profile
    from .data.sources import default_cache_dir
    from .zoo import Zoo

    if (a.variant is None) == (a.recipe is None):
        raise ChvoiceError("give a variant id (see `chvoice variants`) or --recipe STEPS, not both")
    if a.recipe is not None:
        variant = user_variant(a.name, a.recipe, a.arch, a.teacher)
    else:
        if a.teacher:
            raise ChvoiceError("--teacher goes with --recipe (a variant of the table trains its own teacher)")
        variant = get_variant(a.variant)
    get_profile(a.profile)
    out = Path(a.out)
    if out.suffix != ".pt":
        raise ChvoiceError(f"--out {out}: use a .pt file name")
    cache = Path(a.cache_dir) if a.cache_dir else default_cache_dir()
    zoo = Zoo(get_budget(a.budget), _data_config(a), cache_dir=cache, device=a.device, progress=not a.quiet,
              build_threads=a.threads or None, extra_variants=(variant,) if a.recipe is not None else ())
    e = zoo.entry(variant.id, a.profile)
    with atomic_path(out) as tmp:
        shutil.copyfile(e.path, tmp)
    print(json.dumps({"variant": variant.id, "profile": a.profile, "budget": a.budget, "out": str(out),
                      "recipe": variant.recipe, "teacher": variant.teacher, "params": e.meta["params"],
                      "macs": e.meta["macs"], "size_bytes": out.stat().st_size, "quant": e.meta.get("quant"),
                      "int8_layers": len(e.meta["int8_layers"]), "float_convs": len(e.meta["float_convs"])}))
    return 0


def cmd_zoo(a: argparse.Namespace) -> int:
    """Build (part of) the model zoo into a cache folder: `--shard i/n` for one node of many."""
    from .budgets import get_budget
    from .compress.recipes import VARIANTS, get_variant, load_recipes
    from .data import get_profile
    from .data.profiles import REPORT_PROFILES
    from .data.sources import default_cache_dir
    from .zoo import Zoo

    if a.real:
        return _zoo_real(a)
    if a.ship or a.children:
        raise ChvoiceError("--ship and --children go with --real")
    recipes = tuple(load_recipes(a.recipes)) if a.recipes else ()
    variants = [v.strip() for v in a.variants.split(",")] if a.variants else list(VARIANTS)
    profiles = [p.strip() for p in a.profiles.split(",")] if a.profiles else list(REPORT_PROFILES)
    for v in variants:
        get_variant(v)
    variants += [r.id for r in recipes]
    for p in profiles:
        get_profile(p)
    i, n = _shard_arg(a.shard)
    # the benchmark suite reads the zoo from <cache>/bench (see bench/conftest.py)
    cache = Path(a.cache_dir) if a.cache_dir else default_cache_dir()
    from .data import DataConfig
    # the data config the benchmark suite uses (--data-root only), so shards land where the suite looks
    zoo = Zoo(get_budget(a.budget), DataConfig(data_root=a.data_root), cache_dir=cache / "bench", device=a.device,
              progress=not a.quiet, build_threads=a.threads, extra_variants=recipes)
    done = zoo.build_shard(variants, profiles, i, n, log=None if a.quiet else print)
    print(json.dumps({"shard": f"{i}/{n}", "built": [f"{v}@{p}" for v, p in done], "cache": str(cache)}))
    return 0


def _shard_arg(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ChvoiceError(f"--shard {text}: use i/n, e.g. 1/4") from None
    return i, n


def _zoo_real(a: argparse.Namespace) -> int:
    """The real track's trained children, one a shard, resumable; --ship copies them into the package."""
    from .compress.real import REAL_CHILDREN, get_child
    from .data.sources import default_cache_dir
    from .realzoo import build_children

    if a.variants or a.profiles or a.recipes or a.budget != "quick":
        raise ChvoiceError("--real builds the registered real children (--children); --variants, --profiles, "
                           "--recipes and --budget are the proxy zoo's")
    children = ([get_child(c.strip()) for c in a.children.split(",") if c.strip()] if a.children
                else list(REAL_CHILDREN.values()))
    i, n = _shard_arg(a.shard)
    cache = Path(a.cache_dir) if a.cache_dir else default_cache_dir()
    rows = build_children(children, a.data_root, cache, i, n, device=a.device, threads=a.threads, ship=a.ship,
                          progress=not a.quiet, log=None if a.quiet else print)
    print(json.dumps({"shard": f"{i}/{n}", "children": rows}))
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    from .compress.artifact import load_artifact
    from .onnx_step import available, export_model
    if not available():
        raise ChvoiceError("ONNX export needs onnx and onnxruntime (pip install 'chvoice[live]')")
    if Path(a.out).suffix != ".onnx":
        raise ChvoiceError(f"-o {a.out}: use a .onnx file name")
    model, meta = load_artifact(a.model)
    desc = export_model(model, a.out)
    print(json.dumps({"model": a.model, "out": a.out, **desc, "size_bytes": Path(a.out).stat().st_size}))
    return 0


def cmd_variants(a: argparse.Namespace) -> int:
    from tabulate import tabulate

    from .compress.recipes import VARIANTS
    if a.steps:
        from dataclasses import fields

        from .compress.steps import STEPS
        rows = [(k.name, k.label, ", ".join(f"{f.name}={f.default!r}" for f in fields(k.config)) or "-")
                for k in STEPS.values()]
        print(tabulate(rows, headers=["step", "what", "parameters (defaults)"], tablefmt="github"))
        return 0
    rows = [(v.id, v.model_label, v.compression, "yes" if v.in_report else "new", v.arch, v.recipe)
            for v in VARIANTS.values()]
    print(tabulate(rows, headers=["variant", "model", "compression", "in report", "parent", "recipe"],
                   tablefmt="github"))
    return 0


def cmd_live(a: argparse.Namespace) -> int:
    import torch

    from .audio_io import SAMPLE_RATE, read_audio, resample, write_audio
    from .live import run_file, run_microphone
    from .stream import StreamConfig, make_streamer

    if a.mode is not None and a.mode != "causal":
        try:
            StreamConfig.mode(a.mode)
        except ValueError as e:
            raise ChvoiceError(f"{e}, causal") from None
    if a.list_devices:
        try:
            import sounddevice as sd
        except (ImportError, OSError) as e:
            raise ChvoiceError(f"listing devices needs sounddevice + PortAudio (apt-get install libportaudio2): {e}") from None
        print(sd.query_devices())
        return 0
    if (a.input is None) != (a.output is None):
        raise ChvoiceError("file mode needs both --input and --output")
    if a.threads is not None and a.threads < 1:
        raise ChvoiceError(f"--threads {a.threads}: must be at least 1")
    if a.block is not None and a.block < 1:
        raise ChvoiceError(f"--block {a.block}: must be at least 1 sample")
    if a.input and _same_file(Path(a.output), Path(a.input)):
        raise ChvoiceError(f"{a.output}: refusing to write over the input (choose another --output)")
    if a.output and Path(a.output).is_dir():
        raise ChvoiceError(f"{a.output}: cannot write (is a folder)")
    if a.input:   # check the input before the model loads, so bad input fails fast
        x, sr = read_audio(a.input)
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    model_path = a.model
    if model_path is None and a.mode in (None, "causal"):
        from .pretrained import live_model_path
        model_path = str(live_model_path())
    den = _load_denoiser(model_path)
    # no --mode: the model decides (a causal model streams frame by frame, others use the low-latency mode)
    a.mode = a.mode or ("causal" if den.causal else "low-latency")
    causal_mode = a.mode == "causal"
    if causal_mode != den.causal:
        raise ChvoiceError(f"{model_path or 'the default model'}: mode {a.mode} needs a "
                           f"{'causal' if causal_mode else 'non-causal'} model "
                           f"({'train one with chvoice train --causal' if causal_mode else 'use --mode causal'})")
    try:
        engine = make_streamer(den.model, a.mode, fe=den.fe, backend=a.backend)
    except ImportError as e:
        raise ChvoiceError(f"--backend {a.backend}: {e}") from None
    engine.warm_up()
    block = engine.cfg.step_frames * engine.fe.hop if a.block is None else a.block    # default: one model call
    if a.input:
        y, summary = run_file(engine, x, block, a.realtime, a.mode)
        write_audio(a.output, resample(y, SAMPLE_RATE, sr) if sr != SAMPLE_RATE else y, sr)
        summary["output"] = a.output
    else:
        summary = run_microphone(engine, block, a.device_in, a.device_out, a.seconds, a.mode)
    summary["threads"] = a.threads
    summary["engine"] = f"causal ({engine.backend})" if causal_mode else "rolling context"
    print(json.dumps(summary))
    return 0


def cmd_quantize(a: argparse.Namespace) -> int:
    """One final compression step (int8, dynamic, pt2e, onnx, ort-int8, ...) applied to a float model file."""
    from .budgets import get_budget
    from .compress.artifact import load_float_model, save_artifact
    from .compress.quantize import int8_layers
    from .compress.steps import make_step, step_kind
    from .data.sources import default_cache_dir
    from .zoo import Zoo

    model, meta = load_float_model(a.model, str(a.model), "quantization calibrates on dB tiles only (not yet for "
                                                         "phase-aware models)")
    from dataclasses import fields
    kind = step_kind(a.mode)
    if not kind.final:
        raise ChvoiceError(f"--mode {a.mode}: not a quantization/export step (chvoice compress --recipe trains)")
    tiles = {"calibration_tiles": a.calibration_tiles} if a.calibration_tiles is not None else {}
    if tiles and "calibration_tiles" not in {f.name for f in fields(kind.config)}:
        raise ChvoiceError(f"--calibration-tiles: the {kind.name} step is not calibrated")
    step = make_step(kind.name, **tiles)
    zoo = Zoo(get_budget("quick"), _data_config(a), cache_dir=Path(a.cache_dir) if a.cache_dir else default_cache_dir())
    q, quant, extra = zoo.apply_step(step, model, a.profile)
    keep = {k: v for k, v in meta.items() if k not in ("config", "quant", "size_bytes")}
    size = save_artifact(a.out, q, meta["config"], quant, {**keep, "quantized_from": str(a.model),
                                                          "int8_layers": int8_layers(q), "recipe": extra["recipe"]})
    print(json.dumps({"out": a.out, "quant": quant, "int8_layers": len(int8_layers(q)), "size_bytes": size}))
    return 0


def cmd_serve(a: argparse.Namespace) -> int:
    import signal

    from .web import create_app
    den = _load_denoiser(a.model)

    def on_term(signum, frame):   # SIGTERM (systemd, docker stop, kill) cleans up like Ctrl-C
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, on_term)
    app = create_app(den, max_upload_mb=a.max_upload_mb, workers=a.workers, max_queue=a.max_queue)
    print(f"chvoice web app on http://{a.host}:{a.port}/ (model {den.name}); Ctrl-C to stop", file=sys.stderr)
    app.run(host=a.host, port=a.port, threaded=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chvoice", description="Train, compress and benchmark U-Net speech denoisers.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a U-Net on noisy/clean pairs drawn on the fly")
    t.add_argument("--arch", default="normal", help="normal | smaller | student (default normal)")
    t.add_argument("--profile", default="weighted", help="weighted | equal | no-reverb | general")
    t.add_argument("--budget", default="quick", help="smoke | quick | paper (default quick)")
    t.add_argument("--out", required=True, help="output folder (model.pt, checkpoint.pt, history.json)")
    t.add_argument("--width", type=int, help="override the base width (ignores the budget's width divisor)")
    t.add_argument("--steps", type=int, help="override the budget's step count")
    t.add_argument("--batch-size", type=int)
    t.add_argument("--lr", type=float, default=4e-4)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="cpu")
    t.add_argument("--threads", type=int)
    t.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint.pt")
    t.add_argument("--init", metavar="MODEL.pt", help="start from this trained float model (same architecture): a "
                                                      "fine-tune with a fresh schedule")
    t.add_argument("--mask", action="store_true", help="bounded gain head (a mask in [0, 1]) instead of the report's free residual")
    t.add_argument("--phase", action="store_true", help="phase-aware head: also sees phase cues and turns the noisy phase "
                   "(offline models, --loss perceptual; --init may name the same model without it)")
    t.add_argument("--causal", action="store_true", help="time-causal U-Net for live use (streams frame by frame)")
    t.add_argument("--lookahead", type=int, default=2, help="frames of lookahead of a --causal model (default 2: 31.75 ms latency)")
    t.add_argument("--n-fft", type=int, default=254, help="STFT frame in samples (default: the report's 254, 128 "
                   "bins); saved with the model. 510 gives 32 ms frames and 256 bins")
    t.add_argument("--hop", type=int, default=127, help="STFT hop in samples (default 127); saved with the model")
    t.add_argument("--loss", default="db-mse", help="db-mse (the report) | perceptual (compressed magnitude + SI-SDR)")
    t.add_argument("--sisdr-weight", type=float,
                   help="weight of the SI-SDR term of the perceptual loss, per dB, against 10 x the compressed-"
                        "magnitude MSE (default 0.05)")
    t.add_argument("--schedule", default="constant", choices=["constant", "cosine"])
    t.add_argument("--warmup", type=int, default=0, help="linear learning-rate warm-up steps")
    t.add_argument("--clip-grad", type=float, default=0.0, help="clip the gradient norm to this (0: off)")
    t.add_argument("--workers", type=int, default=0, help="DataLoader processes that mix batches")
    t.add_argument("--noise-warp", type=float, default=0.0, metavar="P",
                   help="play each noise clip faster or slower (x0.8..1.25) with probability P: more noise sources "
                        "from the same recordings (training only; default 0)")
    t.add_argument("--noise-eq", type=float, default=0.0, metavar="P",
                   help="pass each noise clip through 1-3 random equalisers (shelves, peaks, +-12 dB) with "
                        "probability P: the same sources through other rooms and microphones (training only; "
                        "default 0)")
    t.add_argument("--speech-warp", type=float, default=0.0, metavar="P",
                   help="play the clean speech of a training pair faster or slower (x0.9..1.1, target included) "
                        "with probability P: higher and lower voices from the same speakers (training only; "
                        "default 0)")
    t.add_argument("--low-floor", type=float, default=0.0, metavar="P",
                   help="add a stationary noise floor (pink, brown, steep or room tone) 20-50 dB under the speech "
                        "to a mixture with probability P, the target unchanged (training only; default 0)")
    t.add_argument("--target-gate", action="store_true",
                   help="gate each training utterance's own stationary floor (room tone, hiss) out of the target; "
                        "the mixture keeps it (data.targets)")
    t.add_argument("--studio-speech", action="store_true",
                   help="add the training-side studio speakers of DATA_ROOT/clean-speech/ to the training speech "
                        "(the held-out ones never: data.studio.STUDIO_TEST_SPEAKERS)")
    t.add_argument("--amp", default="none", choices=["none", "bf16"],
                   help="mixed precision: bf16 runs the model's convolutions in bfloat16 (a GPU, or a CPU with "
                        "bf16 units such as AMX); weights and loss stay float32 (default none)")
    t.add_argument("--validate-every", type=int, default=0, help="score a validation set every N steps, keep the best")
    t.add_argument("--val-items", type=int, default=40)
    t.add_argument("--val-key", default="pesq_wb", choices=["pesq_wb", "si_sdr", "stoi"])
    t.add_argument("--checkpoint-every", type=int)
    t.add_argument("--time-budget", type=float, default=0.0, metavar="SECONDS",
                   help="stop after this much training time; the schedule decays over whichever of --steps and "
                        "the budget runs out first (for a rented machine held by the minute)")
    t.add_argument("--train-only", action="store_true",
                   help="the data folders hold training material only (tools/pack_training_data.py): hold nothing out")
    t.add_argument("--download-librispeech", metavar="SUBSET", help="download a LibriSpeech subset into --data-root first (needs a network)")
    t.add_argument("--quiet", action="store_true")
    _add_data_args(t)
    t.set_defaults(fn=cmd_train)

    d = sub.add_parser("denoise", help="denoise audio files: chvoice denoise [MODEL.pt] IN... [-o OUT]")
    d.add_argument("paths", nargs="+", metavar="[MODEL] IN")
    d.add_argument("-o", "--output", help="output file (one input) or existing folder")
    d.add_argument("--model", help="model file (default: the shipped default model)")
    d.add_argument("--device", default="cpu")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(fn=cmd_denoise)

    e = sub.add_parser("evaluate", help="score a model (or the noisy input) on paired noisy/clean folders")
    e.add_argument("model", nargs="?", help="model file; omit to score the noisy input itself")
    e.add_argument("--noisy", required=True)
    e.add_argument("--clean", help="clean references (same file names); without it, DNSMOS (no reference needed)")
    e.add_argument("--peer", help="score a peer denoiser instead: rnnoise | deepfilternet3 | noisereduce | webrtc-ns")
    e.add_argument("--out", help="folder for scores.csv and scores.json")
    e.add_argument("--device", default="cpu")
    e.add_argument("--live", metavar="MODE", help="stream each file through the live engine instead of offline "
                                                  "processing: causal (causal models) or a rolling-context mode")
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(fn=cmd_evaluate)

    c = sub.add_parser("compress", help="build a variant of the table or a recipe of your own (train + compress, "
                                        "cached) and write it")
    c.add_argument("variant", nargs="?", help="variant id, see `chvoice variants`")
    c.add_argument("--recipe", help="steps of your own, e.g. 'distil(width=16)+prune(macs=0.5)+int8' "
                                    "(steps: chvoice variants --steps)")
    c.add_argument("--teacher", help="with --recipe: start from this float checkpoint instead of training --arch")
    c.add_argument("--arch", default="normal", help="with --recipe and no --teacher: the parent architecture")
    c.add_argument("--name", default="recipe", help="with --recipe: a name for the result (cache key, reports)")
    c.add_argument("--profile", default="weighted")
    c.add_argument("--budget", default="quick")
    c.add_argument("--out", required=True, help="output .pt file")
    c.add_argument("--device", default="cpu")
    c.add_argument("--threads", type=int, default=0, help="torch threads while building (0: all cores)")
    c.add_argument("--quiet", action="store_true")
    _add_data_args(c)
    c.set_defaults(fn=cmd_compress)

    lv = sub.add_parser("live", help="live denoising: microphone -> speakers, or --input/--output files")
    lv.add_argument("--model", help="model file (default: the shipped default model)")
    lv.add_argument("--mode", default=None,
                    help="causal (the default without --model: the shipped causal model streamed frame by frame, "
                         "31.75 ms) or a rolling-context mode of a non-causal model (the default for one): low-latency "
                         "(a call per 2 hops, 1 frame lookahead: 31.75 ms on the report's STFT, 47.75 ms on the "
                         "shipped default's 32 ms frames), low-latency-hq, no-lookahead, report (1 s)")
    lv.add_argument("--backend", default="auto", choices=["auto", "torch", "onnxruntime"],
                    help="causal mode: run each hop in PyTorch or ONNX Runtime (auto: ONNX Runtime when installed, float models)")
    lv.add_argument("--input", help="read this file instead of a microphone")
    lv.add_argument("--output", help="write the denoised stream here (with --input)")
    lv.add_argument("--realtime", action="store_true", help="pace the file in real time, as a sound card would")
    lv.add_argument("--block", type=int, help="samples per block (default: one model step, 127 x step frames)")
    lv.add_argument("--threads", type=int, default=1)
    lv.add_argument("--device-in", help="input device (index or name; see --list-devices)")
    lv.add_argument("--device-out", help="output device")
    lv.add_argument("--seconds", type=float, help="stop the microphone mode after this long")
    lv.add_argument("--list-devices", action="store_true")
    lv.set_defaults(fn=cmd_live)

    sv = sub.add_parser("serve", help="a local web app to denoise uploaded audio and video")
    sv.add_argument("--model", help="model file (default: the shipped default model)")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--max-upload-mb", type=int, default=200)
    sv.add_argument("--workers", type=int, default=1, help="jobs denoised at once")
    sv.add_argument("--max-queue", type=int, default=32, help="jobs waiting before new uploads are refused")
    sv.set_defaults(fn=cmd_serve)

    from .compress.steps import DEFAULT_QUANT_STEP
    qz = sub.add_parser("quantize", help="int8-quantize (or export to ONNX Runtime) a float model, calibrated on "
                                         "training tiles")
    qz.add_argument("model")
    qz.add_argument("--out", required=True)
    qz.add_argument("--mode", default=DEFAULT_QUANT_STEP, help="a final step of `chvoice variants --steps`: int8 (static, FX; "
                                                   "'static' is accepted), dynamic, pt2e, onnx, ort-int8")
    qz.add_argument("--profile", default="weighted")
    qz.add_argument("--calibration-tiles", type=int, help="training tiles to calibrate on (default: the step's own)")
    _add_data_args(qz)
    qz.set_defaults(fn=cmd_quantize)

    z = sub.add_parser("zoo", help="build the model zoo (or one shard of it) into the benchmark cache")
    z.add_argument("--budget", default="quick")
    z.add_argument("--variants", help="comma-separated variant ids (default: all)")
    z.add_argument("--profiles", help="comma-separated profiles (default: the report's three)")
    z.add_argument("--shard", default="1/1", help="i/n: build the i-th of n disjoint shards (1-based)")
    z.add_argument("--cache-dir", help="shared cache root (default ~/.cache/chvoice or $CHVOICE_CACHE); "
                                       "the benchmark suite reads <cache>/bench")
    z.add_argument("--device", default="cpu")
    z.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    z.add_argument("--quiet", action="store_true")
    z.add_argument("--data-root", help="as the benchmark suite's --data-root (default: built-in data)")
    z.add_argument("--recipes", help="TOML file of user recipes to build beside the table (as pytest bench --recipes)")
    z.add_argument("--real", action="store_true",
                   help="build the real track's trained children of the shipped parents (budget real; give "
                        "--data-root with LibriSpeech and real noise) instead of the proxy zoo")
    z.add_argument("--children", help="with --real: comma-separated child ids (default: all registered)")
    z.add_argument("--ship", action="store_true", help="with --real: copy each built child into the package")
    z.set_defaults(fn=cmd_zoo)
    ex = sub.add_parser("export", help="write a float model as ONNX (causal models: the streaming step)")
    ex.add_argument("model")
    ex.add_argument("-o", "--out", required=True, help="destination .onnx file")
    ex.set_defaults(fn=cmd_export)
    v = sub.add_parser("variants", help="list the variant table (--steps: the compression steps recipes use)")
    v.add_argument("--steps", action="store_true", help="list the registered compression steps instead")
    v.set_defaults(fn=cmd_variants)

    s = sub.add_parser("testset", help="write a profile's fixed test set as noisy/ and clean/ folders")
    s.add_argument("--profile", default="weighted")
    s.add_argument("--out", required=True)
    s.add_argument("-n", type=int, default=100)
    s.add_argument("--seed", type=int, default=2021)
    s.add_argument("--max-seconds", type=float, default=4.0)
    _add_data_args(s)
    s.set_defaults(fn=cmd_testset)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except ChvoiceError as e:
        print(f"chvoice: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("chvoice: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
