#!/usr/bin/env bash
# Trains the shipped causal live model from ../shared/data (resumable: rerun the same command): the recipe of
# tools/train_general.sh (width 32, bounded gain head, perceptual loss, `general` profile, cosine schedule,
# validation with the best checkpoint kept) on the time-causal U-Net with 2 frames of lookahead (31.75 ms).
set -euo pipefail
DATA=${DATA:-../shared/data}
OUT=${1:-runs/causal}
THREADS=${THREADS:-2}
RESUME=""
[ -f "$OUT/checkpoint.pt" ] && RESUME="--resume"
chvoice train --data-root "$DATA" --profile general --arch normal --width 32 --mask --causal --lookahead "${LOOKAHEAD:-2}" \
    --loss perceptual --steps "${STEPS:-3000}" --batch-size 16 --lr 1e-3 --schedule cosine --warmup 100 --clip-grad 5 \
    --workers 1 --threads "$THREADS" --validate-every 250 --val-items 40 --checkpoint-every 50 \
    --out "$OUT" $RESUME
