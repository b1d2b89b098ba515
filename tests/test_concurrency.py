"""One loaded model, many users at once: live sessions and offline calls from many threads, each output bit-equal to
the same call run alone (sessions own their state; the model and its compiled streaming step are shared)."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import chvoice_core as cv
from chvoice_core.data.realset import load_realset
from chvoice_core.causal_stream import CausalStreamingDenoiser
from tests.conftest import free_port


@pytest.fixture(scope="module")
def clips():
    items = load_realset()
    return [items[i].mixture.noisy[: 3 * 16_000] for i in (0, 17, 40, 101)]


def _stream(d: cv.Denoiser, x: np.ndarray, block: int) -> np.ndarray:
    return d.stream().run(x, block)


def _offline(d: cv.Denoiser, x: np.ndarray) -> np.ndarray:
    return d.enhance(x, 16_000)


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_8_threads_4_live_sessions_4_offline_calls_each_equal_to_running_alone(clips, backend, monkeypatch):
    d = cv.load("live")
    if backend == "torch":      # the int8 path streams in torch: sessions then share the fused torch model
        real = d.family.streamer
        monkeypatch.setattr(d, "stream", lambda mode=None: real(d.source, mode, d.fe, backend="torch"))
    jobs = [(_stream, x, block) for x, block in zip(clips, (127, 333, 1000, 4096))] + [(_offline, x) for x in clips]
    alone = [f(d, *args) for f, *args in jobs]
    assert isinstance(d.stream(), CausalStreamingDenoiser) and d.stream().backend == backend
    start = threading.Barrier(len(jobs))

    def run(job):
        f, *args = job
        start.wait(timeout=60)          # all eight begin together
        return f(d, *args)

    for _ in range(2):
        with ThreadPoolExecutor(len(jobs)) as pool:
            together = list(pool.map(run, jobs))
        for (f, *_), a, b in zip(jobs, alone, together):
            assert a.shape == b.shape and np.array_equal(a, b), f.__name__


def test_the_streaming_step_is_built_once_per_model_not_per_session(monkeypatch):
    from chvoice_core import onnx_step
    built = []
    real = onnx_step.export_step
    monkeypatch.setattr(onnx_step, "export_step", lambda *a, **kw: built.append(1) or real(*a, **kw))
    d = cv.load("live")
    with ThreadPoolExecutor(4) as pool:
        sessions = list(pool.map(lambda _: d.stream(), range(4)))
    assert len(built) == 1 and len({id(s.step) for s in sessions}) == 1
    assert len({id(s.state[0]) for s in sessions}) == 4          # each session its own state


def test_offline_calls_of_a_causal_model_leave_no_state_in_it(clips):
    d = cv.load("live")
    first = d(clips[0])
    d(clips[1])
    assert np.array_equal(d(clips[0]), first)
    assert not any(vars(m).get("state") is not None for m in d.model.modules())


@pytest.mark.slow
def test_chvoice_serve_workers_2_with_the_live_model_answers_concurrent_clients(clips, tmp_path):
    """`chvoice serve --model live --workers 2` started as a user starts it; four clients upload at once, and each
    gets the offline output of its own recording (as 16-bit WAV both ways)."""
    import io
    import subprocess
    import sys
    import time

    import requests
    import soundfile as sf
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "chvoice_core.cli", "serve", "--model", "live", "--workers", "2",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(600):
            try:
                if requests.get(url + "/", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.1)
        sent = []
        for x in clips:
            buf = io.BytesIO()
            sf.write(buf, x, 16_000, format="WAV", subtype="PCM_16")
            sent.append(buf.getvalue())

        def client(data: bytes) -> np.ndarray:
            job = requests.post(url + "/api/jobs", files={"file": ("talk.wav", data)}, timeout=30).json()["id"]
            for _ in range(1200):
                j = requests.get(f"{url}/api/jobs/{job}", timeout=10).json()
                if j["state"] in ("done", "error"):
                    break
                time.sleep(0.1)
            assert j["state"] == "done", j
            out = requests.get(f"{url}/api/jobs/{job}/output", timeout=30).content
            return sf.read(io.BytesIO(out), dtype="float32")[0]

        with ThreadPoolExecutor(len(sent)) as pool:
            outs = list(pool.map(client, sent))
        d = cv.load("live")
        for data, y in zip(sent, outs):
            x = sf.read(io.BytesIO(data), dtype="float32")[0]
            assert y.shape == x.shape
            assert np.abs(y - d.enhance(x, 16_000)).max() < 2e-4      # 16-bit output: half a step is 1.5e-5
    finally:
        proc.terminate()
        proc.wait(timeout=30)
