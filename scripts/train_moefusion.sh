#!/usr/bin/env bash
# Train moefusion-small in the background on one CPU core, resumably.
#
#   scripts/train_moefusion.sh [RUN_DIR] [--set key=value ...]
#
# RUN_DIR defaults to runs/moefusion-small. If RUN_DIR already holds a checkpoint the run is
# resumed (--resume), otherwise it starts from configs/moefusion-small.yaml. The engine runs
# single-threaded (OMP/MKL threads = 1) pinned to core $CORE (default 1; the machine's other
# trainings use core 0), at nice 5, and logs to RUN_DIR/train.log. Export the weights with
#   mmfuse export RUN_DIR -o src/mmfuse/weights/moefusion-small.safetensors
# (or: python -m mmfuse.train.export, see docs/training.md).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:-runs/moefusion-small}
shift || true
CORE=${CORE:-1}
PY=${PYTHON:-.venv/bin/python}
mkdir -p "$RUN"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH}
# importing mmfuse.models.moefusion registers the architecture even before mmfuse.models imports it
LAUNCH=(-c 'import sys, torch; torch.set_num_threads(1); import mmfuse.models.moefusion; from mmfuse.train.__main__ import main; sys.exit(main(sys.argv[1:]))')
if ls "$RUN"/checkpoints/last.* >/dev/null 2>&1; then
  ARGS=(--resume "$RUN" "$@")
else
  ARGS=(configs/moefusion-small.yaml --out "$RUN" "$@")
fi
echo "$(date -u +%FT%TZ) taskset -c $CORE nice -n 5 $PY ${LAUNCH[*]} ${ARGS[*]}" >> "$RUN/command.txt"
nohup taskset -c "$CORE" nice -n 5 "$PY" "${LAUNCH[@]}" "${ARGS[@]}" >> "$RUN/train.log" 2>&1 &
echo "started pid $! -> $RUN/train.log"
