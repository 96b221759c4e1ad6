#!/usr/bin/env bash
# Zaremba et al. (2014) "small" on Penn Treebank with rnnkit, recorded under benchmarks/results/ptb-small/.
#
#   bash benchmarks/ptb_small.sh ../shared/data/ptb        # about 55-75 minutes on 2 cores
#
# 2 x 200 LSTM, no dropout, batch 20, bptt 20, SGD lr 1 on the loss summed over the window,
# halved each epoch after the 4th, 13 epochs, clip 5, init U(-0.1, 0.1): `rnnkit train`'s defaults
# with --train. Keeps the console log (progress bars reduced to their last state), metrics.jsonl,
# curve.png, the model card, and a machine note.
set -euo pipefail
DATA=${1:?give the directory holding ptb.train.txt, ptb.valid.txt, ptb.test.txt}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
RUN=${RUN:-$ROOT/runs/ptb-small}
OUT=$HERE/results/ptb-small
BIN=${BIN:-$ROOT/.venv/bin}
mkdir -p "$OUT"
CMD=("$BIN/rnnkit" train --train "$DATA/ptb.train.txt" --valid "$DATA/ptb.valid.txt" --test "$DATA/ptb.test.txt"
     --level word --cell lstm --layers 2 --hidden 200 --epochs 13 --out "$RUN")
start=$(date +%s)
"${CMD[@]}" 2>&1 | tee "$RUN.log"
end=$(date +%s)
bash "$HERE/ptb_small_record.sh" "$RUN" "$RUN.log" "$((end - start))" "${CMD[*]}"
