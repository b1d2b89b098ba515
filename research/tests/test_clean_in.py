"""research/clean_in.py: clean speech in, SI-SDR of the output against it, one input per utterance."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from chvoice_core.models import UNet, UNetConfig
from chvoice_core.models.io import save_model

ROOT = Path(__file__).resolve().parents[2]


def _testset(root: Path) -> None:
    (root / "clean").mkdir(parents=True)
    rng = np.random.default_rng(0)
    t = np.arange(24_000) / 16_000
    items = []
    for i, utt in enumerate(["a", "a", "b"]):           # utterance "a" is in two items: scored once
        x = 0.3 * np.sin(2 * np.pi * (200 + 100 * (utt == "b")) * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
        sf.write(root / "clean" / f"item-{i}.wav", (x + 1e-4 * rng.standard_normal(t.size)).astype(np.float32), 16_000)
        items.append({"id": f"item-{i}", "utterance": utt})
    (root / "manifest.json").write_text(json.dumps(items))


def test_an_identity_model_leaves_clean_speech_alone_a_damaging_one_does_not(tmp_path):
    _testset(tmp_path / "set")
    ident = UNet(UNetConfig(depth=2, base_width=4))        # residual head with a zero correction: the identity
    with torch.no_grad():
        ident.outc.weight.zero_()
        ident.outc.bias.zero_()
    torch.manual_seed(0)
    damage = UNet(UNetConfig(depth=2, base_width=4))       # an untrained correction: reshapes the spectrum
    with torch.no_grad():
        damage.outc.weight.mul_(20)
    rows = {}
    for name, m in (("ident", ident), ("damage", damage)):
        save_model(tmp_path / f"{name}.pt", m.eval())
        out = subprocess.run([sys.executable, str(ROOT / "research" / "clean_in.py"), str(tmp_path / "set"),
                              "--model", str(tmp_path / f"{name}.pt")], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout
        rows[name] = json.loads(out.strip().splitlines()[-1])
    assert rows["ident"]["utterances"] == 2 and rows["ident"]["at_least_30_db"] == 2
    assert rows["ident"]["mean_si_sdr"] > 40
    assert rows["damage"]["mean_si_sdr"] < 30 and rows["damage"]["at_least_30_db"] == 0
