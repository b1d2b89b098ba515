"""The bad-input corpus (issue 14): hostile checkpoints, overwrites, write failures, truncated and cancelling
audio, bad options, file modes, short clips, long files in bounded memory, and web-app clean-up. Every case is
generated here; each must end in one `chvoice: error:` line and exit 2, or the documented behaviour."""
from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import requests
import soundfile as sf
import torch

from chvoice_core.cli import main
from chvoice_core.models import UNet, UNetConfig
from chvoice_core.models.io import FORMAT, FORMAT_VERSION, save_model
from tests.conftest import free_port, speechlike
from tests.test_cli import run

REPO = Path(__file__).resolve().parents[1]
# Peak RSS of the child program itself: VmHWM belongs to the address space that execve creates, whereas
# ru_maxrss survives execve and would report the (large) pytest process the child was forked from.
PEAK_RSS_SNIPPET = ("import sys; from chvoice_core.cli import main; rc = main(sys.argv[1:]); "
                    "print(next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM'))); "
                    "sys.exit(rc)")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("m") / "tiny.pt"
    m = UNet(UNetConfig(depth=2, base_width=4))
    with torch.no_grad():
        m.train()
        m(torch.randn(4, 1, 128, 128))
    save_model(path, m.eval())
    return path


def one_error(code, err, match):
    lines = [l for l in err.strip().splitlines() if l.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("chvoice: error:"), err
    assert match in lines[0], lines[0]


def digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


# ------------------------------------------------------------------ 1. hostile checkpoints

def _ckpt(path: Path, config=None, meta=None, state=None, **extra):
    d = {"format": FORMAT, "format_version": FORMAT_VERSION, "arch": "unet",
         "config": config if config is not None else UNetConfig(depth=2, base_width=4).to_dict(),
         "state_dict": state if state is not None else {}, "meta": meta if meta is not None else {}, **extra}
    torch.save(d, path)
    return path


@pytest.mark.parametrize("config,meta,match", [
    ({"depth": 4, "base_width": 1024}, {}, "parameters"),
    ({"depth": 40, "base_width": 8}, {}, "depth 40"),
    ({"depth": 2, "base_width": 100000}, {}, "base_width 100000"),
    ({"depth": 2, "base_width": -4}, {}, "base_width -4"),
    ({"depth": 2, "base_width": "wide"}, {}, "base_width 'wide'"),
    ({"depth": 0, "base_width": 8}, {}, "depth 0"),
    ({"depth": 2, "base_width": 8, "widths": [8] * 9}, {}, "widths needs 10"),
    ({"depth": 2, "base_width": 8, "widths": [8] * 9 + [10 ** 6]}, {}, "widths must be"),
    ({"depth": 2, "base_width": 8, "mask": "yes"}, {}, "mask must be"),
    ({"depth": 2, "base_width": 8, "evil": 1}, {}, "unknown field"),
    ("notadict", {}, "not a mapping"),
    ({"depth": 2, "base_width": 4}, "notadict", "meta is not a mapping"),
])
def test_crafted_checkpoints_fail_fast_and_small(tmp_path, capsys, config, meta, match):
    sf.write(tmp_path / "a.wav", speechlike(0.5), 16000)
    ck = _ckpt(tmp_path / "evil.pt", config=config, meta=meta)
    assert ck.stat().st_size < 4096
    code, out, err = run(["denoise", ck, tmp_path / "a.wav"], capsys)
    one_error(code, err, match)
    assert not (tmp_path / "a-denoised.wav").exists()


def test_crafted_checkpoint_does_not_exhaust_memory(tmp_path):
    """The 1.5 KB spec that once grew the process to 5.4 GB: checked in a fresh process by its peak RSS."""
    sf.write(tmp_path / "a.wav", speechlike(0.5), 16000)
    ck = _ckpt(tmp_path / "evil.pt", config={"depth": 4, "base_width": 1024})
    code = PEAK_RSS_SNIPPET
    r = subprocess.run([sys.executable, "-c", code, "denoise", str(ck), str(tmp_path / "a.wav")],
                       capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 2 and "bad architecture spec" in r.stderr
    assert int(r.stdout.strip()) < 1_500_000     # KiB: far from the 5.4 GB it once reached


def test_weights_of_the_wrong_shape_and_type(tmp_path, capsys, model_file):
    sf.write(tmp_path / "a.wav", speechlike(0.5), 16000)
    good = torch.load(model_file, weights_only=True)
    bad = dict(good["state_dict"])
    bad["inc.0.weight"] = torch.zeros(999, 1, 3, 3)
    one_error(*run(["denoise", _ckpt(tmp_path / "s.pt", state=bad), tmp_path / "a.wav"], capsys)[::2],
              "inc.0.weight: (999, 1, 3, 3)")
    bad = dict(good["state_dict"])
    bad["inc.0.weight"] = "not a tensor"
    one_error(*run(["denoise", _ckpt(tmp_path / "t.pt", state=bad), tmp_path / "a.wav"], capsys)[::2],
              "weights do not match")
    one_error(*run(["denoise", _ckpt(tmp_path / "u.pt", state=[1, 2]), tmp_path / "a.wav"], capsys)[::2],
              "state_dict is not a mapping")


# ------------------------------------------------------------------ 2. overwrites and collisions

def test_refuses_to_overwrite_inputs_or_collide(tmp_path, capsys, model_file):
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    (tmp_path / "out").mkdir()
    for d in ("x", "y"):
        sf.write(tmp_path / d / "take.wav", speechlike(0.6, seed=ord(d)), 16000)
    before = digest(tmp_path / "x" / "take.wav")
    a = tmp_path / "x" / "take.wav"
    one_error(*run(["denoise", model_file, a, "-o", a], capsys)[::2], "refusing to write over the input")
    one_error(*run(["denoise", model_file, a, "-o", tmp_path / "x"], capsys)[::2], "refusing to write over the input")
    one_error(*run(["denoise", model_file, a, tmp_path / "y" / "take.wav", "-o", tmp_path / "out"], capsys)[::2],
              "would be written to the same file")
    assert digest(a) == before and not list((tmp_path / "out").iterdir())
    one_error(*run(["live", "--model", model_file, "--input", a, "--output", a], capsys)[::2],
              "refusing to write over the input")
    assert digest(a) == before


# ------------------------------------------------------------------ 3. write failures, all or nothing

def _mount(kind: str, target: Path) -> bool:
    target.mkdir()
    opts = "size=64k" + (",ro" if kind == "ro" else "")
    return subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(target)], capture_output=True).returncode == 0


def test_full_disk_read_only_and_immutable_folders(tmp_path, capsys, model_file):
    """Real failing filesystems where this machine allows them (root: tmpfs mounts, chattr +i)."""
    a = tmp_path / "a.wav"
    sf.write(a, speechlike(3.0), 44100)          # ~260 KB out: more than the 64 KB disk
    tried = 0
    for kind, match in (("full", "no space left on the device"), ("ro", "read-only file system")):
        d = tmp_path / kind
        if not _mount(kind, d):
            continue
        tried += 1
        try:
            one_error(*run(["denoise", model_file, a, "-o", d / "o.wav", "--quiet"], capsys)[::2], f"{d / 'o.wav'}: cannot write ({match})")
            assert not list(d.iterdir())
        finally:
            subprocess.run(["umount", str(d)], capture_output=True)
    imm = tmp_path / "imm"
    imm.mkdir()
    if subprocess.run(["chattr", "+i", str(imm)], capture_output=True).returncode == 0:
        tried += 1
        try:
            one_error(*run(["denoise", model_file, a, "-o", imm / "o.wav", "--quiet"], capsys)[::2],
                      "cannot write (operation not permitted)")
        finally:
            subprocess.run(["chattr", "-i", str(imm)], capture_output=True)
    if not tried:
        pytest.skip("no tmpfs mounts or chattr here (not root?)")

def test_write_failures_are_one_line(tmp_path, capsys, model_file):
    a = tmp_path / "a.wav"
    sf.write(a, speechlike(0.6), 16000)
    (tmp_path / "dir.wav").mkdir()
    (tmp_path / "a-denoised.wav").mkdir()
    (tmp_path / "file").write_text("x")
    one_error(*run(["denoise", model_file, a], capsys)[::2], "a-denoised.wav: cannot write (is a folder)")
    one_error(*run(["denoise", model_file, a, "-o", tmp_path / "file" / "o.wav"], capsys)[::2],
              "a parent of it is a file")
    one_error(*run(["denoise", model_file, a, "-o", "/proc/chvoice/o.wav"], capsys)[::2], "cannot write")
    one_error(*run(["live", "--model", model_file, "--input", a, "--output", tmp_path / "dir.wav"], capsys)[::2],
              "is a folder")
    if os.path.exists("/dev/full"):
        from chvoice_core.audio_io import write_audio
        from chvoice_core.errors import ChvoiceError
        with pytest.raises(ChvoiceError, match="cannot write"):
            write_audio("/dev/full/x.wav", speechlike(0.1))


def test_a_multi_file_run_writes_all_outputs_or_none(tmp_path, capsys, model_file, monkeypatch):
    import errno

    import chvoice_core.cli.audio as cli_audio           # where `chvoice denoise` looks the pipeline up
    for n in ("a", "b", "c"):
        sf.write(tmp_path / f"{n}.wav", speechlike(0.6, seed=ord(n)), 16000)
    (tmp_path / "out").mkdir()
    real = cli_audio.denoise_to
    calls = []

    def flaky(den, src, out, on_progress=None, label=None, checked=False):
        calls.append(src)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(den, src, out, on_progress, label, checked)
    monkeypatch.setattr(cli_audio, "denoise_to", flaky)
    code = main(["denoise", str(model_file), *(str(tmp_path / f"{n}.wav") for n in "abc"),
                 "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    one_error(code, err, "no space left")
    assert list((tmp_path / "out").iterdir()) == []            # nothing, not a and b
    monkeypatch.setattr(cli_audio, "denoise_to", real)
    assert main(["denoise", str(model_file), *(str(tmp_path / f"{n}.wav") for n in "abc"),
                 "-o", str(tmp_path / "out"), "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.wav", "b.wav", "c.wav"]


def test_evaluate_out_is_checked_before_scoring(tmp_path, capsys):
    for d in ("noisy", "clean"):
        (tmp_path / d).mkdir()
        sf.write(tmp_path / d / "u.wav", speechlike(0.6), 16000)
    (tmp_path / "file").write_text("x")
    code, out, err = run(["evaluate", "--noisy", tmp_path / "noisy", "--clean", tmp_path / "clean",
                          "--out", tmp_path / "file" / "scores"], capsys)
    one_error(code, err, "cannot write")
    assert "mean:" not in out                                  # failed before any scoring


# ------------------------------------------------------------------ 4. short clips in evaluate

def test_evaluate_marks_pesq_of_too_short_clips(tmp_path, capsys):
    for d in ("noisy", "clean"):
        (tmp_path / d).mkdir()
        sf.write(tmp_path / d / "long.wav", speechlike(1.0), 16000)
        sf.write(tmp_path / d / "tiny.wav", speechlike(0.1), 16000)
    code, out, err = run(["evaluate", "--noisy", tmp_path / "noisy", "--clean", tmp_path / "clean",
                          "--out", tmp_path / "s"], capsys)
    assert code == 0, err
    assert "n/a" in out and "(1 n/a)" in out and "PESQ needs at least 0.25 s" in out
    import pandas as pd
    df = pd.read_csv(tmp_path / "s" / "scores.csv").set_index("id")
    assert np.isnan(df.loc["tiny", "pesq_wb"]) and np.isfinite(df.loc["long", "pesq_wb"])
    assert np.isfinite(df.loc["tiny", "si_sdr"])


# ------------------------------------------------------------------ 6. truncated and cancelling audio, 7. options

def test_truncated_and_cancelling_files_and_bad_options(tmp_path, capsys, model_file):
    x = speechlike(2.0)
    sf.write(tmp_path / "full.wav", x, 16000, subtype="PCM_16")
    (tmp_path / "cut.wav").write_bytes((tmp_path / "full.wav").read_bytes()[:44 + 3200])
    sf.write(tmp_path / "anti.wav", np.stack([x, -x], axis=1), 16000, subtype="PCM_16")
    cut, anti, full = tmp_path / "cut.wav", tmp_path / "anti.wav", tmp_path / "full.wav"
    one_error(*run(["denoise", model_file, cut], capsys)[::2], "truncated file")
    one_error(*run(["live", "--model", model_file, "--input", cut, "--output", tmp_path / "o.wav"], capsys)[::2],
              "truncated file")
    one_error(*run(["denoise", model_file, anti], capsys)[::2], "channels cancel")
    one_error(*run(["denoise", model_file, full, "--device", "banana"], capsys)[::2], "unknown device")
    if not torch.cuda.is_available():
        one_error(*run(["denoise", model_file, full, "--device", "cuda"], capsys)[::2], "no CUDA device")
    one_error(*run(["live", "--model", model_file, "--input", full, "--output", tmp_path / "o.wav", "--threads", "0"],
                   capsys)[::2], "--threads 0")
    one_error(*run(["live", "--model", model_file, "--input", full, "--output", tmp_path / "o.wav", "--block", "0"],
                   capsys)[::2], "--block 0")
    one_error(*run(["train", "--budget", "smoke", "--out", tmp_path / "t", "--device", "banana"], capsys)[::2],
              "unknown device")
    assert not (tmp_path / "o.wav").exists()


# ------------------------------------------------------------------ 8. modes and names

def test_outputs_honour_the_umask_and_keep_a_replaced_files_mode(tmp_path, capsys, model_file):
    a = tmp_path / "a.wav"
    sf.write(a, speechlike(0.6), 16000)
    old = os.umask(0o022)
    try:
        assert main(["denoise", str(model_file), str(a), "--quiet"]) == 0
        assert stat.S_IMODE((tmp_path / "a-denoised.wav").stat().st_mode) == 0o644
        os.chmod(tmp_path / "a-denoised.wav", 0o640)
        assert main(["denoise", str(model_file), str(a), "--quiet"]) == 0
        assert stat.S_IMODE((tmp_path / "a-denoised.wav").stat().st_mode) == 0o640
        os.umask(0o077)
        assert main(["denoise", str(model_file), str(a), "-o", str(tmp_path / "b.wav"), "--quiet"]) == 0
        assert stat.S_IMODE((tmp_path / "b.wav").stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_unicode_names_survive_in_web_downloads():
    from chvoice_core.web.app import safe_name
    assert safe_name("Interview – Zoë 録音.wav") == "Interview _ Zoë 録音.wav"
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("..\\\\..\\\\x.wav") == "x.wav"
    assert safe_name("") == "upload"


# ------------------------------------------------------------------ 9. long files

def test_chunked_denoising_equals_one_piece(model_file):
    from chvoice_core.compress.artifact import load_artifact
    from chvoice_core.enhance import Denoiser
    m, _ = load_artifact(model_file)
    den = Denoiser(m)
    x = np.concatenate([speechlike(3.0, seed=s) for s in range(7)])       # 21 s: 21 tiles, 2 chunks
    x = x + 0.01 * np.random.default_rng(0).standard_normal(len(x)).astype(np.float32)
    from chvoice_core.dsp import enhance_db, istft, regain, stft, to_db
    spec = stft(torch.from_numpy(x), den.fe)                                 # the whole signal in one piece
    db = to_db(spec.abs(), den.fe)
    ref = istft(regain(spec, db, enhance_db(db, den.tiles, den.fe)), den.fe, len(x)).numpy()
    assert np.abs(den.run(x) - ref).max() <= 1e-5
    buf = x.copy()
    assert np.abs(den.run(buf, inplace=True) - ref).max() <= 1e-5      # output written over its own input


@pytest.mark.parametrize("sr", [16000, 44100, 48000, 8000])
def test_blockwise_resampling_equals_one_call(sr):
    import torchaudio.functional as AF

    from chvoice_core.longform import resample_blocks
    z = np.random.default_rng(sr).standard_normal(sr * 3 + 17).astype(np.float32)
    full = AF.resample(torch.from_numpy(z), sr, 16000).numpy()
    part = np.concatenate(list(resample_blocks((z[i:i + 20000] for i in range(0, len(z), 20000)), len(z), sr,
                                               16000, block_groups=97)))
    assert len(part) == len(full) and np.abs(part - full).max() <= 1e-5


@pytest.mark.slow
def test_a_30_minute_file_in_bounded_memory(tmp_path, model_file):
    """Peak RSS of denoising 30 minutes (44.1 kHz stereo) stays within 1.5x of a 2-second file's."""
    rng = np.random.default_rng(0)
    with sf.SoundFile(tmp_path / "long.wav", "w", 44100, 2, subtype="PCM_16") as f:
        for _ in range(30):
            f.write((0.05 * rng.standard_normal((44100 * 60, 2))).astype(np.float32))
    sf.write(tmp_path / "short.wav", (0.05 * rng.standard_normal((88200, 2))).astype(np.float32), 44100)
    code = PEAK_RSS_SNIPPET
    peaks = {}
    for name in ("short", "long"):
        r = subprocess.run([sys.executable, "-c", code, "denoise", str(model_file), str(tmp_path / f"{name}.wav"),
                            "--quiet"], capture_output=True, text=True, timeout=900, cwd=REPO,
                           env={**os.environ, "OMP_NUM_THREADS": "2"})
        assert r.returncode == 0, r.stderr[-500:]
        peaks[name] = int(r.stdout.strip().splitlines()[-1])
    info = sf.info(str(tmp_path / "long-denoised.wav"))
    assert info.samplerate == 44100 and info.frames == 44100 * 1800
    assert peaks["long"] <= 1.5 * peaks["short"], peaks


# ------------------------------------------------------------------ 5. web clean-up

@pytest.mark.slow
def test_serve_cleans_up_on_sigterm_and_after_a_kill(tmp_path, model_file):
    work = tmp_path / "tmp"
    work.mkdir()
    env = {**os.environ, "TMPDIR": str(work)}
    port = free_port()

    def start():
        p = subprocess.Popen([sys.executable, "-m", "chvoice_core.cli", "serve", "--model", str(model_file),
                              "--port", str(port), "--max-upload-mb", "1"], env=env, cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for _ in range(300):
            try:
                requests.get(f"http://127.0.0.1:{port}/", timeout=1)
                return p
            except requests.ConnectionError:
                time.sleep(0.1)
        p.kill()
        raise AssertionError(p.stderr.read())

    base = f"http://127.0.0.1:{port}"
    p = start()
    try:
        buf = __import__("io").BytesIO()
        sf.write(buf, speechlike(20.0), 16000, format="WAV")
        ids = [requests.post(f"{base}/api/jobs", files={"file": (f"u{i}.wav", buf.getvalue())}, timeout=10).json()["id"]
               for i in range(3)]
        big = requests.post(f"{base}/api/jobs", files={"file": ("big.wav", b"RIFF" + b"\0" * (2 << 20))}, timeout=10)
        assert big.status_code == 413
        trunc = buf.getvalue()[:60000]
        j = requests.post(f"{base}/api/jobs", files={"file": ("cut.wav", trunc)}, timeout=10).json()["id"]
        for _ in range(200):
            st = requests.get(f"{base}/api/jobs/{j}", timeout=5).json()
            if st["state"] in ("done", "error"):
                break
            time.sleep(0.1)
        assert st["state"] == "error" and "truncated" in st["error"] and str(work) not in st["error"]
        roots = list(work.glob("chvoice-web-*"))
        assert len(roots) == 1
        assert len([d for d in roots[0].iterdir() if d.is_dir()]) == 4      # 3 queued/running + 1 failed, no 413
        assert ids
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
    assert not list(work.glob("chvoice-web-*")), "job folders left after SIGTERM"
    # a killed server leaves its folder; the next one removes it on start-up
    p = start()
    p.kill()
    p.wait()
    assert len(list(work.glob("chvoice-web-*"))) == 1
    p = start()
    try:
        assert len(list(work.glob("chvoice-web-*"))) == 1          # only the new server's own
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
    assert not list(work.glob("chvoice-web-*"))
