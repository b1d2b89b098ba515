"""research/pause_ceiling.py: the pause measure's ceilings on a paired folder (the reference itself, an oracle mask)."""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]


def test_a_floor_under_the_reference_tails_caps_the_attenuation_strong_noise_does_not(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(48_000) / 16_000
    # speech-like bursts with a slowly decaying tail into the pauses, as recorded speech has
    env = np.where((t % 1.0) < 0.5, 1.0, np.exp(-(t % 1.0 - 0.5) * 25))
    clean = 0.3 * np.sin(2 * np.pi * 300 * t) * env + 1e-6 * rng.standard_normal(t.size)
    for kind, level in (("floor", 10 ** (-50 / 20)), ("noise", 0.1)):
        noisy = clean + 0.3 * level * rng.standard_normal(t.size)
        for folder, x in (("clean", clean), ("noisy", noisy)):
            (tmp_path / folder).mkdir(exist_ok=True)
            sf.write(tmp_path / folder / f"{kind}-0.wav", x.astype(np.float32), 16_000)
    out = subprocess.run([sys.executable, str(ROOT / "research" / "pause_ceiling.py"), str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    # "<system> <kind> (<n>): min <1k X dB, min 1-8k Y dB"
    att = {(m[1], m[2]): float(m[3]) for m in re.finditer(r"^\s*(.+?)\s+(\w+) \(\d+\):.*min 1-8k\s+(\S+) dB",
                                                          out, re.M)}
    # against strong noise the reference is far cleaner than the input in its pauses
    assert att[("clean reference", "noise")] > 25 and att[("oracle ratio mask", "noise")] > 20
    # a floor at the level of the reference's own tails: even the reference keeps most of it
    assert att[("clean reference", "floor")] < att[("clean reference", "noise")] - 10
