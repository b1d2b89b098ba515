"""Score models on the validation set that `chvoice train --validate-every` builds (40 mixtures of the 11
training speakers held out for it, `general` profile, rooms from seed 1000): the set to choose between
candidates on, so the real-noise test set is only used to report the chosen one.

    python research/score_validation.py runs/general/model.pt runs/gpu/w32.pt ... [--data-root ../shared/data]
"""
from __future__ import annotations

import argparse
import json

from chvoice_core.compress.artifact import load_artifact
from chvoice_core.data import DataConfig, get_profile, load_data
from chvoice_core.validation import validation_set, validation_split


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--data-root", default="../shared/data")
    ap.add_argument("--items", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0, help="the training runs' --seed")
    a = ap.parse_args()
    profile = get_profile("general")
    data = load_data(DataConfig(data_root=a.data_root), broad=True)
    _, val_speech = validation_split(data.train_speech, a.seed)
    val = validation_set(data, val_speech, profile, a.items, a.seed)
    for path in a.models:
        model, _ = load_artifact(path)
        print(json.dumps({"model": path, **{k: round(v, 4) for k, v in val.score(model).items()}}))


if __name__ == "__main__":
    main()
