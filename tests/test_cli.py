import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from chvoice_core.cli import main
from tests.conftest import speechlike


def run(args, capsys):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_denoise_any_rate_channels_and_length(model_file, tmp_path, capsys):
    x = speechlike(2.3, sr=22050)
    sf.write(tmp_path / "in.wav", np.stack([x, 0.5 * x], axis=1), 22050)
    sf.write(tmp_path / "short.flac", speechlike(0.2), 16000)   # shorter than one tile: padded, not refused
    code, out, err = run(["denoise", model_file, tmp_path / "in.wav", "-o", tmp_path / "out.wav"], capsys)
    assert code == 0, err
    y, sr = sf.read(tmp_path / "out.wav")
    assert sr == 22050 and y.ndim == 1 and abs(len(y) - len(x)) <= 2
    code, out, err = run(["denoise", "--model", model_file, tmp_path / "short.flac"], capsys)
    assert code == 0, err
    y, sr = sf.read(tmp_path / "short-denoised.flac")
    assert sr == 16000 and len(y) == 3200


def test_denoise_bad_inputs_leave_no_output(model_file, tmp_path, capsys):
    sf.write(tmp_path / "good.wav", speechlike(1.0), 16000)
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "junk.mp3").write_text("not audio")
    sf.write(tmp_path / "silent.wav", np.zeros(800), 16000)
    nan = speechlike(0.5)
    nan[10] = np.nan
    sf.write(tmp_path / "nan.wav", nan, 16000, subtype="FLOAT")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "corrupt.pt").write_bytes(b"garbage")
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    cases = [
        ([model_file, tmp_path / "missing.wav"], "no such file"),
        ([model_file, tmp_path / "good.wav", tmp_path / "empty.wav"], "file is empty"),
        ([model_file, tmp_path / "junk.mp3"], "not a readable audio file"),
        ([model_file, tmp_path / "silent.wav"], "all silent"),
        ([model_file, tmp_path / "nan.wav"], "NaN or inf"),
        ([model_file, tmp_path / "notes.txt"], "unsupported extension"),
        ([tmp_path / "corrupt.pt", tmp_path / "good.wav"], "not a readable chvoice checkpoint"),
        ([other, tmp_path / "good.wav"], "not a chvoice model file"),
    ]
    before = sorted(p.name for p in tmp_path.iterdir())
    for args, msg in cases:
        code, out, err = run(["denoise", *args], capsys)
        assert code == 2
        assert err.count("\n") == 1 and msg in err and err.startswith("chvoice: error:"), err
    assert sorted(p.name for p in tmp_path.iterdir()) == before    # nothing written, nothing half-written


def _pair_folders(root, n=3, sr=16000):
    for sub in ("noisy", "clean"):
        (root / sub).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        c = speechlike(1.2, seed=i)
        sf.write(root / "clean" / f"f{i}.wav", c, sr)
        sf.write(root / "noisy" / f"f{i}.wav", c + 0.03 * rng.standard_normal(len(c)), sr)


def test_evaluate_paired_folders(model_file, tmp_path, capsys):
    _pair_folders(tmp_path)
    code, out, err = run(["evaluate", "--noisy", tmp_path / "noisy", "--clean", tmp_path / "clean",
                          "--out", tmp_path / "scores", "--quiet"], capsys)
    assert code == 0, err
    assert "noisy input" in out and "f2" in out and "mean:" in out
    scores = json.loads((tmp_path / "scores" / "scores.json").read_text())
    assert len(scores["files"]) == 3 and scores["model"] is None
    assert (tmp_path / "scores" / "scores.csv").read_text().startswith("id,rms_db,si_sdr")
    # beside the reference metrics: DNSMOS of the output, and residual noise in the reference's pauses per band,
    # pooled (the noisy input itself removes nothing: 0 dB in every band)
    mean = scores["mean"]
    assert {"dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak", "pause_att_7-8k", "pause_att_min_1-8k"} <= set(mean)
    assert abs(mean["pause_att_min_1-8k"]) < 1e-9 and mean["pause_frames"] > 0
    assert "pause attenuation, pooled over" in out and "pause_in_" not in out
    code, out, err = run(["evaluate", model_file, "--noisy", tmp_path / "noisy", "--clean", tmp_path / "clean",
                          "--quiet"], capsys)
    assert code == 0 and "tiny" in out


def test_evaluate_mismatched_folders(tmp_path, capsys):
    _pair_folders(tmp_path)
    (tmp_path / "clean" / "f1.wav").unlink()
    code, out, err = run(["evaluate", "--noisy", tmp_path / "noisy", "--clean", tmp_path / "clean"], capsys)
    assert code == 2 and "do not pair up" in err and err.count("\n") == 1


def test_testset_and_unknown_names(tmp_path, cache_dir, capsys):
    code, out, err = run(["testset", "--profile", "no-reverb", "-n", "3", "--out", tmp_path / "ts",
                          "--cache-dir", cache_dir], capsys)
    assert code == 0, err
    assert len(list((tmp_path / "ts" / "noisy").iterdir())) == 3
    code, out, err = run(["testset", "--profile", "stormy", "--out", tmp_path / "t2"], capsys)
    assert code == 2 and "unknown noise profile 'stormy'" in err
    code, out, err = run(["train", "--budget", "huge", "--out", tmp_path / "t3"], capsys)
    assert code == 2 and "unknown budget 'huge'" in err
    code, out, err = run(["train", "--budget", "smoke", "--data-root", tmp_path / "nowhere", "--out", tmp_path / "t4"],
                         capsys)
    assert code == 2 and "no such folder" in err
    assert not (tmp_path / "t2").exists() and not (tmp_path / "t4").exists()


@pytest.mark.slow
def test_train_smoke_end_to_end_as_a_user_runs_it(tmp_path, cache_dir):
    """The installed console entry point, in a subprocess: train, then denoise with the result."""
    env_cache = ["--cache-dir", str(cache_dir)]
    r = subprocess.run([sys.executable, "-m", "chvoice_core.cli", "train", "--budget", "smoke", "--out",
                        str(tmp_path / "run"), "--quiet", *env_cache], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    info = json.loads(r.stdout.strip().splitlines()[-1])
    assert info["steps"] == 12
    sf.write(tmp_path / "a.wav", speechlike(1.0), 16000)
    r = subprocess.run([sys.executable, "-m", "chvoice_core.cli", "denoise", info["model"], str(tmp_path / "a.wav")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "a-denoised.wav").is_file()


def test_evaluate_without_reference_uses_dnsmos_and_peers_score_alike(tmp_path, capsys):
    pytest.importorskip("speechmos")
    (tmp_path / "rec").mkdir()
    x = speechlike(3.0)
    noise = 0.05 * np.random.default_rng(0).standard_normal(len(x)).astype(np.float32)
    sf.write(tmp_path / "rec" / "clean.wav", x, 16000)
    sf.write(tmp_path / "rec" / "noisy.wav", x + noise, 16000)
    code, out, err = run(["evaluate", "--noisy", tmp_path / "rec", "--out", tmp_path / "s"], capsys)
    assert code == 0, err
    df = __import__("pandas").read_csv(tmp_path / "s" / "scores.csv").set_index("id")
    assert set(df.columns) == {"dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak", "dnsmos_p808"}
    assert ((df >= 1) & (df <= 5)).all().all()
    assert df.loc["clean", "dnsmos_bak"] > df.loc["noisy", "dnsmos_bak"]      # white noise lowers background MOS
    code, out, err = run(["evaluate", "--peer", "noisereduce", "--noisy", tmp_path / "rec", "--clean", tmp_path / "rec",
                          "--quiet"], capsys)
    assert code == 0, err and "peer:noisereduce" in out
    code, out, err = run(["evaluate", "--peer", "nope", "--noisy", tmp_path / "rec"], capsys)
    assert code == 2 and "unknown peer" in err


def test_train_init_fine_tunes_a_model_of_the_same_architecture(tmp_path, cache_dir, capsys):
    import torch

    from chvoice_core.compress.artifact import load_artifact
    from chvoice_core.models import UNet
    from chvoice_core.models.archs import arch_config
    from chvoice_core.models.io import save_model
    torch.manual_seed(3)
    start = UNet(arch_config("normal", 8)).eval()          # the smoke budget's normal architecture
    save_model(tmp_path / "start.pt", start, {"train_steps": 7, "lr": 0.001})
    base = ["train", "--budget", "smoke", "--steps", "1", "--lr", "1e-9", "--quiet", "--cache-dir", cache_dir]
    code, out, err = run(base + ["--init", tmp_path / "start.pt", "--out", tmp_path / "ft"], capsys)
    assert code == 0, err
    tuned, meta = load_artifact(tmp_path / "ft" / "model.pt")
    w0, w1 = dict(start.named_parameters()), dict(tuned.named_parameters())
    # one step at a negligible learning rate: the weights are the starting model's, not a fresh initialisation
    assert all(torch.allclose(w0[k], w1[k], atol=1e-4) for k in w0)
    assert meta["init"] == str(tmp_path / "start.pt")
    assert meta["init_training"] == {"train_steps": 7, "lr": 0.001} and meta["train_steps"] == 1
    assert meta["amp"] == "none"
    code, out, err = run(base + ["--amp", "bf16", "--init", tmp_path / "start.pt", "--out", tmp_path / "bf"], capsys)
    assert code == 0, err
    assert load_artifact(tmp_path / "bf" / "model.pt")[1]["amp"] == "bf16"
    code, out, err = run(base + ["--width", "16", "--init", tmp_path / "start.pt", "--out", tmp_path / "bad"], capsys)
    assert code == 2 and "is not the one asked for" in err and err.count("\n") == 1
    code, out, err = run(base + ["--time-budget", "-1", "--out", tmp_path / "bad"], capsys)
    assert code == 2 and "--time-budget" in err and err.count("\n") == 1
    code, out, err = run(base + ["--noise-warp", "1.5", "--out", tmp_path / "bad"], capsys)
    assert code == 2 and "--noise-warp 1.5" in err and err.count("\n") == 1
    code, out, err = run(base + ["--noise-eq", "-0.1", "--out", tmp_path / "bad"], capsys)
    assert code == 2 and "--noise-eq -0.1" in err and err.count("\n") == 1
    code, out, err = run(base + ["--speech-warp", "2", "--out", tmp_path / "bad"], capsys)
    assert code == 2 and "--speech-warp 2" in err and err.count("\n") == 1
    code, out, err = run(base + ["--speech-gaps", "1.5", "--out", tmp_path / "bad"], capsys)
    assert code == 2 and "--speech-gaps 1.5" in err and err.count("\n") == 1
    (tmp_path / "w.json").write_text('{"wind": 3}')
    code, out, err = run(base + ["--noise-weights", tmp_path / "w.json", "--out", tmp_path / "bad"], capsys)
    assert code == 2 and "fixes its categories" in err and err.count("\n") == 1     # smoke trains `weighted`
    code, out, err = run(base + ["--teacher-alpha", "0.5", "--out", tmp_path / "bad"], capsys)
    assert code == 2 and "--teacher-target" in err and err.count("\n") == 1
    code, out, err = run(base + ["--loss", "db-mse", "--teacher-target", tmp_path / "start.pt", "--out",
                                 tmp_path / "bad"], capsys)
    assert code == 2 and "--loss perceptual" in err and err.count("\n") == 1
    # distillation: the student learns the teacher's output, the gaps silence spans of the speech; both recorded
    code, out, err = run(base + ["--loss", "perceptual", "--teacher-target", tmp_path / "start.pt", "--speech-gaps",
                                 "0.5", "--init", tmp_path / "start.pt", "--out", tmp_path / "kd"], capsys)
    assert code == 0, err
    meta = load_artifact(tmp_path / "kd" / "model.pt")[1]
    assert meta["teacher_target"] == str(tmp_path / "start.pt") and meta["teacher_alpha"] == 0
    assert meta["speech_gaps"] == 0.5


def test_train_config_file_sets_defaults_the_command_line_wins(tmp_path, capsys):
    from chvoice_core.cli.parser import parse_args
    cfg = tmp_path / "ft.toml"
    cfg.write_text('lr = 1.5e-4\nmask = true\nn-fft = 510\nsteps = 600\ntarget-gate = true\nprofile = "general"\n')
    a = parse_args(["train", "--config", str(cfg), "--out", str(tmp_path / "o"), "--steps", "7"])
    assert (a.lr, a.mask, a.n_fft, a.target_gate, a.profile, a.steps) == (1.5e-4, True, 510, True, "general", 7)
    assert parse_args(["train", "--out", "o"]).lr == 4e-4          # no file: the parser's own defaults
    # the shipped recipe parses; a bad key or a broken file is one error line and exit 2, nothing trained
    assert parse_args(["train", "--config", "configs/default-finetune.toml", "--out", "o"]).init.endswith("default-float.pt")
    cfg.write_text("learning-rate = 1\n")
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "o")]) == 2
    assert "unknown option 'learning-rate'" in capsys.readouterr().err and not (tmp_path / "o").exists()
    cfg.write_text("lr = [\n")
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
