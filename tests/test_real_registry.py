"""The real track's registry (compress.real), its rows (realzoo.real_rows), shards, shipping and the CLI's checks."""
from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
import torch

from chvoice_core.budgets import get_budget
from chvoice_core.compress import real
from chvoice_core.compress.steps import BuildContext, parse_recipe, runs_int8, slug
from chvoice_core.errors import ChvoiceError
from chvoice_core.machine import cpu_facts
from chvoice_core.models.io import read_checkpoint
from chvoice_core.realzoo import real_rows, ship_child


def test_parents_are_shipped_float_models_and_children_name_them():
    for name, path in real.REAL_PARENTS.items():
        ckpt = read_checkpoint(path)
        assert ckpt.get("quant") is None, name
    for c in real.REAL_CHILDREN.values():
        assert c.parent in real.REAL_PARENTS and c.id.startswith(c.parent + "-")
        parse_recipe(c.recipe)                     # every registered recipe is valid
        v = c.variant()
        assert v.teacher == str(real.parent_path(c.parent)) and v.teacher_digest


def test_rows_list_parents_their_deployments_then_children_then_each_with_its_in_run_steps():
    rows = real_rows()
    ids = [r.id for r in rows]
    assert len(ids) == len(set(ids))
    assert ids[:len(real.REAL_PARENTS)] == list(real.REAL_PARENTS)
    bases = [r for r in rows if r.role in ("parent", "child")]
    cheap = [r for r in rows if r.role == "in-run"]
    free = [r for r in rows if r.role == "deployment"]
    assert [r.role for r in rows[len(real.REAL_PARENTS):][:len(free)]] == ["deployment"] * len(free)
    for name in real.REAL_PARENTS:       # each parent's training-free deployments, built from the parent itself
        mine = [r for r in free if r.parent == name]
        assert [r.recipe for r in mine] == list(real.free_deployments(name, cpu_facts()["bf16"]))
        assert all(r.base == name and r.step == r.recipe and not runs_int8(parse_recipe(r.recipe)) for r in mine)
    recipes = {(b.parent, b.recipe) for b in bases}
    for b in bases:       # every float row gets each in-run step unless a shipped child already has that recipe
        for step in real.CHEAP_STEPS:
            full = step if b.recipe == "-" else f"{b.recipe}+{step}"
            quantized = b.recipe != "-" and runs_int8(parse_recipe(b.recipe))
            want = not quantized and (b.parent, full) not in recipes
            assert any(r.base == b.id and r.step == step for r in cheap) == want, (b.id, step)
    for r in cheap:
        base = next(b for b in bases if b.id == r.base)
        assert r.parent == base.parent and r.recipe.endswith(r.step)
    assert {"default-int8", "live-int8"} <= {r.id for r in cheap}


def test_shards_partition_the_children():
    children = list(real.REAL_CHILDREN.values())
    for n in (1, 2, len(children), len(children) + 3):
        got = [c.id for i in range(1, n + 1) for c in real.shard(children, i, n)]
        assert sorted(got) == sorted(c.id for c in children)
    assert [len(real.shard(children, i, len(children))) for i in range(1, len(children) + 1)] == [1] * len(children)
    with pytest.raises(ChvoiceError, match="shard 3/2"):
        real.shard(children, 3, 2)


def _registered_parent(tmp_path, monkeypatch):
    """A small float parent "p" in the registry and an empty children folder, both under tmp_path -> its file."""
    from chvoice_core.compress.artifact import save_artifact
    from chvoice_core.models.unet import UNet, UNetConfig
    parent = tmp_path / "parent.pt"
    cfg = UNetConfig(depth=4, base_width=8, mask=True)
    save_artifact(parent, UNet(cfg).eval(), cfg, None)
    monkeypatch.setitem(real.REAL_PARENTS, "p", parent)
    monkeypatch.setattr(real, "CHILDREN_DIR", tmp_path / "children")
    return parent


def test_a_shipped_child_names_its_parents_digest_and_goes_stale_when_the_parent_changes(tmp_path, monkeypatch):
    from chvoice_core.compress.artifact import load_artifact, save_artifact
    from chvoice_core.models.unet import UNet, UNetConfig
    parent = _registered_parent(tmp_path, monkeypatch)
    cfg = UNetConfig(depth=4, base_width=8, mask=True)
    child = real.RealChild("p-kd4", "p", "distil(width=4)")
    built = tmp_path / "built.pt"
    small = UNetConfig(depth=4, base_width=4, mask=True)
    save_artifact(built, UNet(small).eval(), small, None, {"loss_history": [3.0, 2.0, 1.0], "train_steps": 3,
                                                             "train_seconds": 1.5, "params": 1})
    path = ship_child(child, built, "built-in", "cpu", threads=1)
    ckpt = read_checkpoint(path)
    meta = ckpt["meta"]
    assert meta["parent_digest"] == real.file_digest(parent) and meta["recipe"] == "distil(width=4)"
    assert meta["training"]["train_steps"] == 3 and meta["training"]["final_loss"] == 2.0
    assert meta["training"]["batch_size"] == get_budget("real").batch_size and "loss_history" not in meta
    assert all(v.dtype == torch.float16 for v in ckpt["state_dict"].values() if v.is_floating_point())
    model, _ = load_artifact(path)
    assert next(model.parameters()).dtype == torch.float32
    assert real.child_is_current(child)
    save_artifact(parent, UNet(cfg).eval(), cfg, None, {"retrained": True})   # a new parent orphans the child
    assert not real.child_is_current(child)


def test_a_child_extending_a_shipped_one_is_derived_from_its_file(tmp_path, monkeypatch):
    """A child whose recipe extends a shipped child's (overlap, int8, qat after it) starts from that file instead
    of retraining the prefix, and records the base's training beside its own."""
    from chvoice_core.compress.artifact import load_artifact, save_artifact
    from chvoice_core.models.unet import UNet, UNetConfig
    from chvoice_core.realzoo import derive_child, real_zoo, shipped_base
    _registered_parent(tmp_path, monkeypatch)
    base = real.RealChild("p-kd4", "p", "distil(width=4)")
    derived = real.RealChild("p-kd4-ovl96", "p", "distil(width=4)+overlap(hop=96)")
    qat = real.RealChild("p-kd4-qat", "p", "distil(width=4)+qat")
    monkeypatch.setattr(real, "REAL_CHILDREN", {c.id: c for c in (base, derived, qat)})
    assert shipped_base(derived) is None                 # nothing shipped yet
    small = UNetConfig(depth=4, base_width=4, mask=True)
    built = tmp_path / "built.pt"
    save_artifact(built, UNet(small).eval(), small, None, {"train_steps": 3, "train_seconds": 1.5, "params": 1})
    ship_child(base, built, "built-in", "cpu", threads=1)
    assert shipped_base(derived) == base and shipped_base(qat) == base and shipped_base(base) is None
    path = derive_child(derived, base, real_zoo(None, tmp_path / "cache", threads=1, progress=False))
    model, meta = load_artifact(path)
    shipped, _ = load_artifact(base.path)
    assert model.config.tile_hop == 96 and meta["base"] == "p-kd4" and meta["base_training"]["train_steps"] == 3
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), shipped.state_dict().values()))


def test_real_budget_trains_full_width_resumably_and_qat_stays_float32():
    b = get_budget("real")
    assert b.width_divisor == 1 and b.resumable and b.steps == 0 and b.amp == "bf16"
    ctx = BuildContext(budget=b, seed=0, profile="general", sampler=None, calibration=None, train_cfg=None,
                       workdir="w")
    assert ctx.resume_args() == {"out_dir": "w", "resume": True}
    assert dataclasses.replace(ctx, workdir=None).resume_args() == {}
    (step,) = parse_recipe("prune(macs=0.75,round_to=8,distil=True)")
    assert step.distil and slug(step) == "prune_macs0.75_round_to8_distilTrue"


@pytest.mark.parametrize("args,msg", [
    (["--real", "--budget", "paper"], "--budget are the proxy zoo's"),
    (["--ship"], "--ship and --children go with --real"),
    (["--real", "--children", "nope"], "unknown real child 'nope'"),
    (["--real", "--shard", "3/2"], "shard 3/2"),
])
def test_zoo_real_refuses_bad_arguments_in_one_line(args, msg):
    r = subprocess.run([sys.executable, "-m", "chvoice_core.cli", "zoo", *args], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode != 0 and msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_free_deployments_are_the_parents_hops_and_precisions():
    assert real.child_hops("default") == (96, 126)             # the slim child's two tile hops
    assert real.free_deployments("default", bf16=False) == ("onnx", "overlap(hop=96)", "overlap(hop=126)")
    assert real.free_deployments("default", bf16=True) == (
        "onnx", "bf16-autocast", "overlap(hop=96)+bf16-autocast", "overlap(hop=126)+bf16-autocast")
    assert real.free_deployments("live", bf16=True) == ("bf16-autocast",)     # causal: no tiles, no tile graph
    assert real.free_deployments("live", bf16=False) == ()


def test_bf16_autocast_keeps_the_model_and_its_outputs(tmp_path):
    import numpy as np

    from chvoice_core.compress.artifact import load_artifact, save_artifact
    from chvoice_core.compress.bf16 import Bf16Model
    from chvoice_core.enhance import Denoiser
    model, meta = load_artifact(real.parent_path("live"))
    save_artifact(tmp_path / "b.pt", Bf16Model(model), meta["config"], "bf16", {})
    back, bmeta = load_artifact(tmp_path / "b.pt")
    assert isinstance(back, Bf16Model) and bmeta["quant"] == "bf16" and back.config == meta["config"]
    x = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    y32, y16 = Denoiser(model).enhance(x), Denoiser(back).enhance(x)
    rel = np.sqrt(np.mean((y32 - y16) ** 2) / np.mean(y32 ** 2))
    assert y16.dtype == np.float32 and 0 < rel < 0.05          # bf16 rounding: close, not equal
