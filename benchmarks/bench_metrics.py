"""Time the 13 VIFB metrics on one 640x480 triplet (VIFB 'labMan', fused by IFCNN).

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_metrics.py [--repeat 5] [--threads 1]
    PYTHONPATH=src .venv/bin/python benchmarks/bench_metrics.py --oracles

``--oracles`` instead prints the agreement with the three toolbox oracles in
``tests/data/metrics`` (median and maximum relative error per metric, and the worst row), the
numbers quoted in ``docs/metrics.md``.

Reports, for ``mmfuse.metrics.evaluate`` end to end (8-bit conversion, grey conversion, all 13
metrics AG, CE, EI, EN, MI, PSNR, Qabf, Qcb, Qcv, RMSE, SF, SSIM, SD):

* the grey triplet (one fused image, two sources, all grey: what the ``mmfuse``, ``tang`` and
  ``cddfuse`` profiles compute), with the ``vifb`` profile's conventions;
* VIFB's own protocol on the colour fused image (profile ``vifb``: every metric on each of the
  three RGB channels);
* the per-metric split of the grey case;

as the minimum and median wall time over ``--repeat`` runs after one warm-up, plus the process
CPU time of the grey case and the load average (the machine is shared: quote the load with the
numbers). ``--threads`` sets OpenCV's thread count (the separable filters); 1 gives the
single-core figure.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

from mmfuse.metrics import METRIC_FUNCTIONS, evaluate, get_profile
from mmfuse.metrics._evaluate import _call

ROOT = Path(__file__).resolve().parents[1]
VIFB = ROOT / "tests" / "data" / "metrics" / "vifb"
VIFB13 = ["AG", "CE", "EI", "EN", "MI", "PSNR", "Qabf", "Qcb", "Qcv", "RMSE", "SF", "SSIM", "SD"]


def _times(fn, repeat: int) -> tuple[float, float, float]:
    fn()  # warm-up (FFT plans, imports)
    wall, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return min(wall), statistics.median(wall), min(cpu)


def oracle_report() -> None:
    """Median / max relative error per metric against the VIFB, Tang and CDDFuse oracles."""
    import csv

    from mmfuse.metrics import evaluate_many

    names = {
        "Avg_gradient": "AG", "Cross_entropy": "CE", "Edge_intensity": "EI", "Entropy": "EN",
        "Mutinf": "MI", "Psnr": "PSNR", "Qabf": "Qabf", "Qcb": "Qcb", "Qcv": "Qcv", "Rmse": "RMSE",
        "Spatial_frequency": "SF", "Ssim": "SSIM", "Variance": "SD",
    }  # fmt: skip
    tables: dict[str, dict[tuple[str, str], dict[str, float]]] = {"vifb": {}, "tang": {}, "cddfuse": {}}
    with open(VIFB / "matlab_values.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            tables["vifb"].setdefault((row["image"], row["method"]), {})[names[row["metric"]]] = float(row["value"])
    for prof in ("tang", "cddfuse"):
        with open(VIFB.parent / prof / f"{prof}_values.csv", newline="") as fh:
            for row in csv.DictReader(fh):
                key = (row["image"], row["method"])
                tables[prof][key] = {k: float(v) for k, v in row.items() if k not in ("image", "method")}

    def load(p: Path) -> np.ndarray:
        return np.asarray(Image.open(p))

    for prof, table in tables.items():
        errors: dict[str, list[tuple[float, str]]] = {}
        for image in sorted({img for img, _ in table}):
            methods = sorted(m for img, m in table if img == image)
            ir = load(VIFB / "input" / "IR" / f"{image}.jpg")
            vi = load(VIFB / "input" / "VI" / f"{image}.jpg")
            fused = [load(VIFB / "fused" / f"{image}_{m}.jpg") for m in methods]
            metrics = list(table[(image, methods[0])])
            for m, got in zip(methods, evaluate_many(fused, ir, vi, profile=prof, metrics=metrics)):
                for k, ref in table[(image, m)].items():
                    errors.setdefault(k, []).append((abs(got[k] - ref) / abs(ref), f"{image}/{m}"))
        n = len(table)
        print(f"profile {prof}: {n} rows")
        for k, errs in errors.items():
            e = np.array([v for v, _ in errs])
            worst = max(errs)
            print(f"  {k:9s} median {np.median(e):.1e}  max {worst[0]:.1e}  ({worst[1]})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", default="labMan")
    ap.add_argument("--method", default="IFCNN")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="OpenCV threads (default: OpenCV's choice)")
    ap.add_argument("--oracles", action="store_true", help="print the agreement with the toolbox oracles instead")
    args = ap.parse_args()
    if args.oracles:
        oracle_report()
        return
    if args.threads is not None:
        import cv2

        cv2.setNumThreads(args.threads)

    def load(p: Path) -> np.ndarray:
        return np.asarray(Image.open(p))

    fused = load(VIFB / "fused" / f"{args.image}_{args.method}.jpg")
    ir = load(VIFB / "input" / "IR" / f"{args.image}.jpg")
    vi = load(VIFB / "input" / "VI" / f"{args.image}.jpg")
    h, w = fused.shape[:2]
    grey = [x[..., 0] if x.ndim == 3 else x for x in (fused, ir, vi)]  # channel R as a grey image
    print(f"triplet: {args.image}/{args.method}, {w}x{h}, repeat {args.repeat}, load average {os.getloadavg()[0]:.2f}")

    best, med, cpu = _times(lambda: evaluate(*grey, profile="vifb", metrics=VIFB13), args.repeat)
    print(f"13 VIFB metrics, grey triplet      : min {best * 1000:7.1f} ms  median {med * 1000:7.1f} ms  (cpu {cpu * 1000:.1f} ms)")
    best_c, med_c, cpu_c = _times(lambda: evaluate(fused, ir, vi, profile="vifb", metrics=VIFB13), args.repeat)
    print(f"13 VIFB metrics, RGB fused (VIFB)  : min {best_c * 1000:7.1f} ms  median {med_c * 1000:7.1f} ms  (cpu {cpu_c * 1000:.1f} ms)")

    prof = get_profile("vifb")
    f, a, b = (np.ascontiguousarray(x, dtype=np.float64) for x in grey)
    print("per metric (grey; min wall, min cpu):")
    for name in VIFB13:
        assert name in METRIC_FUNCTIONS
        t, _, c = _times(lambda: _call(prof, name, f, a, b), args.repeat)
        print(f"  {name:5s} {t * 1000:7.1f} ms  {c * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
