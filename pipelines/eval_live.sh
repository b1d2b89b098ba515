#!/usr/bin/env bash
# Issue 13's measurement: the causal live model and the non-causal default model on the real-noise test set
# (tools/build_real_testset.py), offline and streamed through the live engine, scored by `chvoice evaluate`.
#   pipelines/eval_live.sh [CAUSAL=chvoice_core/assets/live.pt] [DEFAULT=chvoice_core/assets/default.pt] [OUT=runs/eval]
set -euo pipefail
CAUSAL=${CAUSAL:-chvoice_core/assets/live.pt}
DEFAULT=${DEFAULT:-chvoice_core/assets/default.pt}
OUT=${OUT:-runs/eval}
TS=${TS:-runs/real-testset}
C=${CNAME:-$(basename "$CAUSAL" .pt)}
D=${DNAME:-$(basename "$DEFAULT" .pt)}
score() {   # folder, evaluate args...
    local dst=$1; shift
    [ -f "$OUT/$dst/scores.csv" ] || chvoice evaluate "$@" --noisy "$TS/noisy" --clean "$TS/clean" --out "$OUT/$dst" --quiet | tail -2
}
score noisy
score "$D" "$DEFAULT" &
score "$C" "$CAUSAL"
wait
score "$D-live-low-latency" "$DEFAULT" --live low-latency &
score "$C-live-causal" "$CAUSAL" --live causal
wait
python tools/summarise_eval.py "$TS" "$OUT/noisy" "$OUT/$D" "$OUT/$D-live-low-latency" "$OUT/$C" "$OUT/$C-live-causal"
