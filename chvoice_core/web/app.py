"""The web app: upload audio or video (or, with a network, paste a video URL), watch progress, play before
and after, download the result."""
from __future__ import annotations

import atexit
import os
import re
import tempfile
from pathlib import Path

from flask import Flask, abort, jsonify, render_template_string, request, send_file
from werkzeug.exceptions import RequestEntityTooLarge

from ..enhance import Denoiser
from ..errors import ChvoiceError
from . import media
from .jobs import PID_FILE, Job, JobManager, QueueFull, sweep_stale_roots

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>chvoice: denoise speech</title>
<style>
 body{font-family:system-ui,sans-serif;max-width:760px;margin:2em auto;padding:0 1em;color:#222}
 fieldset{border:1px solid #ccc;border-radius:6px;margin:1em 0;padding:1em}
 progress{width:100%} .err{color:#b00020} video,audio{width:100%;margin:.3em 0}
 button{padding:.4em 1.2em}
</style></head><body>
<h1>chvoice</h1>
<p>Upload speech (WAV, FLAC, OGG, MP3) or a video (MP4, MKV, WebM); the speech is denoised by
<b>{{ model }}</b>. Files up to {{ max_mb }} MB.</p>
<form id="upload"><fieldset><legend>Upload a file</legend>
 <input type="file" id="file" name="file" accept="audio/*,video/*" required>
 <button type="submit" id="go">Denoise</button></fieldset></form>
<form id="byurl"><fieldset><legend>…or a video URL (needs a network)</legend>
 <input type="url" id="url" name="url" placeholder="https://..." style="width:70%">
 <button type="submit">Fetch and denoise</button></fieldset></form>
<div id="status" hidden><progress id="bar" max="1" value="0"></progress> <span id="state"></span></div>
<p id="error" class="err" role="alert"></p>
<div id="result" hidden>
 <h2>Before</h2><div id="before"></div>
 <h2>After</h2><div id="after"></div>
 <p><a id="download" download>Download the denoised file</a></p>
</div>
<script>
const $ = id => document.getElementById(id);
function player(kind, src) {
  const el = document.createElement(kind === "video" ? "video" : "audio");
  el.controls = true; el.src = src; return el;
}
async function start(body) {
  $("error").textContent = ""; $("result").hidden = true; $("status").hidden = false;
  $("bar").value = 0; $("state").textContent = "uploading";
  const r = await fetch("/api/jobs", {method: "POST", body});
  const j = await r.json();
  if (!r.ok) { $("status").hidden = true; $("error").textContent = j.error; return; }
  poll(j.id);
}
async function poll(id) {
  const r = await fetch(`/api/jobs/${id}`); const j = await r.json();
  $("bar").value = j.progress; $("state").textContent = j.state;
  if (j.state === "done") {
    $("before").replaceChildren(player(j.kind, `/api/jobs/${id}/input`));
    $("after").replaceChildren(player(j.kind, `/api/jobs/${id}/output`));
    $("download").href = `/api/jobs/${id}/output?download=1`;
    $("result").hidden = false;
  } else if (j.state === "error") { $("error").textContent = j.error; }
  else setTimeout(() => poll(id), 300);
}
$("upload").onsubmit = e => { e.preventDefault(); const f = new FormData(); f.append("file", $("file").files[0]); start(f); };
$("byurl").onsubmit = e => { e.preventDefault(); const f = new FormData(); f.append("url", $("url").value); start(f); };
</script></body></html>"""

MIME = {".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg", ".mp3": "audio/mpeg", ".mp4": "video/mp4",
        ".mkv": "video/x-matroska"}


def safe_name(name: str) -> str:
    """A file name safe to show and to offer as a download name (never used as a path on disk). Letters and
    digits of any script are kept (Flask sends non-ASCII names RFC 5987-encoded); the rest becomes '_'."""
    base = (name or "upload").replace("\\", "/").split("/")[-1]
    stem = re.sub(r"[^\w.\- ]+", "_", base).strip("._ ") or "upload"
    return stem[:80]


def fetch_url(url: str, folder: Path) -> Path:
    """Download a video with yt-dlp (users with a network); offline this fails with a clear message."""
    if not re.match(r"^https?://", url or ""):
        raise ChvoiceError("the URL must start with http:// or https://")
    try:
        import yt_dlp
    except ImportError:
        raise ChvoiceError("fetching URLs needs yt-dlp (pip install yt-dlp) and a network; upload a file instead") from None
    opts = {"outtmpl": str(folder / "fetched.%(ext)s"), "quiet": True, "noplaylist": True, "socket_timeout": 10,
            "format": "mp4/best"}
    try:
        with yt_dlp.YoutubeDL(opts) as ydl:
            ydl.download([url])
    except Exception as e:
        raise ChvoiceError(f"could not fetch the URL (no network here?): {str(e).splitlines()[0][:200]}") from None
    files = sorted(folder.glob("fetched.*"))
    if not files:
        raise ChvoiceError("could not fetch the URL: nothing was downloaded")
    return files[0]


def create_app(denoiser: Denoiser, max_upload_mb: int = 200, workers: int = 1, max_queue: int = 32,
               work_dir: str | None = None, ttl_seconds: float = 3600) -> Flask:
    app = Flask("chvoice")
    app.config["MAX_CONTENT_LENGTH"] = max_upload_mb * 1024 * 1024
    parent = Path(work_dir or tempfile.gettempdir())
    sweep_stale_roots(parent)
    root = Path(tempfile.mkdtemp(prefix="chvoice-web-", dir=parent))
    (root / PID_FILE).write_text(str(os.getpid()))
    jobs = JobManager(denoiser, root, workers=workers, max_queue=max_queue, ttl_seconds=ttl_seconds)
    app.extensions["chvoice_jobs"] = jobs
    atexit.register(jobs.shutdown)

    def error(msg: str, code: int):
        return jsonify({"error": msg}), code

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(e):
        return error(f"file too large: the limit is {max_upload_mb} MB", 413)

    @app.get("/")
    def index():
        return render_template_string(PAGE, model=denoiser.name, max_mb=max_upload_mb)

    @app.post("/api/jobs")
    def submit():
        job_id, folder = jobs.new_folder()
        submitted = False
        try:
            upload = request.files.get("file")
            if upload is not None and upload.filename:
                head = upload.stream.read(64)
                kind_ext = media.sniff(head)
                if kind_ext is None:
                    raise ChvoiceError("unsupported file: not WAV, FLAC, OGG, MP3, MP4 or MKV/WebM by its content")
                kind, ext = kind_ext
                path = folder / f"input{ext}"
                with open(path, "wb") as f:
                    f.write(head)
                    while chunk := upload.stream.read(1 << 20):
                        f.write(chunk)
                name = safe_name(upload.filename)
            elif request.form.get("url"):
                path = fetch_url(request.form["url"], folder)
                kind_ext = media.sniff(path.read_bytes()[:64])
                if kind_ext is None:
                    raise ChvoiceError("the URL did not give an audio or video file")
                kind, name = kind_ext[0], safe_name(path.name)
            else:
                raise ChvoiceError("no file uploaded")
            if path.stat().st_size == 0:
                raise ChvoiceError("the file is empty")
            jobs.submit(Job(job_id, folder, kind, path, name))
            submitted = True
        except ChvoiceError as e:
            return error(str(e).replace(str(folder) + os.sep, "").replace(str(folder), "the upload"), 400)
        except QueueFull:
            return error("the server is busy: too many jobs queued, try again shortly", 503)
        finally:
            # rejected (413, 400, 503) or aborted uploads leave nothing behind
            if not submitted:
                jobs.discard(folder)
        return jsonify({"id": job_id}), 202

    def job_or_404(job_id: str) -> Job:
        if not re.fullmatch(r"[0-9a-f]{32}", job_id):
            abort(404)
        job = jobs.get(job_id)
        if job is None:
            abort(404)
        return job

    @app.get("/api/jobs/<job_id>")
    def status(job_id):
        return jsonify(job_or_404(job_id).public())

    @app.get("/api/jobs/<job_id>/input")
    def input_file(job_id):
        job = job_or_404(job_id)
        return send_file(job.input, mimetype=MIME.get(job.input.suffix, "application/octet-stream"))

    @app.get("/api/jobs/<job_id>/output")
    def output_file(job_id):
        job = job_or_404(job_id)
        if job.state != "done" or job.output is None:
            return error(f"job is {job.state}", 409)
        download = request.args.get("download") == "1"
        stem = Path(job.name).stem
        return send_file(job.output, mimetype=MIME.get(job.output.suffix, "application/octet-stream"),
                         as_attachment=download, download_name=f"{stem}-denoised{job.output.suffix}")

    @app.errorhandler(404)
    def not_found(e):
        return error("no such job", 404)

    return app
