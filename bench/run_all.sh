#!/usr/bin/env bash
# Run every benchmark at full size, one after the other, and keep each one's output in
# bench/results/<date>-<script>.txt (not committed; the record of past runs). See
# bench/README.md.
# A script exits non-zero when its targets are missed; the others still run.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
OUT=bench/results
mkdir -p "$OUT"
export TF_CPP_MIN_LOG_LEVEL=3
STAMP=$(date -u +%Y-%m-%dT%H%MZ)
for script in ${BENCH_SCRIPTS:-data_load engine_vs_fit time_to_accuracy autograde}; do
    echo "== $script (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
    "$PYTHON" "bench/$script.py" "$@" 2>&1 | grep --line-buffered -v -E \
        "^(WARNING: All log|I0000|W0000|E0000)" | tee "$OUT/$STAMP-$script.txt"
    echo "== $script exit status ${PIPESTATUS[0]}"
done
