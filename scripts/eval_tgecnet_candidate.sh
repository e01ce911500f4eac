#!/usr/bin/env bash
# Score a candidate tgecnet-small weights file on an existing evaluation benchmark (built by
# scripts/eval_tgecnet.sh) without re-running the other methods: their records are copied from
# the benchmark's report, the candidate is put in place of the shipped weights for the
# `mmfuse bench` call only (the shipped file is restored afterwards, also on failure), and the
# result goes to $BENCH-$NAME/report (its bench/ a symlink to $BENCH/bench).
# Then: PYTHONPATH=src .venv/bin/python scripts/eval_tgecnet_report.py $BENCH-$NAME --restore-pairs 0
# Usage: scripts/eval_tgecnet_candidate.sh WEIGHTS NAME [BENCH (default runs/tgecnet-eval)]
set -euo pipefail
cd "$(dirname "$0")/.."
W=$1
NAME=$2
BENCH=${3:-runs/tgecnet-eval}
OUT=$BENCH-$NAME
SHIPPED=src/mmfuse/weights/tgecnet-small.safetensors
[ -f "$W" ] || { echo "$W: weights file not found" >&2; exit 2; }
[ -d "$BENCH/report/records" ] || { echo "$BENCH/report/records: no benchmark report to copy records from" >&2; exit 2; }
[ -e "$OUT" ] && { echo "$OUT: exists (remove it first)" >&2; exit 2; }
BACKUP=$(mktemp)
cp "$SHIPPED" "$BACKUP"
trap 'cp "$BACKUP" "$SHIPPED"; rm -f "$BACKUP"' EXIT
cp "$W" "$SHIPPED"
mkdir -p "$OUT/report/records"
ln -s "$(realpath "$BENCH/bench")" "$OUT/bench"
for s in "$BENCH"/report/records/*/; do
  s=$(basename "$s")
  mkdir -p "$OUT/report/records/$s"
  for m in "$BENCH/report/records/$s"/*; do
    [ "$(basename "$m")" = tgecnet-small ] || cp -r "$m" "$OUT/report/records/$s/"
  done
done
OMP_NUM_THREADS=2 .venv/bin/mmfuse bench "$OUT/bench" --methods tgecnet-small --profile tang \
  --metrics CC,MSE,PSNR,Nabf,MS_SSIM,Qabf,VIF,SSIM -o "$OUT/report" --workers 1
