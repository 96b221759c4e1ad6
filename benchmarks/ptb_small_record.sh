#!/usr/bin/env bash
# Copy a finished PTB run's record into benchmarks/results/ptb-small/ (used by ptb_small.sh).
#   bash benchmarks/ptb_small_record.sh RUN_DIR LOG WALL_SECONDS "COMMAND"     (OUT=dir to record elsewhere)
set -euo pipefail
RUN=$1 LOG=$2 WALL=$3 CMD=$4
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$HERE/results/ptb-small}
mkdir -p "$OUT"
tr '\r' '\n' < "$LOG" | awk '/^epoch [0-9]+\/[0-9]+ \[/ { last = $0; next } { if (last != "") print last; last = ""; print }' > "$OUT/console.log"
cp "$RUN/metrics.jsonl" "$RUN/curve.png" "$RUN/model.card.json" "$OUT/"
{
  echo "command: $CMD"
  echo "wall_seconds: $WALL"
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git -C "$HERE" rev-parse --short HEAD)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "cores: $(nproc)"
  "${BIN:-$(dirname "$HERE")/.venv/bin}/python" -c 'import platform, numpy; print("python:", platform.python_version()); print("numpy:", numpy.__version__)'
  "${BIN:-$(dirname "$HERE")/.venv/bin}/python" -c "import numpy; from threadpoolctl import threadpool_info as t; print(\"blas:\", [(i[\"internal_api\"], i[\"version\"], i[\"num_threads\"]) for i in t() if i[\"user_api\"] == \"blas\"])"
} > "$OUT/machine.txt"
echo "recorded in $OUT"
