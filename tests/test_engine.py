"""One engine: the benchmark's timed call, `load().enhance()`, `chvoice denoise`, the web app's jobs and `evaluate`
all run `Denoiser.run`, and the timed call gives the user's samples."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

import chvoice_core as cv
from chvoice_core.api import evaluate
from chvoice_core.cli import main
from chvoice_core.enhance import Denoiser
from chvoice_core.timing import e2e_clip, end_to_end, user_call
from tests.conftest import speechlike


@pytest.fixture
def runs(monkeypatch):
    """Records each call of the engine (the Denoiser it ran on and the samples it was given)."""
    seen: list[tuple[str, int]] = []
    real = Denoiser.run

    def spy(self, x, on_progress=None, inplace=False):
        seen.append((self.name, len(x)))
        return real(self, x, on_progress, inplace)
    monkeypatch.setattr(Denoiser, "run", spy)
    return seen


def test_the_timed_call_the_api_and_the_cli_run_the_same_engine(model_file, runs, tmp_path, capsys):
    d = cv.load(model_file)
    clip = e2e_clip(speechlike(2.0, seed=4))
    timed = end_to_end(user_call(d), clip)()                  # the benchmark's timed call (bench/test_real.py)
    assert runs == [(d.name, len(clip))]
    assert np.array_equal(timed, d.enhance(clip, 16_000))    # load().enhance()
    assert runs[1] == runs[0]
    sf.write(tmp_path / "in.wav", clip, 16_000, subtype="FLOAT")
    assert main(["denoise", str(model_file), str(tmp_path / "in.wav"), "-o", str(tmp_path / "out.wav")]) == 0
    assert runs[2] == runs[0]                                 # chvoice denoise: the same engine on the same samples
    out = sf.read(tmp_path / "out.wav", dtype="float32")[0]
    assert np.abs(out - timed).max() < 1e-4                   # 16-bit file: the same samples to a step


def test_evaluate_and_the_web_jobs_run_the_engine_too(model_file, runs, tmp_path):
    from chvoice_core.web.jobs import Job, JobManager
    d = cv.load(model_file)
    x = speechlike(1.0, seed=5)
    for sub in ("noisy", "clean"):
        (tmp_path / sub).mkdir()
        sf.write(tmp_path / sub / "a.wav", x, 16_000, subtype="FLOAT")
    evaluate(d, tmp_path / "noisy", tmp_path / "clean", perceptual=False)
    assert runs == [(d.name, len(x))]
    jobs = JobManager(d, tmp_path / "jobs", workers=1)
    try:
        job_id, folder = jobs.new_folder()
        sf.write(folder / "up.wav", x, 16_000, subtype="FLOAT")
        job = jobs.submit(Job(job_id, folder, "audio", folder / "up.wav", "up.wav"))
        jobs.queue.join()
        assert job.state == "done", job.error
        assert runs[1] == runs[0]
    finally:
        jobs.shutdown()
