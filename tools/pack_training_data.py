"""Pack the training side of ../shared/data into a small folder that can travel to a rented GPU machine.

Only material the local split puts on the training side goes in: the held-out test speakers, the held-out
noise recordings, ESC-50 (test noise) and the validation speakers that `chvoice train --validate-every`
carves out are all left behind, so a model trained on the pack can be validated and tested here exactly like
one trained on ../shared/data. To fit a size limit the pack trims each utterance to its first
--speech-seconds (lossless FLAC: the speech is the training target) and stores noise as Ogg Vorbis (noise is
only ever an input; the codec's error is more noise). Train on it with `chvoice train --train-only
--speech PACK/speech --noise PACK/noise` (nothing is held out a second time).

    python tools/pack_training_data.py --data-root ../shared/data --out gpu-data --speech-seconds 8

--studio also packs the training-side studio speakers of clean-speech/ (what `chvoice train --studio-speech`
adds; the held-out studio speakers never go in), as speakers of their own.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

import numpy as np
import soundfile as sf

from chvoice_core.audio_io import SAMPLE_RATE
from chvoice_core.data import load_data
from chvoice_core.data.sources import DataConfig
from chvoice_core.validation import validation_split


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", default="../shared/data")
    ap.add_argument("--out", required=True)
    ap.add_argument("--speech-seconds", type=float, default=8.0, help="keep this much of each utterance")
    ap.add_argument("--noise-quality", type=float, default=0.4, help="Ogg Vorbis quality of the noise, 0..1")
    ap.add_argument("--seed", type=int, default=0, help="the --seed of the local training runs (sets the "
                                                        "validation speakers, which stay out of the pack)")
    ap.add_argument("--studio", action="store_true",
                    help="add the training-side studio speakers (chvoice train --studio-speech) to the speech")
    a = ap.parse_args()
    out = Path(a.out)
    tmp = out.with_name(out.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    data = load_data(DataConfig(data_root=a.data_root), broad=True)
    train, val = validation_split(data.train_speech, a.seed)
    if a.studio:
        from chvoice_core.data.studio import with_studio_speech
        train = with_studio_speech(train, a.data_root)
    n = int(a.speech_seconds * SAMPLE_RATE)
    speech_s = 0.0
    for u in train.utterances:
        x = train.audio(u)[:n]
        dest = tmp / "speech" / _safe(u.speaker) / f"{_safe(u.id)}.flac"
        dest.parent.mkdir(parents=True, exist_ok=True)
        sf.write(dest, x, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
        speech_s += len(x) / SAMPLE_RATE
    noise_s, cats = 0.0, set()
    for clip in data.train_noise.clips():
        if clip.category == "babble":      # rebuilt from the packed speech where the pack is used
            continue
        x = np.asarray(clip.audio, np.float32)
        peak = float(np.abs(x).max()) if len(x) else 0.0
        if peak > 0.99:                    # the codec clips; mixing sets the level anyway
            x = x * (0.99 / peak)
        dest = tmp / "noise" / _safe(clip.category) / f"{_safe(clip.id.split('/')[-1])}.ogg"
        dest.parent.mkdir(parents=True, exist_ok=True)
        sf.write(dest, x, SAMPLE_RATE, format="OGG", subtype="VORBIS", compression_level=1.0 - a.noise_quality)
        noise_s += len(x) / SAMPLE_RATE
        cats.add(clip.category)
    info = {"data_root": str(a.data_root), "speakers": len(train.speakers()),
            "left_out_validation_speakers": val.speakers(), "speech_seconds": round(speech_s, 1),
            "speech_seconds_per_utterance": a.speech_seconds, "studio_speakers": a.studio, "noise_categories": len(cats),
            "noise_seconds": round(noise_s, 1), "noise_codec": f"ogg-vorbis q{a.noise_quality}",
            "bytes": sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file())}
    (tmp / "PACK.json").write_text(json.dumps(info, indent=1))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    print(json.dumps({k: v for k, v in info.items() if k != "left_out_validation_speakers"}))


if __name__ == "__main__":
    main()
