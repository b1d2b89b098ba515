#!/usr/bin/env bash
# Issue 28's A/B fine-tunes of the float default, one change each (same seed, batches, schedule), run side by side,
# then each scored on the studio-clean and real-noise sets. docs/experiments.md has the results.
#   STEPS=600 ARMS="control gate floor studio gate-floor" bash research/ab_residual.sh [OUT=runs/ab]
#   python research/ab_table.py --testset runs/studio-testset --ref control runs/scores/studio/*
# Second round, from the shipped gated default (default-float.pt is arm `gate` since 2026-12-05): its control
# `gate2` (600 more steps, same change) against the asymmetric loss `resid2` (noise left in weighs 3x):
#   STEPS=600 ARMS="gate2 resid2" bash research/ab_residual.sh runs/ab2
# and the same round's stronger gate (over 4, down to -35 dB) and gate + studio speakers, against gate2:
#   STEPS=600 ARMS="gate3 gate-studio2" bash research/ab_residual.sh runs/ab2
# Round 4, from the shipped default (arm gate-studio2): its control `gs3` against silenced spans in the training
# speech (`--speech-gaps P`: pauses that hold noise alone), P = 0.5 and 0.9:
#   STEPS=600 ARMS="gs3 gaps gaps9" bash research/ab_residual.sh runs/ab4
# and the spectral error from 3 kHz up weighed 3x (--high-band-weight 2), against the same gs3:
#   STEPS=600 ARMS="hf2" bash research/ab_residual.sh runs/ab4
# Round 5: hard negatives, the training noise categories the default takes for speech drawn more often (weights
# measured on the training side only: tools/hard_noise_weights.py, power 0.5 cap 4 and power 1 cap 8), against gs3:
#   python tools/hard_noise_weights.py chvoice_core/assets/default-float.pt ../shared/data runs/hardneg/weights.json
#   python tools/hard_noise_weights.py ... runs/hardneg/weights-p1.json --power 1 --cap 8
#   STEPS=600 ARMS="hardneg hardneg1" bash research/ab_residual.sh runs/ab5
# then from hardneg1, 600 more steps with its weights (hn-cont) or with weights measured again on it (hn-iter):
#   python tools/hard_noise_weights.py runs/ab5/hardneg1/model.pt ../shared/data runs/hardneg/weights-iter.json --power 1 --cap 8
#   STEPS=600 ARMS="hn-cont hn-iter" bash research/ab_residual.sh runs/ab5
set -euo pipefail
OUT=${1:-runs/ab}
export CHVOICE_CACHE=${CHVOICE_CACHE:-$HOME/.cache/chvoice} OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
STEPS=${STEPS:-600}
declare -A EXTRA=([control]="" [gate]="--target-gate" [floor]="--low-floor 0.5" [studio]="--studio-speech"
                  [gate-floor]="--target-gate --low-floor 0.5" [gate2]="--target-gate"
                  [resid2]="--target-gate --residual-weight 2"
                  [gate3]="--target-gate --target-gate-over 4 --target-gate-floor -35"
                  [gate-studio2]="--target-gate --studio-speech"
                  [gs3]="--target-gate --studio-speech" [gaps]="--target-gate --studio-speech --speech-gaps 0.5"
                  [gaps9]="--target-gate --studio-speech --speech-gaps 0.9"
                  [hf2]="--target-gate --studio-speech --high-band-weight 2"
                  [hardneg]="--target-gate --studio-speech --noise-weights runs/hardneg/weights.json"
                  [hardneg1]="--target-gate --studio-speech --noise-weights runs/hardneg/weights-p1.json"
                  [hn-cont]="--target-gate --studio-speech --noise-weights runs/hardneg/weights-p1.json --init runs/ab5/hardneg1/model.pt"
                  [hn-iter]="--target-gate --studio-speech --noise-weights runs/hardneg/weights-iter.json --init runs/ab5/hardneg1/model.pt")
mkdir -p "$OUT"
for arm in ${ARMS:-control gate floor studio gate-floor}; do
  # shellcheck disable=SC2086
  chvoice train --config configs/default-finetune.toml --steps "$STEPS" --validate-every "$STEPS" --quiet ${EXTRA[$arm]} \
    --out "$OUT/$arm" > "$OUT/$arm.log" 2>&1 &
done
wait
[ -d runs/studio-testset ] || python tools/build_studio_testset.py ../shared/data runs/studio-testset
[ -d runs/real-testset ] || python tools/build_real_testset.py ../shared/data runs/real-testset
for arm in ${ARMS:-control gate floor studio gate-floor}; do    # the arms scored side by side, like they trained
  for set in studio real; do
    [ -f "runs/scores/$set/$arm/scores.csv" ] || chvoice evaluate "$OUT/$arm/model.pt" --noisy "runs/$set-testset/noisy" \
        --clean "runs/$set-testset/clean" --out "runs/scores/$set/$arm" --quiet > /dev/null
  done &
done
wait
