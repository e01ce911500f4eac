#!/usr/bin/env bash
# RoadScene test split (40 pairs of split.json) degraded with the demmi-rf preset, then
# `mmfuse bench` with the classical baselines, cascades and shipped trained models. Produces the numbers of
# docs/benchmarks.md. Usage (from the repository root):
#
#   benchmarks/roadscene_demmi_rf.sh [WORK_DIR] [SETTINGS] [WORKERS]
#
# WORK_DIR (default /tmp/mmfuse-roadscene) receives clean/ (symlinks to the 40 test pairs),
# bench/ (the degraded benchmark, all 24 demmi-rf settings) and report/ (the bench report).
# SETTINGS (default: the 6 single degradations, clean and the 4-way mixture, i.e. the rows of
# TG-ECNet's Tables 1-2) is a comma-separated subset or "all". Re-running resumes.
set -euo pipefail
DATA=${MMFUSE_DATA:-../shared/data}/ivif/roadscene
WORK=${1:-/tmp/mmfuse-roadscene}
SETTINGS=${2:-clean,noise15,noise25,noise50,haze,defocus,stripe,noise50+haze+defocus+stripe}
WORKERS=${3:-1}
PY=${PYTHON:-.venv/bin/python}
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH}

mkdir -p "$WORK/clean/ir" "$WORK/clean/vi"
"$PY" - "$DATA" "$WORK/clean" <<'PYEOF'
import json, sys
from pathlib import Path
data, clean = Path(sys.argv[1]), Path(sys.argv[2])
stems = json.loads((data / "split.json").read_text())["test"]
for mod in ("ir", "vi"):
    files = {p.stem: p for p in (data / mod).iterdir()}
    for s in stems:
        link = clean / mod / files[s].name
        if not link.exists():
            link.symlink_to(files[s].resolve())
print(f"{len(stems)} test pairs linked in {clean}")
PYEOF

if [ ! -f "$WORK/bench/manifest.json" ]; then
  "$PY" -m mmfuse degrade --preset demmi-rf --seed 0 --input-dir "$WORK/clean" --output-dir "$WORK/bench"
fi
[ "$SETTINGS" = all ] && SETTINGS_OPT=() || SETTINGS_OPT=(--settings "$SETTINGS")
time nice -n 10 "$PY" -m mmfuse bench "$WORK/bench" \
  --methods average,laplacian,gff,cascade:auto+laplacian,cascade:auto+gff,moefusion-small,tgecnet-small \
  --profile tang --metrics CC,MSE,PSNR,Nabf,MS_SSIM,Qabf,VIF,SSIM \
  "${SETTINGS_OPT[@]}" --workers "$WORKERS" --examples 2 -o "$WORK/report"
