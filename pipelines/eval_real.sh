#!/usr/bin/env bash
# Scores the noisy input, a chvoice model (default: the shipped one), RNNoise and DeepFilterNet3 on the
# real-noise test set (tools/build_real_testset.py), with `chvoice evaluate`, then prints the summary tables.
#   pipelines/eval_real.sh [DATA=../shared/data] [MODEL=chvoice_core/assets/default.pt] [OUT=runs/eval]
set -euo pipefail
DATA=${DATA:-../shared/data}
MODEL=${MODEL:-chvoice_core/assets/default.pt}
OUT=${OUT:-runs/eval}
TS=${TS:-runs/real-testset}
NAME=${NAME:-$(basename "$MODEL" .pt)}
[ -d "$TS" ] || python tools/build_real_testset.py "$DATA" "$TS"
score() {   # folder, evaluate args...
    local dst=$1; shift
    [ -f "$OUT/$dst/scores.csv" ] || chvoice evaluate "$@" --noisy "$TS/noisy" --clean "$TS/clean" --out "$OUT/$dst" --quiet | tail -2
}
score noisy
score "$NAME" "$MODEL"
[ -n "${SKIP_PEERS:-}" ] || { score rnnoise --peer rnnoise; score deepfilternet3 --peer deepfilternet3; }
python tools/summarise_eval.py "$TS" "$OUT/noisy" "$OUT/$NAME" $( [ -n "${SKIP_PEERS:-}" ] || echo "$OUT/rnnoise $OUT/deepfilternet3")
