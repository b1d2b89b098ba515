"""The web app, served for real on a loopback port: API round trips, limits, 24 concurrent jobs, and a
headless Chromium (Playwright) upload and download."""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import requests
import soundfile as sf
import torch
from werkzeug.serving import make_server

from chvoice_core.enhance import Denoiser
from chvoice_core.models import UNet, UNetConfig
from chvoice_core.web import create_app
from chvoice_core.web.media import ffmpeg_exe, sniff
from tests.conftest import speechlike

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _tiny():
    torch.manual_seed(0)
    m = UNet(UNetConfig(depth=2, base_width=4))
    with torch.no_grad():
        m.train()
        m(torch.randn(4, 1, 128, 128))
    return m.eval()


class GatedDenoiser(Denoiser):
    """Blocks every call until the test opens the gate, so a queue can be filled without racing the worker."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.gate = threading.Event()

    def tiles(self, db):     # both the one-piece and the chunked path go through here
        assert self.gate.wait(timeout=60), "the test never opened the gate"
        return super().tiles(db)


class Server:
    def __init__(self, denoiser: Denoiser | None = None, **kw):
        self.app = create_app(denoiser or Denoiser(_tiny(), name="tiny-test-model"), **kw)
        self.srv = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.srv.server_port}"
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.srv.shutdown()
        self.app.extensions["chvoice_jobs"].shutdown()


@pytest.fixture(scope="module")
def server():
    s = Server(workers=2, max_queue=40, max_upload_mb=5)
    yield s
    s.close()


def wav_bytes(x, sr=16000):
    buf = io.BytesIO()
    sf.write(buf, x, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def submit(url, name, data):
    return requests.post(f"{url}/api/jobs", files={"file": (name, data)}, timeout=30)


def wait(url, job_id, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        j = requests.get(f"{url}/api/jobs/{job_id}", timeout=10).json()
        if j["state"] in ("done", "error"):
            return j
        time.sleep(0.1)
    raise TimeoutError(job_id)


def test_sniffing_by_content_not_name():
    assert sniff(wav_bytes(speechlike(0.1))[:64]) == ("audio", ".wav")
    assert sniff(b"fLaC" + b"\0" * 60) == ("audio", ".flac")
    assert sniff(b"\0\0\0\x18ftypmp42" + b"\0" * 52) == ("video", ".mp4")
    assert sniff(b"<html>hello</html>" + b"\0" * 50) is None


def test_audio_round_trip(server):
    x = speechlike(1.7, sr=22050)
    r = submit(server.url, "my talk (1).wav", wav_bytes(x, 22050))
    assert r.status_code == 202
    j = wait(server.url, r.json()["id"])
    assert j["state"] == "done" and j["progress"] == 1.0 and j["name"] == "my talk _1_.wav"
    out = requests.get(f"{server.url}/api/jobs/{j['id']}/output?download=1", timeout=30)
    assert out.status_code == 200 and "my talk _1_-denoised.wav" in out.headers["Content-Disposition"]
    y, sr = sf.read(io.BytesIO(out.content))
    assert sr == 22050 and abs(len(y) - len(x)) <= 2
    assert requests.get(f"{server.url}/api/jobs/{j['id']}/input", timeout=10).content == wav_bytes(x, 22050)


def test_video_keeps_picture_and_gets_new_audio(server, tmp_path):
    video = tmp_path / "clip.mp4"
    sf.write(tmp_path / "speech.wav", speechlike(2.0), 16000)
    subprocess.run([ffmpeg_exe(), "-nostdin", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=2",
                    "-i", str(tmp_path / "speech.wav"), "-c:v", "mpeg4", "-c:a", "aac", "-shortest", str(video)],
                   check=True, capture_output=True)
    r = submit(server.url, "clip.mp4", video.read_bytes())
    j = wait(server.url, r.json()["id"])
    assert j["state"] == "done" and j["kind"] == "video", j
    out = tmp_path / "out.mp4"
    out.write_bytes(requests.get(f"{server.url}/api/jobs/{j['id']}/output", timeout=30).content)
    probe = subprocess.run([ffmpeg_exe(), "-nostdin", "-i", str(out)], capture_output=True, text=True).stderr
    assert "Video: mpeg4" in probe and "Audio: aac" in probe    # picture copied as is, sound re-encoded


def test_bad_uploads_and_limits(server):
    r = submit(server.url, "notes.wav", b"this is text, not audio" * 10)
    assert r.status_code == 400 and "unsupported file" in r.json()["error"]
    r = requests.post(f"{server.url}/api/jobs", timeout=10)
    assert r.status_code == 400 and "no file" in r.json()["error"]
    r = submit(server.url, "big.wav", wav_bytes(np.zeros(16000 * 200, np.float32) + 0.01))   # ~6.4 MB > 5 MB
    assert r.status_code == 413 and "too large" in r.json()["error"]
    r = requests.post(f"{server.url}/api/jobs", data={"url": "https://example.invalid/video"}, timeout=60)
    assert r.status_code == 400 and ("network" in r.json()["error"] or "yt-dlp" in r.json()["error"])
    assert requests.get(f"{server.url}/api/jobs/{'0' * 32}", timeout=10).status_code == 404
    assert requests.get(f"{server.url}/api/jobs/../../etc/passwd", timeout=10).status_code == 404
    silent = submit(server.url, "silent.wav", wav_bytes(np.zeros(1600, np.float32)))
    j = wait(server.url, silent.json()["id"])
    assert j["state"] == "error" and "silent" in j["error"]


def test_24_concurrent_jobs_each_get_their_own_output(server):
    n = 24
    def distinct(i):   # its own length, tone and noise: outputs can only match their own input
        m = 8000 + 800 * i
        rng = np.random.default_rng(100 + i)
        tone = 0.1 * np.sin(2 * np.pi * (200 + 40 * i) * np.arange(m) / 16000)
        return (tone + 0.05 * rng.standard_normal(m)).astype(np.float32)
    inputs = [distinct(i) for i in range(n)]
    with ThreadPoolExecutor(n) as pool:
        ids = list(pool.map(lambda i: submit(server.url, f"u{i}.wav", wav_bytes(inputs[i])).json()["id"], range(n)))
    assert len(set(ids)) == n
    outs = []
    for job_id in ids:
        j = wait(server.url, job_id)
        assert j["state"] == "done", j
        outs.append(sf.read(io.BytesIO(requests.get(f"{server.url}/api/jobs/{job_id}/output", timeout=30).content))[0])
    for i, y in enumerate(outs):
        assert abs(len(y) - len(inputs[i])) <= 1                   # lengths are all different: no mix-ups
        m = min(len(y), len(inputs[i]))
        own = np.corrcoef(y[:m], inputs[i][:m])[0, 1]
        others = [np.corrcoef(y[:min(m, len(o))], o[:min(m, len(o))])[0, 1] for k, o in enumerate(inputs) if k != i]
        assert own > max(others)


def test_queue_is_bounded_and_jobs_are_cleaned_up(tmp_path):
    gated = GatedDenoiser(_tiny(), name="gated")
    s = Server(gated, workers=1, max_queue=2, work_dir=str(tmp_path), ttl_seconds=0)
    try:
        first = submit(s.url, "a.wav", wav_bytes(speechlike(3.0))).json()["id"]
        t0 = time.time()
        while requests.get(f"{s.url}/api/jobs/{first}", timeout=10).json()["state"] != "running":
            assert time.time() - t0 < 30, "the worker never took the first job"
            time.sleep(0.02)
        # the worker holds the first job at the gate; the queue takes two more and refuses the rest
        codes = [submit(s.url, "a.wav", wav_bytes(speechlike(3.0))).status_code for _ in range(5)]
        assert codes == [202, 202, 503, 503, 503], codes
        assert "busy" in submit(s.url, "a.wav", wav_bytes(speechlike(1.0))).json()["error"]
        gated.gate.set()
        jobs = s.app.extensions["chvoice_jobs"]
        for job_id in list(jobs.jobs):
            wait(s.url, job_id)
        jobs.cleanup(now=time.time() + 1)
        root = jobs.root
        assert not [d for d in root.iterdir() if d.is_dir()]    # finished jobs' files are gone (server.pid stays)
    finally:
        s.close()
    assert not root.exists()


@pytest.mark.slow
def test_browser_uploads_and_downloads(server, tmp_path):
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed: .ci/run must install it (apt-get install chromium)")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright
    src = tmp_path / "speech.wav"
    sf.write(src, speechlike(1.5), 16000)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        try:
            page = browser.new_page(accept_downloads=True)
            page.goto(server.url)
            assert "tiny-test-model" in page.content()
            page.set_input_files("#file", str(src))
            page.click("#go")
            page.wait_for_selector("#result:not([hidden])", timeout=60_000)
            assert page.locator("#before audio").count() == 1 and page.locator("#after audio").count() == 1
            page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
            with page.expect_download() as dl:
                page.click("#download")
            saved = tmp_path / dl.value.suggested_filename
            dl.value.save_as(saved)
            page.set_input_files("#file", str(Path(__file__)))    # a .py file: refused by content
            page.click("#go")
            page.wait_for_function("document.getElementById('error').textContent.length > 0", timeout=30_000)
            assert "unsupported file" in page.inner_text("#error")
        finally:
            browser.close()
    assert saved.name == "speech-denoised.wav"
    y, sr = sf.read(saved)
    assert sr == 16000 and len(y) == 24000
