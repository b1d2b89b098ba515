#!/usr/bin/env bash
# Trains the shipped causal live model from ../shared/data (resumable: rerun the same command): the recipe of
# pipelines/train_general.sh (width 32, bounded gain head, perceptual loss, `general` profile, cosine schedule,
# validation with the best checkpoint kept) on the time-causal U-Net with 2 frames of lookahead (31.75 ms).
set -euo pipefail
EXTRA="--causal --lookahead ${LOOKAHEAD:-2} ${EXTRA:-}" STEPS="${STEPS:-3000}" VALIDATE_EVERY="${VALIDATE_EVERY:-250}" \
    exec "$(dirname "$0")/train_general.sh" "${1:-runs/causal}"
