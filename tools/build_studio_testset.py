"""Build the studio-clean evaluation set (noisy/ clean/ manifest) from the held-out studio speakers of
../shared/data/clean-speech (data.studio.STUDIO_TEST_SPEAKERS: EARS p102-p107, CMU ARCTIC clb, VCC 2016 SF1 and
TM1; never trained on) and the held-out noise recordings of the real-noise test set. Half the items hold real
noise at 0-15 dB, half only a low stationary floor 25-45 dB under the speech (data.realset.studio_items).

    python tools/build_studio_testset.py ../shared/data runs/studio-testset
"""
from __future__ import annotations

import argparse
import sys

from chvoice_core.data import DataConfig, load_data
from chvoice_core.data.realset import studio_items
from chvoice_core.data.studio import split_studio, studio_speech
from chvoice_core.data.testset import write_testset


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_root")
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=2028)
    a = ap.parse_args()
    data = load_data(DataConfig(data_root=a.data_root), broad=True)
    _, held_out = split_studio(studio_speech(a.data_root))
    items = studio_items(held_out, data.test_noise, a.seed)
    write_testset(items, a.out)
    seconds = sum(len(it.mixture.clean) for it in items) / 16_000
    print(f"wrote {len(items)} items ({len(held_out)} utterances of {len(held_out.speakers())} held-out studio "
          f"speakers, {seconds / 60:.1f} min) to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
