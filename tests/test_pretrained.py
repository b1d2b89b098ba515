"""The models shipped in the package: the report profiles' pretrained teachers and the `general` default."""
import pytest
import torch

from chvoice_core.budgets import get_budget
from chvoice_core.compress.artifact import load_artifact
from chvoice_core.data import DataConfig
from chvoice_core.data.profiles import REPORT_PROFILES
from chvoice_core.models.archs import arch_config
from chvoice_core.pretrained import assets_dir, default_model_path, teacher_path
from chvoice_core.zoo import Zoo


def test_package_model_data_stays_within_25_mb():
    """The project's limit on shipped models (the parents, the teachers and the real children together)."""
    total = sum(p.stat().st_size for p in assets_dir().rglob("*.pt"))
    assert total <= 25e6, total


@pytest.mark.parametrize("arch", ["normal", "smaller"])
@pytest.mark.parametrize("profile", REPORT_PROFILES)
def test_the_quick_zoo_starts_from_the_shipped_teachers(tmp_path, arch, profile):
    assert teacher_path(arch, profile) is not None
    zoo = Zoo(get_budget("quick"), DataConfig(cache_dir=str(tmp_path)), cache_dir=tmp_path, progress=False)
    model, meta = zoo.pretrained_parent(arch, profile)
    assert model.config == arch_config(arch, 8)
    assert meta["train_steps"] == 1200 == 10 * 120 and meta["budget"] == "quick" and meta["profile"] == profile
    assert meta["storage"] == "fp16" and all(p.dtype == torch.float32 for p in model.parameters())
    assert "pretrained" in zoo._stamp(arch, profile)
    # other budgets, or a zoo told not to, train their own
    assert Zoo(get_budget("smoke"), DataConfig(cache_dir=str(tmp_path)), cache_dir=tmp_path,
               progress=False).pretrained_parent(arch, profile) is None
    assert Zoo(get_budget("quick"), DataConfig(cache_dir=str(tmp_path)), cache_dir=tmp_path, progress=False,
               use_pretrained=False).pretrained_parent(arch, profile) is None


def test_the_default_model_is_the_general_denoiser():
    model, meta = load_artifact(default_model_path())
    assert meta["profile"] == "general" and meta["config"].mask
    assert meta["loss"] == "perceptual" and meta["quant"] == "static"
    steps, stage = 0, meta      # the last fine-tune plus every stage it started from (init_training, nested)
    while isinstance(stage, dict):
        steps += int(stage.get("train_steps", 0))
        stage = stage.get("init_training")
    assert steps >= 20_000 and meta["target_gate"]      # pass 1-6 on GPUs, then the gated-target fine-tune


@pytest.mark.realdata
def test_clean_speech_passes_undamaged(shared_data):
    """Denoising clean held-out speech keeps >= 20 dB SI-SDR against the input."""
    from chvoice_core.audio_io import read_audio
    from chvoice_core.enhance import Denoiser
    from chvoice_core.metrics import si_sdr
    den = Denoiser(load_artifact(default_model_path())[0])
    for f in sorted((shared_data / "cmu_arctic").rglob("*.wav"))[:3]:
        x, _ = read_audio(f)
        assert si_sdr(den(x), x) >= 20.0, f.name
