"""Build the real-noise test set (noisy/ clean/ manifest) from material never used in training:

- speech: the held-out speakers of ../shared/data (LibriSpeech train-clean-100 speakers held out by chvoice's
  speaker split, LibriSpeech test-other files judged clean, CMU ARCTIC), each utterance used once (cropped to
  at most 8 s);
- noise: held-out recordings only (ESC-50's five report categories held out from training, the
  noise-categories clips of recordings held out by source recording, and babble made of test speakers);
- SNR uniform 0..15 dB, 1-2 noise clips, a quarter of the items in simulated rooms whose RIRs are drawn from a
  seed that training never uses (the target then keeps the direct path and 50 ms of early reflections).

A test-other file counts as clean when its frame-energy dynamic range (95th minus 10th percentile of 20 ms
frame energies) is at least 30 dB: lower values mean audible background noise or no pauses.

    python tools/build_real_testset.py ../shared/data runs/real-testset
"""
from __future__ import annotations

import argparse
import sys
from chvoice_core.data import DataConfig, load_data
from chvoice_core.data.realset import clean_test_speech, real_noise_profile
from chvoice_core.data.rooms import TEST_ROOM_SEED
from chvoice_core.data.testset import TestSetConfig, build_testset, write_testset

def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("data_root")
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--max-seconds", type=float, default=8.0)
    a = ap.parse_args()
    data = load_data(DataConfig(data_root=a.data_root), broad=True)
    speech = clean_test_speech(data)
    dropped = len(data.test_speech) - len(speech)
    profile = real_noise_profile("real-test")
    items = build_testset(speech, data.test_noise, profile,
                          TestSetConfig(n=len(speech), seed=a.seed, max_seconds=a.max_seconds),
                          rooms=data.rooms(seed=TEST_ROOM_SEED))
    write_testset(items, a.out)
    n_spk = len(speech.speakers())
    rooms = sum("rt60" in it.mixture.params for it in items)
    print(f"wrote {len(items)} items ({len(speech)} distinct utterances of {n_spk} speakers; {dropped} test-other "
          f"files dropped as not clean; {rooms} in rooms; {len(data.test_noise.clips())} held-out noise clips in "
          f"{len(data.test_noise.categories)} categories) to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
