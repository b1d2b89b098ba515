"""The compression-step registry: recipes as data, their parsing, and that no other module names a step."""
import ast
from pathlib import Path

import pytest

from chvoice_core.compress.recipes import VARIANTS, load_recipes, user_variant
from chvoice_core.compress.steps import (FORMATS, STEPS, Distil, Int8, Prune, kind_of, make_step, parse_recipe,
                                         slug, to_recipe)
from chvoice_core.errors import ChvoiceError

ROOT = Path(__file__).resolve().parents[1]


def test_recipe_strings_parse_and_round_trip():
    steps = parse_recipe("distil(width=16) + prune(macs=0.5, round_to=8)+int8")
    assert steps == (Distil(width=16), Prune(macs=0.5, round_to=8), Int8())
    assert to_recipe(steps) == "distil(width=16)+prune(macs=0.5,round_to=8)+int8"
    assert parse_recipe(to_recipe(steps)) == steps
    assert [slug(s) for s in steps] == ["kd_width16", "prune_macs0.5_round_to8", "int8"]
    assert parse_recipe("static") == (Int8(),)                   # older names are aliases
    assert make_step("distil", alpha=1) == Distil(alpha=1.0)      # an int where a float is expected


@pytest.mark.parametrize("text, message", [
    ("", "empty recipe"),
    ("sparsify", "unknown compression step"),
    ("prune(amount=0.5)", "unknown parameter 'amount'"),
    ("distil(width='wide')", "should be int"),
    ("prune(macs=0.5", "write name or name"),
    ("prune(0.5)", "key=literal"),
    ("prune(macs=__import__('os'))", "key=literal"),
    ("int8+prune(macs=0.5)", "after 'int8'"),
    ("distil+distil", "only one distillation"),
    ("prune", "pruning amount is zero"),
    ("prune(macs=0.99)", "target_mac_reduction"),
    ("distil(alpha=2.0)", "alpha"),
    ("prune(macs=0.5,widths='8,8')", "not both"),
    ("prune(widths='8,a')", "comma-separated integers"),
    ("prune(widths='8,0')", "positive"),
    ("prune(macs=0.5,teacher='root')", "set distil=True"),
    ("prune(macs=0.5,teacher='oracle')", "parent or root"),
    ("prune(macs=0.5,levels=-1)", "levels"),
])
def test_bad_recipes_fail_with_one_clear_error(text, message):
    with pytest.raises(ChvoiceError, match=message):
        parse_recipe(text)


def test_every_table_variant_is_a_valid_chain_of_registered_steps():
    for v in VARIANTS.values():
        v.validate()
        assert all(kind_of(s).name in STEPS for s in v.steps)
        assert parse_recipe(v.recipe) == v.steps if v.steps else v.recipe == "-"
    produced = {None} | {k.name for k in STEPS.values()}
    assert {"dynamic", "static", "qat", "pt2e", "onnx", "onnx-int8"} <= set(FORMATS)
    assert "int8" in produced and "ort-int8" in produced


def test_user_recipes_from_toml(tmp_path):
    (tmp_path / "teacher.pt").write_bytes(b"not read here")
    f = tmp_path / "r.toml"
    f.write_text('[[recipe]]\nname = "kd16-int8"\nsteps = "distil(width=16)+int8"\n\n'
                 '[[recipe]]\nname = "mine-int8"\nsteps = "int8"\nteacher = "teacher.pt"\n')
    a, b = load_recipes(str(f))
    assert a.arch == "normal" and a.parent == "normal" and a.steps == (Distil(width=16), Int8())
    assert a.prefix_ids() == ["normal", "normal+kd_width16", "normal+kd_width16+int8"]
    assert b.teacher == str(tmp_path / "teacher.pt") and b.prefix_ids()[0].startswith("user-")
    for body, message in [('[[recipe]]\nname = "normal"\nsteps = "int8"\n', "variant of the table"),
                          ('[[recipe]]\nsteps = "int8"\n', "needs name and steps"),
                          ('[[recipe]]\nname = "x"\nsteps = "int8"\ncolour = 1\n', "unknown: colour"),
                          ('[[recipe]]\nname = "x"\nsteps = "int8"\nteacher = "missing.pt"\n', "no such file"),
                          ('recipe = 3', "expected"), ('[[recipe', "not valid TOML")]:
        f.write_text(body)
        with pytest.raises(ChvoiceError, match=message):
            load_recipes(str(f))
    with pytest.raises(ChvoiceError, match="unknown architecture"):
        user_variant("x", "int8", arch="huge")


def _string_literals(path: Path) -> set[str]:
    return {n.value for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Constant)
            and isinstance(n.value, str)}


def test_no_step_name_outside_the_registry():
    """Step kinds are named only in the registry (compress/steps.py, registry.py, formats.py): every other module
    goes through it."""
    names = set(STEPS) | {"quant-static", "quant-dynamic", "kd"}
    offenders = []
    for folder in ("chvoice_core", "bench", "reports"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.parent.name == "compress" and path.name in ("steps.py", "registry.py", "formats.py"):
                continue
            hit = _string_literals(path) & names
            if hit:
                offenders.append(f"{path.relative_to(ROOT)}: {sorted(hit)}")
    assert offenders == []


@pytest.mark.slow
def test_compress_cli_runs_a_recipe_on_a_user_checkpoint(tmp_path, cache_dir, capsys):
    import json

    import torch

    from chvoice_core.cli import main
    from chvoice_core.compress.artifact import load_artifact
    from chvoice_core.models import UNet, UNetConfig
    from chvoice_core.models.io import save_model
    torch.manual_seed(0)
    save_model(tmp_path / "mine.pt", UNet(UNetConfig(depth=3, base_width=8, mask=True)).eval())
    args = ["compress", "--recipe", "int8", "--teacher", str(tmp_path / "mine.pt"), "--name", "mine-int8",
            "--profile", "no-reverb", "--budget", "smoke", "--cache-dir", str(cache_dir), "--quiet"]
    assert main(args + ["--out", str(tmp_path / "q.pt")]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["recipe"] == "int8" and out["int8_layers"] == 2 * (2 * 3 + 1) + 1 and out["quant"] == "static"
    model, meta = load_artifact(tmp_path / "q.pt")
    assert meta["config"] == UNetConfig(depth=3, base_width=8, mask=True)
    assert main(args[:2] + ["prune(amount=1)"] + args[3:] + ["--out", str(tmp_path / "x.pt")]) == 2
    assert "unknown parameter 'amount'" in capsys.readouterr().err
    assert main(["compress", "normal", "--recipe", "int8", "--out", str(tmp_path / "y.pt")]) == 2
    assert not (tmp_path / "x.pt").exists() and not (tmp_path / "y.pt").exists()


def test_quantize_cli_applies_one_final_step(tmp_path, cache_dir, capsys):
    import json

    import torch

    from chvoice_core.cli import main
    from chvoice_core.compress.artifact import load_artifact
    from chvoice_core.models import UNet, UNetConfig
    from chvoice_core.models.io import save_model
    torch.manual_seed(0)
    save_model(tmp_path / "f.pt", UNet(UNetConfig(depth=3, base_width=8, mask=True)).eval())
    common = [str(tmp_path / "f.pt"), "--profile", "no-reverb", "--cache-dir", str(cache_dir)]
    for mode, fmt in (("ort-int8", "onnx-int8"), ("static", "static")):
        assert main(["quantize", *common, "--mode", mode, "--calibration-tiles", "16",
                     "--out", str(tmp_path / f"{mode}.pt")]) == 0
        out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert out["quant"] == fmt and out["int8_layers"] == 15
        assert load_artifact(tmp_path / f"{mode}.pt")[1]["quant"] == fmt
    for mode, message in (("prune", "not a quantization/export step"), ("fp16", "unknown compression step")):
        assert main(["quantize", *common, "--mode", mode, "--out", str(tmp_path / "x.pt")]) == 2
        assert message in capsys.readouterr().err
    assert main(["quantize", *common, "--mode", "dynamic", "--calibration-tiles", "8",
                 "--out", str(tmp_path / "x.pt")]) == 2
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.slow
def test_a_student_lifted_to_the_minimum_width_says_so_and_keeps_its_twin(tmp_path, cache_dir):
    from chvoice_core.budgets import get_budget
    from chvoice_core.data import DataConfig
    from chvoice_core.zoo import Zoo
    narrow = user_variant("kd16", "distil(width=16)+int8", arch="smaller")
    zoo = Zoo(get_budget("smoke"), DataConfig(cache_dir=str(cache_dir)), cache_dir=tmp_path, progress=False,
              extra_variants=(narrow,))
    e = zoo.entry("kd16", "weighted")
    assert e.config.base_width == 4                           # 16 / 8 = 2 is under the minimum width
    assert e.meta["student_width"] == 4 and "trained at 4" in e.meta["student_width_raised"]
    assert e.meta["full_base_width"] == 16
    _, twin_meta = zoo.full_scale("kd16", "weighted")
    assert twin_meta["config"].base_width == 16               # timed at the width asked for, not 4 x 8


def test_overlap_step_runs_fewer_tiles_and_travels_with_the_model(tmp_path):
    """overlap(hop=H) keeps the weights and records the tile hop in the spec: the saved model runs offline on
    tiles H frames apart (fewer model frames per second of audio), close to the half-overlap output; causal
    models (which stream frame by frame) refuse it in one line."""
    import numpy as np
    import torch
    from chvoice_core.enhance import Denoiser
    from chvoice_core.models import UNet, UNetConfig
    from chvoice_core.models.io import load_model, save_model
    torch.manual_seed(0)
    m = UNet(UNetConfig(depth=2, base_width=4, mask=True)).eval()
    (step,) = parse_recipe("overlap(hop=120)")
    out = kind_of(step).apply(None, m, step).model
    assert out.config.tile_hop == 120 and m.config.tile_hop == 64
    save_model(tmp_path / "m.pt", out)
    loaded, _ = load_model(tmp_path / "m.pt")
    x = np.random.default_rng(0).standard_normal(16000 * 6).astype(np.float32) * 0.1
    runs = {}
    for name, model in (("half", m), ("hop120", loaded)):
        den = Denoiser(model)
        seen = []
        h = den.model.register_forward_pre_hook(lambda mod, inp: seen.append(inp[0].shape[0]))
        runs[name] = (den(x), sum(seen))      # output, tiles run
        h.remove()
    assert runs["hop120"][1] == 7 and runs["half"][1] == 11          # tiles for 6 s (757 frames)
    a, b = runs["half"][0], runs["hop120"][0]
    assert a.shape == b.shape and np.abs(a - b).max() < 0.5 * np.abs(a).max()
    causal = UNet(UNetConfig(depth=2, base_width=4, mask=True, causal=True))
    with pytest.raises(ChvoiceError, match="only tile models"):
        kind_of(step).apply(None, causal, step)
    with pytest.raises(ChvoiceError, match="1..128"):
        parse_recipe("overlap(hop=0)")


def test_prune_teacher_root_learns_from_the_chains_first_model():
    """prune(teacher='root') distils from the model the build context names as the chain's first, not from the
    model it prunes; a build that does not know that model refuses in one line."""
    import torch
    from chvoice_core.budgets import get_budget
    from chvoice_core.compress.registry import BuildContext
    from chvoice_core.models import UNet, UNetConfig
    (step,) = parse_recipe("prune(macs=0.3,distil=True,teacher='root',steps=2)")
    m = UNet(UNetConfig(depth=2, base_width=4, mask=True)).eval()
    ctx = BuildContext(budget=get_budget("smoke"), seed=0, profile="weighted", sampler=lambda: None,
                       calibration=lambda n, norm: torch.zeros(0), train_cfg=lambda steps, lr: None)
    with pytest.raises(ChvoiceError, match="chain's first model"):
        kind_of(step).apply(ctx, m, step)
    class Asked(Exception):
        pass

    def root():
        raise Asked                      # the step asks for the chain's first model as its distillation teacher
    ctx.root = root
    with pytest.raises(Asked):
        kind_of(step).apply(ctx, m, step)
    (parent_step,) = parse_recipe("prune(macs=0.3,distil=True,steps=2)")
    with pytest.raises(Exception) as e:      # teacher='parent' never asks (it stops later: this context has no data)
        kind_of(parent_step).apply(ctx, m, parent_step)
    assert not isinstance(e.value, Asked)
