"""Draw a noise condition from a profile and mix it with clean speech."""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import torch
import torchaudio.functional as AF

from ..audio_io import SAMPLE_RATE
from .noise import NoiseBank, RevEchoConfig, add_revecho, static_noise
from .profiles import NoiseProfile
from .rooms import Room, reverberate
from .synthnoise import floor_noise


@dataclass
class Mixture:
    noisy: np.ndarray            # float32 [N]
    clean: np.ndarray            # float32 [N]: the target (dry speech)
    kind: str                    # none | static | reverb | environmental
    categories: list[str] = field(default_factory=list)
    noise_ids: list[str] = field(default_factory=list)
    snr_db: float = float("inf")  # measured: 10 log10(|clean|^2 / |noisy - clean|^2)
    params: dict = field(default_factory=dict)

    def record(self) -> dict:
        return {"kind": self.kind, "categories": list(self.categories), "noise_ids": list(self.noise_ids),
                "snr_db": None if not np.isfinite(self.snr_db) else round(float(self.snr_db), 3),
                **{k: round(v, 5) for k, v in self.params.items()}}


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-12)


def _crop_or_loop(clip: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """A random n-sample segment of clip (looped when shorter) that is never silent: sparse noises (ticks,
    clicks) would otherwise often give an empty window. The window is anchored on a random loud sample."""
    if len(clip) < n:
        clip = np.tile(clip, int(np.ceil(n / len(clip))) + 1)
    loud = np.flatnonzero(np.abs(clip) >= 0.1 * np.abs(clip).max())
    anchor = int(loud[rng.integers(len(loud))]) if len(loud) else int(rng.integers(len(clip)))
    start = int(rng.integers(max(0, anchor - n + 1), min(anchor, len(clip) - n) + 1))
    return clip[start:start + n]


def measured_snr(clean: np.ndarray, noisy: np.ndarray) -> float:
    noise = noisy - clean
    return 20 * np.log10(_rms(clean) / _rms(noise)) if np.any(noise) else float("inf")


def draw_kind(profile: NoiseProfile, rng: np.random.Generator, include_none: bool = True) -> str:
    p = profile.kind_probs(include_none)
    return str(rng.choice(list(p), p=list(p.values())))


def colour(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """A random microphone / channel colouring of x [N]: high-pass (small mics, phones), low-pass
    (band-limited codecs, 3.4-8 kHz) and a +-6 dB tilt; the same filter applies to target and mixture."""
    from scipy import signal  # heavy (1 s): imported where used
    params: dict = {}
    y = x.astype(np.float64)
    if rng.random() < 0.5:
        params["highpass_hz"] = float(rng.uniform(60, 400))
        y = signal.sosfilt(signal.butter(2, params["highpass_hz"], "high", fs=SAMPLE_RATE, output="sos"), y)
    if rng.random() < 0.5:
        params["lowpass_hz"] = float(rng.uniform(3400, 7800))
        y = signal.sosfilt(signal.butter(6, params["lowpass_hz"], "low", fs=SAMPLE_RATE, output="sos"), y)
    tilt = float(rng.uniform(-6, 6))
    params["tilt_db"] = tilt
    # first-order shelf around 1 kHz: gain tilt dB at high frequencies relative to low
    g = 10 ** (tilt / 20)
    sos = signal.butter(1, 1000, "high", fs=SAMPLE_RATE, output="sos")
    y = y + (g - 1) * signal.sosfilt(sos, y)
    y = y * (_rms(x) / _rms(y))
    return y.astype(np.float32), params


@dataclass(frozen=True)
class NoiseWarp:
    """Training-only augmentation of noise recordings: with probability p a clip is played faster or slower
    (factor log-uniform in [lo, hi]; pitch and tempo move together, as a tape would), so a few thousand seconds
    of recordings stand for more sources. Test and validation sets never warp."""

    p: float = 0.5
    lo: float = 0.8
    hi: float = 1.25


@dataclass(frozen=True)
class SpeechWarp:
    """Training-only augmentation of the clean speech: with probability p a crop is played faster or slower
    (factor log-uniform in [lo, hi], the range of Kaldi-style speed perturbation), target and mixture alike, so
    each training speaker also stands for a higher or lower voice. Test and validation sets never warp."""

    p: float = 0.5
    lo: float = 0.9
    hi: float = 1.1


@dataclass(frozen=True)
class LowFloor:
    """Training-only: with probability p a stationary noise floor (data.synthnoise.floor_noise: pink, brown, steep
    or room tone) is added to the mixture `below_db` under the target's level, the target unchanged, so that
    low, coloured floors are taught as noise rather than as part of speech."""

    p: float = 0.5
    below_db: tuple[float, float] = (20.0, 50.0)


def add_floor(noisy: np.ndarray, target: np.ndarray, rng: np.random.Generator, floor: LowFloor) -> np.ndarray:
    """noisy [N] plus, with probability floor.p, a floor drawn from rng under target's RMS. -> float32 [N]."""
    if rng.random() >= floor.p:
        return noisy
    x, _ = floor_noise(len(noisy), rng)
    level = _rms(target) * 10 ** (-rng.uniform(*floor.below_db) / 20)
    return (noisy + x * level).astype(np.float32)


@dataclass(frozen=True)
class SpeechGaps:
    """Training-only: with probability p, 1..max_gaps spans of `span_s` seconds of a speech crop are silenced
    (raised-cosine edges of `fade_s`), in the mixture's speech and its target alike, before the noise is mixed
    in. One-second crops of read speech hold few pauses, so without this the model rarely sees noise on its own;
    in the gaps the target is silence and whatever the noise does there (a bark, a clink, a croak) must go.
    At most `max_share` of a crop is silenced, so the noise's level, set against the speech's RMS, stays sane."""

    p: float = 0.5
    span_s: tuple[float, float] = (0.15, 0.5)
    max_gaps: int = 2
    fade_s: float = 0.01
    max_share: float = 0.6


def gap_envelope(n: int, rng: np.random.Generator, gaps: SpeechGaps, sr: int = SAMPLE_RATE) -> np.ndarray | None:
    """A gain envelope [n] in [0, 1] with silenced spans, or None (probability 1 - gaps.p: no gap)."""
    if rng.random() >= gaps.p:
        return None
    env = np.ones(n, np.float32)
    fade = max(1, int(gaps.fade_s * sr))
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, fade, dtype=np.float32))     # 0 -> 1
    budget = int(gaps.max_share * n)
    for _ in range(int(rng.integers(1, gaps.max_gaps + 1))):
        span = min(int(rng.uniform(*gaps.span_s) * sr), budget)
        if span < 2 * fade or span >= n:
            break
        budget -= span
        a = int(rng.integers(0, n - span + 1))
        seg = np.zeros(span, np.float32)
        seg[:fade], seg[-fade:] = ramp[::-1], ramp
        env[a:a + span] = np.minimum(env[a:a + span], seg)
    return env


def speed_factor(rng: np.random.Generator, lo: float, hi: float) -> Fraction:
    """A log-uniform speed factor in [lo, hi] as a small fraction, for polyphase resampling."""
    return Fraction(float(np.exp(rng.uniform(np.log(lo), np.log(hi))))).limit_denominator(16)


def source_samples(n: int, r: Fraction) -> int:
    """How many source samples `play_at` needs for n output samples at factor r: n * r and a margin, so the
    resampler's filter tail never reaches the output's last samples."""
    return int(np.ceil(n * r)) + 64


def play_at(src: np.ndarray, r: Fraction, n: int) -> np.ndarray:
    """The first n samples of src [>= source_samples(n, r)] played r times faster (r > 1: higher pitch).
    Polyphase resampling with its anti-aliasing filter: what speeding up pushes past Nyquist is filtered out, not
    folded back. -> float32 [n]."""
    from scipy import signal  # heavy (1 s): imported where used
    return signal.resample_poly(src.astype(np.float64), r.denominator, r.numerator)[:n].astype(np.float32)


def warp_segment(clip: np.ndarray, n: int, rng: np.random.Generator, warp: NoiseWarp) -> np.ndarray:
    """An n-sample segment of clip [L] played at a random speed factor. -> float32 [n]."""
    r = speed_factor(rng, warp.lo, warp.hi)
    return play_at(_crop_or_loop(clip, source_samples(n, r), rng), r, n)


@dataclass(frozen=True)
class NoiseEQ:
    """Training-only augmentation of noise recordings: with probability p a clip goes through 1..max_filters
    random second-order equalisers (low shelf, high shelf or peak, each -gain_db..+gain_db), so one recording
    stands for the same source heard through other rooms, walls and microphones. Test and validation sets
    never equalise."""

    p: float = 0.5
    gain_db: float = 12.0
    max_filters: int = 3


def eq_segment(seg: np.ndarray, rng: np.random.Generator, eq: NoiseEQ) -> np.ndarray:
    """seg [N] through random biquads (torchaudio's; float64, so a 60 Hz shelf stays stable). -> float32 [N],
    at an arbitrary level (the mixer normalises noise by its RMS)."""
    peak = float(np.abs(seg).max())
    if peak == 0:
        return seg.astype(np.float32)
    # torchaudio's lfilter clamps to [-1, 1]: start far below it, so even +36 dB of boost never clips
    x = torch.from_numpy(seg.astype(np.float64) * (1e-3 / peak))
    for _ in range(int(rng.integers(1, eq.max_filters + 1))):
        kind = int(rng.integers(3))
        gain = float(rng.uniform(-eq.gain_db, eq.gain_db))
        if kind == 0:
            x = AF.bass_biquad(x, SAMPLE_RATE, gain, central_freq=float(np.exp(rng.uniform(np.log(60), np.log(600)))))
        elif kind == 1:
            x = AF.treble_biquad(x, SAMPLE_RATE, gain,
                                 central_freq=float(np.exp(rng.uniform(np.log(1000), np.log(6000)))))
        else:
            x = AF.equalizer_biquad(x, SAMPLE_RATE, float(np.exp(rng.uniform(np.log(80), np.log(7000)))), gain,
                                    Q=float(rng.uniform(0.5, 3.0)))
    return x.numpy().astype(np.float32)


def _environmental(profile: NoiseProfile, bank: NoiseBank, n: int, rng: np.random.Generator,
                   warp: NoiseWarp | None = None, eq: NoiseEQ | None = None
                   ) -> tuple[np.ndarray, list[str], list[str]]:
    probs = profile.probs_for(bank.categories)
    cats_all = list(probs)
    k = int(rng.integers(profile.clips[0], profile.clips[1] + 1))
    noise = np.zeros(n, np.float32)
    cats, ids = [], []
    for _ in range(k):
        cat = str(rng.choice(cats_all, p=[probs[c] for c in cats_all]))
        clips = bank.by_category[cat]
        clip = clips[int(rng.integers(len(clips)))]
        if warp is not None and rng.random() < warp.p:
            seg = warp_segment(clip.audio, n, rng, warp)
        else:
            seg = _crop_or_loop(clip.audio, n, rng)
        if eq is not None and rng.random() < eq.p:
            seg = eq_segment(seg, rng, eq)
        noise += seg / _rms(seg) * profile.gains.get(cat, 1.0) * rng.uniform(0.5, 1.0)
        cats.append(cat)
        ids.append(clip.id)
    return noise, cats, ids


def mix(clean: np.ndarray, profile: NoiseProfile, bank: NoiseBank, rng: np.random.Generator,
        include_none: bool = True, revecho: RevEchoConfig = RevEchoConfig(),
        rooms: list[Room] | None = None, warp: NoiseWarp | None = None, eq: NoiseEQ | None = None) -> Mixture:
    """Draw a noise condition from the profile and apply it to clean [N] (`warp`, `eq`: training-only speed
    perturbation and equalisation of the noise recordings; None draws exactly what it always drew).

    The report's profiles draw exactly what they always drew; the augmentations of broader profiles
    (rooms, colouring, level) draw only when the profile enables them. With a room, the mixture holds the
    reverberant speech and the target is the speech through the room's direct path and early reflections."""
    clean = clean.astype(np.float32)
    n = len(clean)
    kind = draw_kind(profile, rng, include_none)
    snr = float(rng.uniform(*profile.snr_db))
    params: dict = {}
    if profile.p_colour > 0 and rng.random() < profile.p_colour:
        clean, params = colour(clean, rng)
    room = None
    if profile.p_room > 0 and kind != "reverb" and rng.random() < profile.p_room:
        if not rooms:
            raise ValueError(f"profile {profile.name} simulates rooms: pass rooms=")
        room = rooms[int(rng.integers(len(rooms)))]
    speech, target = clean, clean
    if room is not None:
        wet, early = reverberate(clean, room.speech), reverberate(clean, room.early)
        g = _rms(clean) / _rms(early)
        speech, target = wet * g, early * g
        params["rt60"] = room.rt60
    if kind == "none":
        return _level(Mixture(speech.copy(), target, kind, params=params), profile, rng)
    if kind == "reverb":
        noisy, p = add_revecho(clean, rng, revecho)
        return _level(Mixture(noisy, clean, kind, snr_db=measured_snr(clean, noisy), params={**params, **p}),
                      profile, rng)
    if kind == "static":
        noise = static_noise(n, rng)
        cats, ids = [], []
    else:
        noise, cats, ids = _environmental(profile, bank, n, rng, warp, eq)
    if room is not None:
        noise = reverberate(noise, room.noise)
    noise = noise * (_rms(speech) / _rms(noise)) * 10 ** (-snr / 20)
    noisy = speech + noise
    clean = target
    peak = float(np.abs(noisy).max())
    if peak > 0.99:   # avoid clipping when written to 16-bit files; scales target alike
        noisy, clean = noisy * (0.99 / peak), clean * (0.99 / peak)
    m = Mixture(noisy.astype(np.float32), clean.astype(np.float32), kind, cats, ids,
                snr_db=measured_snr(clean, noisy), params=params)
    return _level(m, profile, rng)


def _level(m: Mixture, profile: NoiseProfile, rng: np.random.Generator) -> Mixture:
    """Random overall level (profiles with a level range only), never above 0.99 peak."""
    lo, hi = profile.level_db
    if lo == hi == 0:
        return m
    g = 10 ** (rng.uniform(lo, hi) / 20)
    g = min(g, 0.99 / max(float(np.abs(m.noisy).max()), 1e-9))
    m.noisy = (m.noisy * g).astype(np.float32)
    m.clean = (m.clean * g).astype(np.float32)
    return m
