"""Room acoustics for training and test mixtures: simulated rooms (pyroomacoustics' image-source method)
or measured room impulse responses, as a bank of (speech RIR, noise RIR) pairs from the same room.

The denoiser is not a dereverberator: for a reverberant mixture the target is the speech convolved with
the direct path and early reflections (the first `early_ms` after the direct path), which listeners hear
as part of the voice; the late tail is treated as noise.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..audio_io import SAMPLE_RATE, atomic_path, list_audio_files
from ..errors import ChvoiceError
from .noise import load_rir

# Rooms by use: training, the validation mixtures and the test sets draw rooms of disjoint seeds, so a model
# is never scored in a room it was trained in.
TRAIN_ROOM_SEED, VALIDATION_ROOM_SEED, TEST_ROOM_SEED = 0, 1000, 2000


@dataclass(frozen=True)
class RoomConfig:
    """Shoebox rooms with random size, RT60 and source / microphone positions."""

    n_rooms: int = 160
    rt60: tuple[float, float] = (0.15, 0.9)
    length: tuple[float, float] = (3.0, 10.0)
    width: tuple[float, float] = (2.5, 8.0)
    height: tuple[float, float] = (2.4, 4.0)
    max_order: int = 40         # image-source order cap (160 rooms simulate in ~7 s)
    max_seconds: float = 1.0    # RIRs are cut (with a fade) to this length
    early_ms: float = 50.0
    seed: int = 0


@dataclass
class Room:
    id: str
    speech: np.ndarray   # float32 [L]: RIR from the talker to the microphone, direct path at index 0
    noise: np.ndarray    # float32 [L]: from a noise source elsewhere in the same room
    early: np.ndarray    # float32 [L']: `speech` cut `early_ms` after the direct path (the target's RIR)
    rt60: float


def _trim(h: np.ndarray, max_len: int) -> np.ndarray:
    """Start at the first sample above 1 % of the peak (a little before the direct path), fade out the end."""
    h = np.asarray(h, np.float64)
    start = max(0, int(np.flatnonzero(np.abs(h) >= 0.01 * np.abs(h).max())[0]) - 8)
    h = h[start:start + max_len]
    fade = min(len(h) // 4, 800)
    if fade:
        h[-fade:] *= np.linspace(1, 0, fade)
    return h


def _early(h: np.ndarray, early_ms: float) -> np.ndarray:
    peak = int(np.argmax(np.abs(h)))
    n = peak + int(early_ms * SAMPLE_RATE / 1000)
    e = h[:n].copy()
    fade = min(len(e) // 4, 80)
    e[-fade:] *= np.linspace(1, 0, fade)
    return e


def simulate_rooms(cfg: RoomConfig = RoomConfig(), workers: int = 1) -> list[Room]:
    """cfg.n_rooms simulated rooms, deterministic in cfg.seed (each room has its own random stream, so the
    result does not depend on `workers`, the processes that share the simulation). Needs pyroomacoustics."""
    try:
        import pyroomacoustics  # noqa: F401
    except ImportError:
        raise ChvoiceError("simulated rooms need pyroomacoustics (pip install pyroomacoustics)") from None
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(workers) as pool:
            return list(pool.map(_simulate_room, [cfg] * cfg.n_rooms, range(cfg.n_rooms), chunksize=4))
    return [_simulate_room(cfg, i) for i in range(cfg.n_rooms)]


def _simulate_room(cfg: RoomConfig, i: int) -> Room:
    import pyroomacoustics as pra
    max_len = int(cfg.max_seconds * SAMPLE_RATE)
    rng = np.random.default_rng([cfg.seed, i])
    dims = np.array([rng.uniform(*cfg.length), rng.uniform(*cfg.width), rng.uniform(*cfg.height)])
    rt60 = float(rng.uniform(*cfg.rt60))
    try:
        absorption, order = pra.inverse_sabine(rt60, dims)
    except ValueError:          # RT60 too short for this volume: take the most absorbing walls
        absorption, order = 0.99, 1
    room = pra.ShoeBox(dims, fs=SAMPLE_RATE, materials=pra.Material(absorption),
                       max_order=min(order, cfg.max_order))

    def point(margin: float = 0.5) -> np.ndarray:
        return np.array([rng.uniform(margin, d - margin) for d in dims[:2]] + [rng.uniform(1.0, min(2.0, dims[2] - 0.3))])

    mic = point()
    talker = mic + np.append(rng.uniform(-1, 1, 2), 0) * rng.uniform(0.3, 2.5)
    talker = np.clip(talker, 0.3, dims - 0.3)
    room.add_source(talker)
    room.add_source(point())
    room.add_microphone(mic)
    room.compute_rir()
    hs = _trim(room.rir[0][0], max_len)
    hn = _trim(room.rir[0][1], max_len)
    return Room(f"room-{i:03d}", hs.astype(np.float32), hn.astype(np.float32),
                _early(hs, cfg.early_ms).astype(np.float32), rt60)


def measured_rooms(folder: str | os.PathLike, early_ms: float = 50.0) -> list[Room]:
    """Measured RIR files (any audio format, 16 kHz after resampling), each used for speech and noise."""
    files = list_audio_files(folder)
    if not files:
        raise ChvoiceError(f"{folder}: no room impulse response files")
    rooms = []
    for f in files:
        h = load_rir(f)
        rooms.append(Room(f"rir-{f.stem}", h, h, _early(h.astype(np.float64), early_ms).astype(np.float32), float("nan")))
    return rooms


def room_bank(cfg: RoomConfig = RoomConfig(), cache_dir: str | os.PathLike | None = None,
              workers: int = 1) -> list[Room]:
    """Simulated rooms, cached as one .npz under cache_dir (keyed by the config) so a run simulates once."""
    if cache_dir is None:
        return simulate_rooms(cfg, workers)
    key = hashlib.sha256(repr(sorted(asdict(cfg).items())).encode()).hexdigest()[:12]
    path = Path(cache_dir) / f"rooms-{key}.npz"
    if path.is_file():
        try:
            z = np.load(path)
            n = int(z["n"])
            return [Room(f"room-{i:03d}", z[f"s{i}"], z[f"n{i}"], z[f"e{i}"], float(z["rt60"][i])) for i in range(n)]
        except (OSError, KeyError, ValueError):
            pass   # corrupt cache: rebuild
    rooms = simulate_rooms(cfg, workers)
    arrays = {"n": np.array(len(rooms)), "rt60": np.array([r.rt60 for r in rooms])}
    for i, r in enumerate(rooms):
        arrays.update({f"s{i}": r.speech, f"n{i}": r.noise, f"e{i}": r.early})
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    return rooms


def reverberate(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """x [N] convolved with h, same length."""
    from scipy import signal  # heavy (1 s): imported where used
    return signal.fftconvolve(x, h)[: len(x)].astype(np.float32)
