"""What the `chvoice` subcommands share: data options, device checks, model loading, output planning."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..api import load
from ..data import DataConfig
from ..errors import ChvoiceError


def add_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data (default: built-in synthetic speech and noise)")
    g.add_argument("--data-root", help="folder with LibriSpeech/ and ESC-50/ and/or chvoice-noises/")
    g.add_argument("--speech", help="LibriSpeech root or any folder of audio files")
    g.add_argument("--noise", help="ESC-50 folder or the report's <category>-mono/ folders")
    g.add_argument("--test-noise", help="noise source for testing only; its clips are kept out of training")
    g.add_argument("--cache-dir", help="where built-in data is generated (default ~/.cache/chvoice or $CHVOICE_CACHE)")


def data_config(a: argparse.Namespace):
    return DataConfig(data_root=a.data_root, speech=a.speech, noise=a.noise, test_noise=a.test_noise,
                      cache_dir=a.cache_dir, train_only=getattr(a, "train_only", False))


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


def load_denoiser(model_path: str | None, device: str = "cpu"):
    check_device(device)
    return load(model_path, device)


def is_model_path(p: str) -> bool:
    return Path(p).suffix in (".pt", ".pth", ".ckpt")


def same_file(a: Path, b: Path) -> bool:
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
            if same_file(dst, q):
                raise ChvoiceError(f"{dst}: refusing to write over the input {q} (choose another -o)")
    seen: dict[Path, Path] = {}
    for p, dst in plan:
        key = dst.resolve()
        if key in seen:
            raise ChvoiceError(f"{dst}: two inputs ({seen[key]} and {p}) would be written to the same file")
        seen[key] = p
    return plan
