#!/usr/bin/env bash
# Rebuilds a default model (chvoice_core/assets/default.pt) from ../shared/data on the CPU, then scores it: the
# recipe of the previous default. The shipped one was trained on a rented GPU with 15x the data seen
# (pipelines/gpu_train.sh, whose header gives the exact sequence).
#  1. pipelines/train_general.sh: width-32 U-Net, bounded gain head, perceptual loss, `general` profile (resumable);
#  2. static int8 (calibrated on 256 `general` training tiles);
#  3. the real-noise test set and its scores for the float model, the int8 model, RNNoise and DeepFilterNet3.
# Cost on the 2-core CPU: training about 65-110 minutes, the rest about 10 minutes.
set -euo pipefail
DATA=${DATA:-../shared/data}
OUT=${1:-runs/general}
pipelines/train_general.sh "$OUT"
chvoice quantize "$OUT/model.pt" --mode static --profile general --data-root "$DATA" --out "$OUT/int8.pt"
DATA=$DATA MODEL=$OUT/model.pt NAME=general-fp32 pipelines/eval_real.sh
DATA=$DATA MODEL=$OUT/int8.pt NAME=general-int8 SKIP_PEERS=1 pipelines/eval_real.sh
python tools/summarise_eval.py runs/real-testset runs/eval/noisy runs/eval/general-fp32 runs/eval/general-int8 \
    runs/eval/rnnoise runs/eval/deepfilternet3
echo "ship one: python tools/ship_model.py $OUT/int8.pt (or model.pt) -> chvoice_core/assets/default.pt"
