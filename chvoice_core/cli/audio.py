"""The audio subcommands: `denoise` (files and videos), `evaluate`, `live` and `testset`."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ..audio_io import (SAMPLE_RATE, atomic_path, io_error, list_audio_files, read_audio, resample, target_mode,
                        write_audio)
from ..baselines import get_peer
from ..data import TestSetConfig, build_testset, get_profile, load_data, write_testset
from ..enhance import denoise_to
from ..errors import ChvoiceError
from ..evaluate import evaluate_pairs, evaluate_unpaired, paired_folders, summary
from ..families import FAMILIES, check_live_mode
from ..live import run_file, run_microphone
from ..longform import scan
from ..pretrained import live_model_path
from .common import data_config, is_model_path, load_denoiser, plan_outputs, same_file


def cmd_denoise(a: argparse.Namespace) -> int:
    import tempfile

    from tqdm import tqdm

    paths = list(a.paths)
    model_path = paths.pop(0) if paths and is_model_path(paths[0]) else a.model
    if not paths:
        raise ChvoiceError("no input files given")
    inputs = [Path(p) for p in paths]
    for p in inputs:   # check every input (in blocks: any length) before writing anything
        scan(p)
    plan = plan_outputs(inputs, a.output)
    denoiser = load_denoiser(model_path, a.device)
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
                with tqdm(total=100, desc=p.name, unit="%", disable=a.quiet or len(plan) > 1, leave=False) as bar:
                    denoise_to(denoiser, p, tmp, lambda f: bar.update(round(100 * f) - bar.n), label=dst,
                               checked=True)
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

    if a.model and a.peer:
        raise ChvoiceError("give a model or --peer, not both")
    if a.out:   # fail before minutes of scoring, not after
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
        enhance, label = get_peer(a.peer), f"peer:{a.peer}"
        ok, why = enhance.available()
        if not ok:
            raise ChvoiceError(f"peer {a.peer}: {why}")
    else:
        enhance = load_denoiser(a.model, a.device) if a.model else None
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
    exactly as `chvoice live` would process it (causal models: frame by frame). A mode the model's family does
    not stream in is one error line."""
    try:
        return den.family.streamer(den.model, mode, den.fe).denoise   # causal: ONNX Runtime when installed, the same samples
    except ChvoiceError as e:
        raise ChvoiceError(f"--live {mode}: {e}") from None


def cmd_testset(a: argparse.Namespace) -> int:
    profile = get_profile(a.profile)
    if a.n < 1:
        raise ChvoiceError("-n must be at least 1")
    data = load_data(data_config(a))
    items = build_testset(data.test_speech, data.test_noise, profile,
                          TestSetConfig(n=a.n, seed=a.seed, max_seconds=a.max_seconds))
    out = write_testset(items, a.out)
    print(f"wrote {len(items)} pairs to {out}/noisy and {out}/clean ({data.label}, profile {profile.name})")
    return 0


def cmd_live(a: argparse.Namespace) -> int:
    import torch

    if a.mode is not None:
        check_live_mode(a.mode)
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
    if a.input and same_file(Path(a.output), Path(a.input)):
        raise ChvoiceError(f"{a.output}: refusing to write over the input (choose another --output)")
    if a.output and Path(a.output).is_dir():
        raise ChvoiceError(f"{a.output}: cannot write (is a folder)")
    if a.input:   # check the input before the model loads, so bad input fails fast
        x, sr = read_audio(a.input)
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    model_path = a.model
    if model_path is None and a.mode in (None, *FAMILIES["causal"].live_modes):    # the live model's modes
        model_path = str(live_model_path())
    den = load_denoiser(model_path)
    # no --mode: the model's family decides (a causal model streams frame by frame, others use low-latency)
    try:
        a.mode = den.family.live_mode(a.mode)
        engine = den.family.streamer(den.model, a.mode, den.fe, backend=a.backend)
    except ChvoiceError as e:
        raise ChvoiceError(f"{model_path or 'the default model'}: {e}") from None
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
    summary["engine"] = engine.describe()
    print(json.dumps(summary))
    return 0
