#!/usr/bin/env bash
# The main job as a new user runs it, timed: a fresh clone of HEAD (no ../shared beside it, an empty cache), the
# README's `tox -e cpu`, then the report from that run.
#   bash pipelines/cold_main_job.sh [OUT=runs/cold]      -> OUT/run.json, OUT/log.txt (durations), OUT/report/
set -u
REPO=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
OUT=$(realpath -m "${1:-$REPO/runs/cold}")
CLONE=${CLONE:-/tmp/chvoice-cold}
mkdir -p "$OUT" && rm -rf "$CLONE" && git clone -q "$REPO" "$CLONE" && cd "$CLONE" || exit 1
unset CHVOICE_CACHE                    # tox's own, under .tox/: empty
export PYTHONUNBUFFERED=1
echo "start $(date +%T) $(git log --oneline -1 | cut -c1-80)"
/usr/bin/time -f "%e s wall tox -e cpu" tox -e cpu -- -p no:cacheprovider --benchmark-json="$OUT/run.json" \
    --durations=60 > "$OUT/log.txt" 2>&1
echo "suite done $(date +%T): $(tail -1 "$OUT/log.txt")"
/usr/bin/time -f "%e s report" .tox/cpu/bin/python -m reports.build --run "$OUT/run.json" --out "$OUT/report" >> "$OUT/log.txt" 2>&1
echo "report done $(date +%T): $(tail -1 "$OUT/log.txt")"
