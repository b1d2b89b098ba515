"""Background denoising jobs: a bounded queue, worker threads, one private folder per job, and clean-up."""
from __future__ import annotations

import os
import queue
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..enhance import Denoiser, denoise_file
from ..errors import ChvoiceError
from . import media


@dataclass
class Job:
    id: str
    folder: Path
    kind: str                 # audio | video
    input: Path
    name: str                 # the user's file name, sanitised, for downloads
    state: str = "queued"     # queued | running | done | error
    progress: float = 0.0
    error: str | None = None
    output: Path | None = None
    created: float = field(default_factory=time.time)

    def public(self) -> dict:
        return {"id": self.id, "kind": self.kind, "state": self.state, "progress": round(self.progress, 3),
                "error": self.error, "name": self.name}


class QueueFull(Exception):
    pass


class JobManager:
    def __init__(self, denoiser: Denoiser, root: Path, workers: int = 1, max_queue: int = 32, ttl_seconds: float = 3600):
        self.denoiser, self.root, self.ttl = denoiser, Path(root), ttl_seconds
        self.root.mkdir(parents=True, exist_ok=True)
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        self.queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._worker, daemon=True, name=f"chvoice-job-{i}") for i in range(workers)]
        for t in self.threads:
            t.start()

    def discard(self, folder: Path) -> None:
        """Remove the folder of a job that never started (rejected or aborted upload)."""
        shutil.rmtree(folder, ignore_errors=True)

    def new_folder(self) -> tuple[str, Path]:
        job_id = uuid.uuid4().hex        # unguessable: users never reach each other's jobs
        folder = self.root / job_id
        folder.mkdir()
        return job_id, folder

    def submit(self, job: Job) -> Job:
        with self.lock:
            self.jobs[job.id] = job
        try:
            self.queue.put_nowait(job)
        except queue.Full:
            with self.lock:
                del self.jobs[job.id]
            shutil.rmtree(job.folder, ignore_errors=True)
            raise QueueFull() from None
        return job

    def get(self, job_id: str) -> Job | None:
        with self.lock:
            return self.jobs.get(job_id)

    def _worker(self) -> None:
        while not self.stopping.is_set():
            try:
                job = self.queue.get(timeout=0.2)
            except queue.Empty:
                self.cleanup()
                continue
            job.state = "running"
            try:
                self._process(job)
                job.progress, job.state = 1.0, "done"
            except ChvoiceError as e:
                job.state, job.error = "error", self._public_message(str(e), job)
            except Exception as e:  # a job must never take the worker down
                job.state, job.error = "error", f"internal error ({e.__class__.__name__})"
            finally:
                self.queue.task_done()

    def _public_message(self, msg: str, job: Job) -> str:
        """Error text for the user: never a server path (the job folder, the temp root)."""
        for path, shown in ((str(job.input), job.name), (str(job.folder) + os.sep, ""), (str(job.folder), "the job"),
                            (str(self.root) + os.sep, ""), (str(self.root), "the server")):
            msg = msg.replace(path, shown)
        return msg

    def _denoise(self, src: Path, dst: Path, job: Job, span: tuple[float, float]) -> None:
        """The package's one file pipeline (enhance.denoise_file: checked, read, denoised and written in blocks),
        reporting progress."""
        def tick(f: float) -> None:
            if self.stopping.is_set():     # shutting down: abandon the job so its folder can go
                raise ChvoiceError("the server is stopping")
            job.progress = span[0] + (span[1] - span[0]) * f
        denoise_file(self.denoiser, src, dst, tick, label=job.name)

    def _process(self, job: Job) -> None:
        if job.kind == "audio":
            out = job.folder / "denoised.wav"
            self._denoise(job.input, out, job, (0.0, 0.95))
        else:
            if not media.has_audio_stream(job.input):
                raise ChvoiceError("the video has no audio track")
            wav = job.folder / "audio.wav"
            media.extract_audio(job.input, wav)
            job.progress = 0.1
            den = job.folder / "denoised-audio.wav"
            self._denoise(wav, den, job, (0.1, 0.85))
            out = job.folder / "denoised.mp4"
            media.remux(job.input, den, out)
        job.output = out

    def cleanup(self, now: float | None = None) -> int:
        """Delete finished jobs older than the TTL; returns how many were removed."""
        now = now or time.time()
        with self.lock:
            old = [j for j in self.jobs.values() if j.state in ("done", "error") and now - j.created > self.ttl]
            for j in old:
                del self.jobs[j.id]
        for j in old:
            shutil.rmtree(j.folder, ignore_errors=True)
        return len(old)

    def shutdown(self) -> None:
        """Stop the workers and delete every job folder (queued, running and finished)."""
        self.stopping.set()
        while True:   # queued jobs never start
            try:
                self.queue.get_nowait()
                self.queue.task_done()
            except queue.Empty:
                break
        for t in self.threads:
            t.join(timeout=5)
        shutil.rmtree(self.root, ignore_errors=True)


PID_FILE = "server.pid"


def sweep_stale_roots(parent: Path, prefix: str = "chvoice-web-") -> int:
    """Delete job roots left by servers that were killed (SIGKILL, power loss): their pid file names a
    process that no longer exists. Returns how many were removed."""
    removed = 0
    for d in parent.glob(f"{prefix}*"):
        pid_file = d / PID_FILE
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            continue          # not ours, or being created right now
        try:
            os.kill(pid, 0)
            continue          # still running
        except ProcessLookupError:
            pass
        except PermissionError:
            continue          # another user's live server
        shutil.rmtree(d, ignore_errors=True)
        removed += 1
    return removed
