"""pipelines/build_default.sh, the one command that rebuilds the shipped default: every command it runs parses, its
stages chain, and each stage trains with the settings the shipped weights' own meta records (the passes nested in
`init_training`, newest first)."""
from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest
import torch

from chvoice_core.cli.parser import parse_args

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def commands(tmp_path_factory) -> list[list[str]]:
    out = tmp_path_factory.mktemp("build")
    r = subprocess.run(["bash", "pipelines/build_default.sh", str(out)], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "DRY_RUN": "1"}, timeout=60)
    assert r.returncode == 0, r.stderr
    return [shlex.split(line[2:]) for line in r.stdout.splitlines() if line.startswith("+ ")]


def _train_stages(commands) -> list:
    return [parse_args(c[1:]) for c in commands if c[:2] == ["chvoice", "train"]]


def test_every_chvoice_command_parses_and_the_stages_chain(commands):
    chv = [c for c in commands if c[0] == "chvoice"]
    assert [c[1] for c in chv] == ["train"] * 7 + ["quantize"]
    for c in chv:
        parse_args(c[1:])          # SystemExit on an option the CLI does not have
    stages = _train_stages(commands)
    assert stages[0].init is None
    for before, after in zip(stages, stages[1:]):
        assert after.init == str(Path(before.out) / "model.pt")
    quant = parse_args(chv[-1][1:])
    assert quant.model == str(Path(stages[-1].out) / "model.pt") and quant.mode == "int8"
    ships = [c for c in commands if c[:2] == ["python", "tools/ship_model.py"]]
    assert [Path(c[c.index("--dest") + 1]).name for c in ships] == ["default-float.pt", "default.pt"]
    assert ships[0][2] == quant.model and ships[1][2] == quant.out


def test_each_stage_trains_as_the_shipped_weights_record():
    meta = torch.load(ROOT / "chvoice_core" / "assets" / "default-float.pt", weights_only=True)["meta"]
    recorded = []          # newest first: the shipped fine-tune, then each init_training nested in it
    m = meta
    while m:
        recorded.append(m)
        m = m.get("init_training")
    r = subprocess.run(["bash", "pipelines/build_default.sh", "/tmp/unused"], cwd=ROOT, capture_output=True,
                       text=True, env={**os.environ, "DRY_RUN": "1"}, timeout=60)
    stages = _train_stages([shlex.split(x[2:]) for x in r.stdout.splitlines() if x.startswith("+ chvoice train")])
    assert len(stages) == len(recorded) == 7
    for args, rec in zip(reversed(stages), recorded):
        assert args.steps == rec["train_steps"], (args.out, rec)
        assert args.batch_size == rec["batch_size"] and args.lr == pytest.approx(rec["lr"])
        if "sisdr_weight" in rec:
            assert args.sisdr_weight == pytest.approx(rec["sisdr_weight"])
        assert args.n_fft == rec.get("n_fft", args.n_fft)
    last = stages[-1]
    assert last.target_gate and last.studio_speech and last.amp == meta["amp"] == "bf16"
    assert (last.width, last.loss, last.mask, last.profile) == (32, meta["loss"], True, meta["profile"])
    assert [s.n_fft for s in stages] == [254, 254, 254, 510, 510, 510, 510]
