"""research/oracle_masks.py: the ceilings of the mask heads on a paired folder."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]


def test_oracles_rank_by_what_each_head_can_do(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(32_000) / 16_000
    for i in range(2):
        clean = 0.3 * np.sin(2 * np.pi * (220 + 50 * i) * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2
        noisy = clean + 0.1 * rng.standard_normal(t.size)
        for folder, x in (("clean", clean), ("noisy", noisy)):
            (tmp_path / folder).mkdir(exist_ok=True)
            sf.write(tmp_path / folder / f"item{i}.wav", x.astype(np.float32), 16_000)
    out = subprocess.run([sys.executable, str(ROOT / "research" / "oracle_masks.py"), str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    sdr = {line.split("|")[1].strip(): float(line.split("|")[2]) for line in out.splitlines()
           if line.startswith("| ") and not line.startswith("| head")}
    assert out.startswith("2 items")
    assert sdr["magnitude-bounded"] > sdr["noisy input"] + 5
    assert sdr["magnitude-free"] > sdr["noisy input"] + 5
    # with the noisy phase either magnitude head errs; correcting the phase too does better than both
    assert sdr["complex-bounded"] > max(sdr["magnitude-bounded"], sdr["magnitude-free"]) + 3
    # another STFT frame: the same ranking, and the header says which frame was used
    out = subprocess.run([sys.executable, str(ROOT / "research" / "oracle_masks.py"), str(tmp_path), "--n-fft", "512",
                          "--hop", "128"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "STFT 512/128" in out.splitlines()[0]
    sdr512 = {line.split("|")[1].strip(): float(line.split("|")[2]) for line in out.splitlines()
              if line.startswith("| ") and not line.startswith("| head")}
    assert sdr512["complex-bounded"] > sdr512["magnitude-bounded"] > sdr512["noisy input"] + 5
