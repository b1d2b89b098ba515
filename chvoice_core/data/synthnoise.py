"""Built-in synthetic noises: stand-ins for the report's five categories (keyboard, coughing, clock tick, click,
wind) plus coloured noise, mains hum, fan/HVAC and tonal music-like noise, and babble from a corpus's own speech.
Deterministic given the seed: the built-in data needs no downloads."""
from __future__ import annotations

import numpy as np

from ..audio_io import SAMPLE_RATE
from ..errors import ChvoiceError
from .noise import CATEGORIES, EXTRA_SYNTH_CATEGORIES, NoiseBank, NoiseClip


def _bandpass(x: np.ndarray, lo: float, hi: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    from scipy import signal  # heavy (1 s): imported where used
    sos = signal.butter(4, [lo, hi], btype="band", fs=sr, output="sos")
    return signal.sosfilt(sos, x)


def _impulses(rng: np.random.Generator, n: int, times: np.ndarray, dur: float, lo: float, hi: float,
              decay: float) -> np.ndarray:
    """Short decaying band-limited bursts at the given times (seconds)."""
    out = np.zeros(n)
    m = int(dur * SAMPLE_RATE)
    env = np.exp(-np.arange(m) / (decay * SAMPLE_RATE))
    for t in times:
        s = int(t * SAMPLE_RATE)
        if s + m >= n:
            continue
        burst = _bandpass(rng.standard_normal(m), lo, hi) * env * rng.uniform(0.5, 1.0)
        out[s:s + m] += burst
    return out


def synth_noise(category: str, rng: np.random.Generator, seconds: float = 5.0) -> np.ndarray:
    """A stand-in for one ESC-50 category: keystroke bursts, cough-like bursts, periodic ticks, click
    pairs, or gusty low-passed wind. float32 [seconds * 16000], peak-normalised to 0.5."""
    from scipy import signal  # heavy (1 s): imported where used
    n = int(seconds * SAMPLE_RATE)
    if category == "keyboard":
        times = np.cumsum(rng.uniform(0.08, 0.3, size=int(seconds * 8)))
        x = _impulses(rng, n, times[times < seconds], 0.03, rng.uniform(800, 1500), rng.uniform(4000, 7000), 0.006)
    elif category == "click":
        starts = np.sort(rng.uniform(0, seconds - 0.2, size=rng.integers(3, 9)))
        times = np.concatenate([starts, starts + rng.uniform(0.05, 0.12, size=len(starts))])
        x = _impulses(rng, n, times, 0.015, rng.uniform(1500, 2500), rng.uniform(5000, 7500), 0.002)
    elif category == "clock-tick":
        period = rng.choice([0.5, 1.0, 1 / 3])
        times = np.arange(rng.uniform(0, period), seconds, period)
        x = _impulses(rng, n, times, 0.02, rng.uniform(2000, 3000), rng.uniform(5000, 7500), 0.003)
    elif category == "coughing":
        x = np.zeros(n)
        for t in np.sort(rng.uniform(0, seconds - 0.5, size=rng.integers(1, 4))):
            m = int(rng.uniform(0.2, 0.45) * SAMPLE_RATE)
            env = np.sin(np.linspace(0, np.pi, m)) ** 0.5 * np.exp(-np.linspace(0, 3, m))
            f0 = rng.uniform(300, 700)
            burst = _bandpass(rng.standard_normal(m), f0, min(7000, f0 * rng.uniform(4, 8))) * env
            s = int(t * SAMPLE_RATE)
            x[s:s + m] += burst
    elif category == "wind":
        sos = signal.butter(2, rng.uniform(300, 900), btype="low", fs=SAMPLE_RATE, output="sos")
        base = signal.sosfilt(sos, rng.standard_normal(n))
        gust = signal.sosfilt(signal.butter(1, 0.5, fs=SAMPLE_RATE, output="sos"), rng.standard_normal(n))
        gust = np.abs(gust) / (np.abs(gust).max() + 1e-9)
        x = base * (0.3 + gust)
    elif category == "coloured":
        # 1/f^beta noise, beta in [-1, 2]: blue ... white ... pink ... brown
        beta = rng.uniform(-1.0, 2.0)
        spec = np.fft.rfft(rng.standard_normal(n))
        f = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
        f[0] = f[1]
        x = np.fft.irfft(spec / f ** (beta / 2), n)
    elif category == "hum":
        # mains hum: 50 or 60 Hz with decaying odd/even harmonics, a little jitter and broadband buzz
        f0 = rng.choice([50.0, 60.0]) * rng.uniform(0.995, 1.005)
        t = np.arange(n) / SAMPLE_RATE
        x = np.zeros(n)
        for k in range(1, int(rng.integers(6, 30))):
            x += rng.uniform(0.2, 1.0) / k ** rng.uniform(0.5, 1.5) * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 2 * np.pi))
        x += 0.05 * rng.standard_normal(n) * rng.uniform(0, 1)
    elif category == "hvac":
        # fan / air conditioning: low-passed broadband rumble, blade-pass tone and slow amplitude drift
        sos = signal.butter(2, rng.uniform(400, 3000), btype="low", fs=SAMPLE_RATE, output="sos")
        x = signal.sosfilt(sos, rng.standard_normal(n))
        t = np.arange(n) / SAMPLE_RATE
        blade = rng.uniform(80, 400)
        x = x / (np.std(x) + 1e-9) + rng.uniform(0, 0.7) * np.sin(2 * np.pi * blade * t) \
            + rng.uniform(0, 0.3) * np.sin(4 * np.pi * blade * t)
        x *= 1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.1, 1.0) * t)
    elif category == "tonal":
        # music-like: a sequence of chords of harmonic notes (random timbre and tempo)
        t_note = rng.uniform(0.15, 0.6)
        m = int(t_note * SAMPLE_RATE)
        x = np.zeros(n)
        env = np.minimum(1, np.arange(m) / 200) * np.exp(-np.arange(m) / (rng.uniform(0.1, 1.0) * SAMPLE_RATE))
        tt = np.arange(m) / SAMPLE_RATE
        decay = rng.uniform(0.5, 2.0)
        for s in range(0, n - m, m):
            for _ in range(int(rng.integers(1, 4))):
                f0 = 440.0 * 2 ** (rng.integers(-24, 16) / 12)
                note = sum(np.sin(2 * np.pi * f0 * k * tt) / k ** decay for k in range(1, 8) if f0 * k < 7500)
                x[s:s + m] += note * env
    else:
        known = CATEGORIES + EXTRA_SYNTH_CATEGORIES
        raise ChvoiceError(f"unknown noise category {category!r}; known: {', '.join(known)}")
    x = x / (np.abs(x).max() + 1e-9) * 0.5
    return x.astype(np.float32)


def synthetic_noise_bank(clips_per_category: int = 24, seed: int = 0,
                         extra: tuple[str, ...] = EXTRA_SYNTH_CATEGORIES) -> NoiseBank:
    """The built-in offline noise set: deterministic synthetic clips of the report's five categories and the
    `extra` ones. Each category draws from its own seeds, so adding categories leaves the others unchanged."""
    clips = []
    for ci, cat in enumerate(CATEGORIES + tuple(extra)):
        for i in range(clips_per_category):
            rng = np.random.default_rng([seed, ci, i])
            clips.append(NoiseClip(f"synth-{cat}-{i:03d}", cat, synth_noise(cat, rng)))
    return NoiseBank(clips, "builtin:synthetic-noise")


def babble_clips(utterances: list[np.ndarray], n_clips: int, seed: int, prefix: str,
                 seconds: float = 5.0) -> list[NoiseClip]:
    """Babble noise (category 'babble'): each clip sums 3-8 crops of the given utterances (other speakers of
    the corpus in use), each at a random level. utterances: float32 [N] arrays at 16 kHz."""
    n = int(seconds * SAMPLE_RATE)
    out = []
    for i in range(n_clips):
        rng = np.random.default_rng([seed, 7919, i])
        x = np.zeros(n)
        for _ in range(int(rng.integers(3, 9))):
            u = utterances[int(rng.integers(len(utterances)))]
            if len(u) < n:
                u = np.tile(u, n // max(1, len(u)) + 1)
            s = int(rng.integers(0, len(u) - n + 1))
            seg = u[s:s + n]
            x += seg / (np.sqrt(np.mean(seg ** 2)) + 1e-9) * rng.uniform(0.3, 1.0)
        x = x / (np.abs(x).max() + 1e-9) * 0.5
        out.append(NoiseClip(f"{prefix}-babble-{i:03d}", "babble", x.astype(np.float32)))
    return out


FLOOR_KINDS = ("pink", "brown", "steep", "room-tone")


def floor_noise(n: int, rng: np.random.Generator, kind: str | None = None) -> tuple[np.ndarray, str]:
    """A stationary noise floor [n] (unit RMS) and its kind: pink (1/f), brown (1/f^2), steep (1/f^beta, beta
    2.5..3.5: the low hiss of real rooms and preamps, whose spectrum falls steeply) or room tone (low-passed
    rumble with a faint fan tone). kind=None draws one."""
    from scipy import signal  # heavy (1 s): imported where used
    kind = kind or str(rng.choice(FLOOR_KINDS))
    f = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    f[0] = f[1]
    if kind == "room-tone":
        x = signal.sosfilt(signal.butter(2, rng.uniform(150, 600), "low", fs=SAMPLE_RATE, output="sos"),
                           rng.standard_normal(n))
        x = x / (np.std(x) + 1e-12) + rng.uniform(0.02, 0.2) * np.sin(
            2 * np.pi * rng.uniform(60, 240) * np.arange(n) / SAMPLE_RATE + rng.uniform(0, 2 * np.pi))
        # and a weak broadband hiss 30..45 dB under the rumble, as in a real room recording
        x = x + 10 ** (-rng.uniform(30, 45) / 20) * rng.standard_normal(n)
    else:
        beta = {"pink": 1.0, "brown": 2.0}.get(kind) or rng.uniform(2.5, 3.5)
        if kind not in ("pink", "brown", "steep"):
            raise ChvoiceError(f"unknown noise floor {kind!r}; known: {', '.join(FLOOR_KINDS)}")
        # the slope starts at 50 Hz (flat below, nothing under 20 Hz: a floor's level is what one hears, not
        # infrasound) and never falls more than 70 dB under its 100 Hz level, as a real preamp's floor would not
        shape = np.maximum((np.maximum(f, 50.0) / 100.0) ** (-beta / 2), 10 ** (-70 / 20)) * (f >= 20)
        x = np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) * shape, n)
    x = x - x.mean()
    return (x / (np.sqrt(np.mean(x ** 2)) + 1e-12)).astype(np.float32), kind
