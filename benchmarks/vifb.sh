#!/usr/bin/env bash
# VIFB (21 clean visible/infrared pairs) with the classical baselines, VIFB metric conventions.
# No degradation and no clean references: metrics compare the fused image with the inputs.
# Usage (from the repository root): benchmarks/vifb.sh [REPORT_DIR] [WORKERS]
set -euo pipefail
VIFB=${MMFUSE_DATA:-../shared/data}/metrics/vifb/input
OUT=${1:-/tmp/mmfuse-vifb}
WORKERS=${2:-1}
PY=${PYTHON:-.venv/bin/python}
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH}
time nice -n 10 "$PY" -m mmfuse bench "$VIFB" --methods average,max,laplacian,gff,moefusion-small,tgecnet-small \
  --profile vifb --workers "$WORKERS" --examples 3 -o "$OUT"
