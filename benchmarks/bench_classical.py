"""Time the classical fusion methods on one 640x480 pair (a real MSRS frame).

Usage:
    python benchmarks/bench_classical.py [--repeat 20] [--ir IR --vi VI]

Prints, per method, the median wall time of `FusionMethod.fuse` (colour in, colour out,
including YCbCr conversion and chroma re-attachment) over `--repeat` runs after one warm-up.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import mmfuse
from mmfuse.io import read_image

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ir", default=ROOT / "tests/data/msrs/ir/00001D.png")
    ap.add_argument("--vi", default=ROOT / "tests/data/msrs/vi/00001D.png")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--methods", default="average,max,laplacian,gff")
    args = ap.parse_args()
    ir, vi = read_image(args.ir), read_image(args.vi)
    print(f"pair: {vi.shape[1]}x{vi.shape[0]}, repeat {args.repeat}")
    for name in args.methods.split(","):
        m = mmfuse.load(name)
        m.fuse(ir, vi)
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            m.fuse(ir, vi)
            times.append(time.perf_counter() - t0)
        print(f"{name:10s} median {1000 * statistics.median(times):7.1f} ms   min {1000 * min(times):7.1f} ms")


if __name__ == "__main__":
    main()
