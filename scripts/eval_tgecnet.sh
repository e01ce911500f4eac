#!/usr/bin/env bash
# Evaluation of tgecnet-small on the held-out RoadScene test split (issue 6, item 6).
# 1. clean test pairs (40, ../shared/data/ivif/roadscene/split.json "test", or $SPLIT) -> $OUT/clean (symlinks)
# 2. mmfuse degrade --preset demmi-rf (6 single settings, the 4-way combination, clean), seed 0
# 3. mmfuse bench: tgecnet-small vs classical fusion on the degraded inputs and restore->fuse
#    cascades; TG-ECNet's metrics (CC, MSE, PSNR, Nabf, MS_SSIM against the clean sources, tang
#    profile) + Qabf, VIF, SSIM.
# Usage: [SPLIT=test] [WORKERS=1] scripts/eval_tgecnet.sh [OUT_DIR] [METHODS]
# (WORKERS: `mmfuse bench --workers`; the ms columns of the report are only comparable at 1.)
# (SPLIT=val builds the same benchmark on the 10 validation pairs, used to choose between
# training variants without looking at the test pairs.)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/tgecnet-eval}
METHODS=${2:-tgecnet-small,average,laplacian,gff,cascade:auto+gff}
SPLIT=${SPLIT:-test}
SETTINGS=clean,noise15,noise25,noise50,haze,defocus,stripe,noise50+haze+defocus+stripe
METRICS=CC,MSE,PSNR,Nabf,MS_SSIM,Qabf,VIF,SSIM
export PYTHONPATH=src OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
PY=.venv/bin/python
if [ ! -d "$OUT/clean" ]; then
  $PY - "$OUT/clean" "$SPLIT" <<'PYEOF'
import json, sys
from pathlib import Path
from mmfuse.io import find_pairs
root = Path("../shared/data/ivif/roadscene")
test = set(json.loads((root / "split.json").read_text())[sys.argv[2]])
out = Path(sys.argv[1])
for sub in ("ir", "vi"):
    (out / sub).mkdir(parents=True, exist_ok=True)
for p in find_pairs(root).pairs:
    if p.name in test:
        (out / "ir" / p.ir.name).symlink_to(p.ir.resolve())
        (out / "vi" / p.vi.name).symlink_to(p.vi.resolve())
print(len(test), sys.argv[2], "pairs")
PYEOF
fi
[ -d "$OUT/bench" ] || $PY -m mmfuse degrade --preset demmi-rf --input-dir "$OUT/clean" --output-dir "$OUT/bench" --seed 0 --settings "$SETTINGS"
$PY -m mmfuse bench "$OUT/bench" --methods "$METHODS" --profile tang --metrics "$METRICS" -o "$OUT/report" --workers ${WORKERS:-1}
