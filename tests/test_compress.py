
import pytest
import torch

from chvoice_core.budgets import get_budget
from chvoice_core.compress.artifact import load_artifact, load_float_model, save_artifact
from chvoice_core.compress.distill import DistillConfig, teacher_target, teacher_waveform
from chvoice_core.compress.pruning import (PruneConfig, Pruner, TaylorTracker, conv_levels, filter_macs, prunable_convs,
                                           remove_filters, select_filters)
from chvoice_core.compress.quantize import (dynamic_int8, float_conv_layers, int8_layers, prepare_qat, convert,
                                            select_backend, static_int8)
from chvoice_core.compress.recipes import VARIANTS, Variant, report_variants
from chvoice_core.compress.steps import make_step, runs_int8
from chvoice_core.data import DataConfig, get_profile
from chvoice_core.data.pairs import PairSampler
from chvoice_core.dsp import FrontEnd
from chvoice_core.errors import ChvoiceError
from chvoice_core.models import UNet, UNetConfig, count_macs
from chvoice_core.train import TrainConfig, train
from chvoice_core.losses import db_pairs, tile_loss
from chvoice_core.zoo import Zoo

CFG = UNetConfig(depth=4, base_width=8)


def warmed(cfg=CFG, seed=0):
    torch.manual_seed(seed)
    m = UNet(cfg)
    with torch.no_grad():
        m.train()
        m(torch.randn(8, 1, 128, 128))
    return m.eval()


def _blocks(m):
    return [m.inc] + [d[1] for d in m.downs] + [u.conv for u in m.ups]


def test_pruning_surgery_matches_zeroed_filters():
    m = warmed()
    g = torch.Generator().manual_seed(1)
    picks = [torch.randperm(c.out_channels, generator=g)[: c.out_channels // 3].tolist() for c in prunable_convs(m)]
    with torch.no_grad():
        for (conv, idx), (blk, i) in zip(zip(prunable_convs(m), picks), [(b, i) for b in _blocks(m) for i in (0, 3)]):
            conv.weight[idx] = 0            # a zeroed filter with zeroed BN affine outputs exactly 0 after ReLU
            blk[i + 1].weight[idx] = 0
            blk[i + 1].bias[idx] = 0
    x = torch.randn(2, 1, 128, 128)
    before, macs = m(x), count_macs(m)
    pruned = remove_filters(m, picks).eval()
    after = pruned(x)
    assert after.shape == before.shape
    assert torch.allclose(before, after, atol=1e-5)
    assert count_macs(pruned) < 0.7 * macs
    assert pruned.config.widths == tuple(c.out_channels for c in prunable_convs(pruned))


def test_taylor_scores_and_selection():
    m = warmed().train()
    tr = TaylorTracker(m)
    with pytest.raises(ChvoiceError, match="at least one training step"):
        tr.scores()
    x = torch.randn(4, 1, 128, 128)
    ((m(x) - x) ** 2).mean().backward()
    scores = tr.scores()
    assert len(scores) == 18 and all(torch.isclose(s.norm(), torch.tensor(1.0)) for s in scores)
    picks = select_filters(scores, 40, PruneConfig(min_channels=3))
    assert sum(map(len, picks)) <= 40
    assert all(c.out_channels - len(p) >= 3 for c, p in zip(prunable_convs(m), picks))
    tr.remove()
    rounded = select_filters(scores, 40, PruneConfig(round_to=4))
    assert all((c.out_channels - len(p)) % 4 == 0 for c, p in zip(prunable_convs(m), rounded) if p)


@pytest.mark.parametrize("bad", [dict(target_mac_reduction=1.2), dict(target_mac_reduction=-0.1),
                                 dict(filters_per_round=0), dict(criterion="random"), dict(rounds=0)])
def test_prune_config_rejects_bad_amounts(bad):
    with pytest.raises(ChvoiceError):
        PruneConfig(**bad)


def test_filter_macs_and_per_mac_ranking():
    """filter_macs is what removing one filter saves (checked by surgery); ranking per MAC thins the
    full-resolution layers, where a filter costs most, before the deep ones that plain ranking takes first."""
    m = warmed()
    costs = filter_macs(m)
    assert len(costs) == 18 and min(costs) > 0
    pick3 = [[0] if i == 3 else [] for i in range(18)]
    assert costs[3] == count_macs(m) - count_macs(remove_filters(warmed(), pick3))
    assert costs[0] > 10 * costs[8]                    # inc (full resolution) against the bottleneck
    levels = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0]     # resolution level of each prunable conv

    def mean_level(per_mac):
        pruner = Pruner(m, PruneConfig(criterion="l2", target_mac_reduction=0.5, per_mac=per_mac), total_steps=5)
        picks = select_filters(pruner.scores(m), 60, pruner.cfg)
        return sum(levels[i] * len(p) for i, p in enumerate(picks)) / sum(map(len, picks))
    assert mean_level(True) < mean_level(False) - 0.5


def test_pruning_restricted_to_the_outer_levels_and_to_given_widths():
    """levels=k prunes only the convs of the k outermost levels (the others keep every filter even when a MAC target
    would want them); target_widths lands each conv exactly on its width, in equal steps over the rounds."""
    m = warmed()
    lv = conv_levels(m)
    assert lv == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0]
    before = [c.out_channels for c in prunable_convs(m)]
    pruner = Pruner(m, PruneConfig(criterion="l2", target_mac_reduction=0.3, rounds=1, levels=1), total_steps=2)
    after = [c.out_channels for c in prunable_convs(pruner.prune_round(m))]
    assert all(a == b for a, b, l in zip(after, before, lv) if l > 0)
    assert sum(after) < sum(before)
    target = tuple(max(2, w // 2) if l == 0 else w for w, l in zip(before, lv))
    pruner = Pruner(m, PruneConfig(criterion="l2", rounds=2, target_widths=target), total_steps=4)
    half = pruner.prune_round(m)
    mid = [c.out_channels for c in prunable_convs(half)]
    assert all(t <= w <= b for t, w, b in zip(target, mid, before)) and mid != list(before)
    assert tuple(c.out_channels for c in prunable_convs(pruner.prune_round(half))) == target
    with pytest.raises(ChvoiceError, match="do not fit"):
        Pruner(m, PruneConfig(criterion="l2", target_widths=(4,) * 17), total_steps=2).prune_round(m)


def test_pruner_reaches_a_mac_target(builtin_data):
    m = warmed()
    base = count_macs(m)
    pruner = Pruner(m, PruneConfig(criterion="l2", target_mac_reduction=0.5, rounds=2), total_steps=6)
    s = PairSampler(builtin_data.train_speech, builtin_data.train_noise, get_profile("weighted"), 16129)
    r = train(m, s, TrainConfig(steps=6, batch_size=2, progress=False), on_step=pruner.on_step)
    assert pruner.rounds_done == 2
    assert count_macs(r["model"]) <= 0.5 * base * 1.001
    assert r["model"](torch.randn(1, 1, 128, 128)).shape == (1, 1, 128, 128)


def test_static_int8_has_quantized_convs_and_small_error(tmp_path):
    m = warmed()
    calib = torch.randn(64, 1, 128, 128)
    q = static_int8(m, calib)
    assert len(int8_layers(q)) == 19 and not float_conv_layers(q)   # every conv, the 1x1 out-conv included
    x = torch.randn(4, 1, 128, 128)
    with torch.no_grad():
        f, y = m(x), q(x)
    rel = float((y - f).pow(2).mean().sqrt() / f.pow(2).mean().sqrt())
    assert rel < 0.05      # stated tolerance: 5 % relative RMS error against fp32
    save_artifact(tmp_path / "q.pt", q, m.config, "static")
    q2, meta = load_artifact(tmp_path / "q.pt")
    assert meta["quant"] == "static" and meta["size_bytes"] < 0.5 * sum(p.numel() * 4 for p in m.parameters())
    assert torch.equal(q(x), q2(x))


def test_dynamic_int8_quantizes_no_conv():
    q = dynamic_int8(warmed())
    assert int8_layers(q) == []
    assert len(float_conv_layers(q)) == 19


def test_qat_fine_tune_converts_to_int8(tmp_path):
    m = warmed()
    prepared = prepare_qat(m)
    opt = torch.optim.Adam(prepared.parameters(), 1e-4)
    for _ in range(2):
        x = torch.randn(2, 1, 128, 128)
        loss = ((prepared(x) - x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    q = convert(prepared)
    assert len(int8_layers(q)) == 19
    save_artifact(tmp_path / "qat.pt", q, m.config, "qat")
    q2, _ = load_artifact(tmp_path / "qat.pt")
    x = torch.randn(1, 1, 128, 128)
    assert torch.equal(q(x), q2(x))


def test_backend_fallback_and_empty_calibration():
    with pytest.warns(UserWarning, match="falling back"):
        assert select_backend("no-such-engine") in torch.backends.quantized.supported_engines
    with pytest.raises(ChvoiceError, match="calibration data"):
        static_int8(warmed(), torch.zeros(0, 1, 128, 128))


def test_distilled_student_loss_falls(builtin_data):
    teacher = warmed(UNetConfig(depth=2, base_width=8), seed=3)
    target = teacher_target(teacher)
    s = PairSampler(builtin_data.train_speech, builtin_data.train_noise, get_profile("weighted"), 16129)
    noisy, clean = db_pairs(*s.batch(99_999, 8), FrontEnd(), torch.device("cpu"))
    fixed_target = target(noisy, clean)
    torch.manual_seed(0)
    student = UNet(UNetConfig(depth=2, base_width=4))

    def loss():
        with torch.no_grad():
            return float(tile_loss(student, noisy, fixed_target))

    before = loss()
    train(student, s, TrainConfig(steps=30, batch_size=4, lr=2e-3, progress=False), target_fn=target)
    assert loss() < 0.8 * before
    with pytest.raises(ChvoiceError, match="alpha"):
        DistillConfig(alpha=1.5)


def test_perceptual_distillation_learns_the_teachers_waveform(builtin_data):
    """A student trained on the teacher's waveforms (perceptual loss) moves towards what the teacher outputs; the
    target equals the teacher's offline output, causal teachers aligned by their lookahead."""
    from chvoice_core.enhance import Denoiser
    from chvoice_core.losses import batch_si_sdr
    teacher = warmed(UNetConfig(depth=2, base_width=8, mask=True), seed=3)
    with torch.no_grad():      # a teacher whose gains vary strongly across bins, far from the identity
        for p in teacher.outc.parameters():
            p.mul_(10)
    s = PairSampler(builtin_data.train_speech, builtin_data.train_noise, get_profile("weighted"), 16129)
    noisy, clean = (torch.from_numpy(a) for a in s.batch(99_999, 4))
    target = teacher_waveform(teacher)
    want = target(noisy, clean)
    assert want.shape == noisy.shape and torch.isfinite(want).all()
    offline = torch.from_numpy(Denoiser(teacher)(noisy[0].numpy()))
    mid = slice(2000, 14000)       # the tile engine cross-fades at the ends
    assert float(batch_si_sdr(want[:1, mid], offline[None, mid])) > 40      # the teacher's offline output
    torch.manual_seed(0)
    student = UNet(UNetConfig(depth=2, base_width=4, mask=True))
    before = float(batch_si_sdr(torch.from_numpy(Denoiser(student)(noisy[0].numpy()))[None], want[:1]))
    train(student, s, TrainConfig(steps=30, batch_size=4, lr=2e-3, progress=False, loss="perceptual",
                                  sisdr_weight=0.6), wave_target=target)
    after = float(batch_si_sdr(torch.from_numpy(Denoiser(student)(noisy[0].numpy()))[None], want[:1]))
    assert after > before + 1.0
    with pytest.raises(ChvoiceError, match="goes with the perceptual loss"):
        train(student, s, TrainConfig(steps=1, progress=False), wave_target=target)
    with pytest.raises(ChvoiceError, match="db-mse or perceptual"):
        make_step("distil", loss="mse")


def test_recipes_reject_conflicting_steps():
    bad = Variant("x", "normal", (make_step("int8"), make_step("prune", macs=0.5)), "N", "x", False)
    with pytest.raises(ChvoiceError, match="already|cannot"):
        bad.validate()
    with pytest.raises(ChvoiceError, match="unknown compression step"):
        make_step("sparsify")
    assert len(report_variants()) == 10


def test_artifact_version_and_mode_errors(tmp_path):
    m = warmed(UNetConfig(depth=2, base_width=4))
    save_artifact(tmp_path / "a.pt", m, m.config, None)
    ck = torch.load(tmp_path / "a.pt", weights_only=True)
    ck["quant"] = "int4"
    torch.save(ck, tmp_path / "b.pt")
    with pytest.raises(ChvoiceError, match="unknown quantization format"):
        load_artifact(tmp_path / "b.pt")
    ck["quant"], ck["format_version"] = None, 0
    torch.save(ck, tmp_path / "c.pt")
    with pytest.raises(ChvoiceError, match="format version 0"):
        load_artifact(tmp_path / "c.pt")



def test_steps_that_need_a_float_magnitude_model_refuse_others_in_one_line(tmp_path):
    """`chvoice quantize` and a compression chain's user teacher start from a float magnitude model: a quantized
    or phase-aware one is refused with the caller's label and reason, a float one comes back in eval mode."""
    m = warmed(UNetConfig(depth=2, base_width=4))
    save_artifact(tmp_path / "f.pt", m, m.config, None)
    save_artifact(tmp_path / "q.pt", static_int8(m, torch.randn(8, 1, 128, 128)), m.config, "static")
    ph = UNetConfig(**{**m.config.to_dict(), "phase": True})
    save_artifact(tmp_path / "p.pt", UNet(ph).eval(), ph, None)
    with pytest.raises(ChvoiceError, match=r"^teacher X: already quantized \(static\); give the float model$"):
        load_float_model(tmp_path / "q.pt", "teacher X", "unused")
    with pytest.raises(ChvoiceError, match=r"^teacher X: a phase-aware model; magnitude only$"):
        load_float_model(tmp_path / "p.pt", "teacher X", "magnitude only")
    f, meta = load_float_model(tmp_path / "f.pt", "teacher X", "unused")
    x = torch.randn(2, 1, 128, 128)
    assert not f.training and meta["quant"] is None and torch.equal(f(x), m(x))

@pytest.mark.slow
def test_every_variant_builds_and_round_trips(tmp_path_factory, cache_dir):
    """The whole table at the smoke budget: each artifact reloads to identical outputs, pruning shrinks MACs,
    quantized rows report their int8 layers honestly."""
    zoo = Zoo(get_budget("smoke"), DataConfig(cache_dir=str(cache_dir)), cache_dir=tmp_path_factory.mktemp("zoo"),
              progress=False)
    x = torch.randn(2, 1, 128, 128)
    macs = {}
    for vid, v in VARIANTS.items():
        e = zoo.entry(vid, "no-reverb")
        again, meta = load_artifact(e.path)
        with torch.no_grad():
            assert torch.equal(e.model(x), again(x)), vid
        macs[vid] = meta["macs"]
        if runs_int8(v.steps):
            assert len(meta["int8_layers"]) == 2 * (2 * meta["config"].depth + 1) + 1, vid
        else:
            assert meta["int8_layers"] == [], vid
    assert macs["normal-prune"] < macs["normal"] and macs["normal-prune50"] <= 0.5 * macs["normal"] * 1.01
    assert macs["normal-kd-prune-int8"] <= 0.5 * macs["normal-kd"] * 1.01
    # full-scale twins: one per (architecture, quantization), shared by the variants that have it, on disk
    int8, qat = zoo.full_scale("normal-int8", "no-reverb"), zoo.full_scale("normal-qat", "no-reverb")
    assert int8[0] is qat[0] and int8[1]["quant"] == "static"
    normal = zoo.full_scale("normal", "no-reverb")[1]
    assert normal["params"] == pytest.approx(13.4e6, rel=0.01) and normal["quant"] is None
    assert len(list(zoo._twin_dir().glob("*.pt"))) == 2
    again = Zoo(zoo.budget, zoo.data, cache_dir=zoo.cache_dir, progress=False)
    assert again.full_scale("normal-qat", "no-reverb")[1]["stamp"] == qat[1]["stamp"]   # read from disk
    # a corrupt cache entry is rebuilt, not crashed on
    e = zoo.entry("smaller", "no-reverb")
    e.path.write_bytes(b"broken")
    fresh = Zoo(zoo.budget, zoo.data, cache_dir=zoo.cache_dir, progress=False)
    assert load_artifact(fresh.entry("smaller", "no-reverb").path)[1]["params"] == e.meta["params"]


@pytest.mark.slow
def test_zoo_builds_do_not_depend_on_process_history(tmp_path, cache_dir):
    """Prebuild workers build several chains in one process: a model must come out the same whatever ran before."""
    def build(folder):
        zoo = Zoo(get_budget("smoke"), DataConfig(cache_dir=str(cache_dir)), cache_dir=folder, progress=False)
        return zoo.entry("normal-kd", "no-reverb").model.state_dict()
    a = build(tmp_path / "a")
    torch.rand(1000)                      # another job's draws from the global generator
    b = build(tmp_path / "b")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
