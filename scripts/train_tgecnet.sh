#!/usr/bin/env bash
# Train tgecnet-small with the engine (`mmfuse train`) in the background, resumably.
#
#   scripts/train_tgecnet.sh [RUN_DIR] [--set key=value ...]
#
# RUN_DIR defaults to runs/tgecnet-small. If RUN_DIR already holds a checkpoint the run is
# resumed (--resume), otherwise it starts from configs/tgecnet-small.yaml (stages restore -> refine -> experts ->
# haze -> stripe -> noise -> fusion). The config asks for 2 PyTorch threads (both cores of the reference machine); the job
# runs at nice 5 and logs to RUN_DIR/train.log. Export the shipped weights with
#   mmfuse export RUN_DIR -o src/mmfuse/weights/tgecnet-small.safetensors
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:-runs/tgecnet-small}
shift || true
PY=${PYTHON:-.venv/bin/python}
mkdir -p "$RUN"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} MKL_NUM_THREADS=${MKL_NUM_THREADS:-2} PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH}
if ls "$RUN"/checkpoints/last.* >/dev/null 2>&1; then
  ARGS=(--resume "$RUN" "$@")
else
  ARGS=(configs/tgecnet-small.yaml --out "$RUN" "$@")
fi
echo "$(date -u +%FT%TZ) nice -n 5 $PY -m mmfuse train ${ARGS[*]}" >> "$RUN/command.txt"
nohup nice -n 5 "$PY" -m mmfuse train "${ARGS[@]}" >> "$RUN/train.log" 2>&1 &
echo "started pid $! -> $RUN/train.log"
