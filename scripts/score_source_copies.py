"""Score the two trivial "fusions" -- the degraded infrared image and the degraded visible image
returned unchanged -- on a `mmfuse degrade` benchmark, exactly as `mmfuse bench` scores a method
(8-bit output, `tang` profile, metrics against the clean sources).

They show what a metric rewards: e.g. on `defocus` (only the visible image is blurred) copying
the infrared input wins SSIM, Qabf, VIF and Nabf against the clean sources, and `gff`'s output
there is close to such a copy (docs/models/tgecnet.md, "Evaluation").

Usage::

    PYTHONPATH=src .venv/bin/python scripts/score_source_copies.py runs/tgecnet-eval/bench [--settings defocus,clean]
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_tgecnet_report import METRICS, SETTING_ORDER  # noqa: E402

from mmfuse.io import read_image  # noqa: E402
from mmfuse.metrics import evaluate  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bench", type=Path, help="benchmark folder (<setting>/{ir,vi,ir_clean,vi_clean}/)")
    ap.add_argument("--settings", default=",".join(SETTING_ORDER), help="comma-separated settings")
    args = ap.parse_args()
    print("| setting | output | " + " | ".join(METRICS) + " |")
    print("|---|---|" + "---|" * len(METRICS))
    for s in args.settings.split(","):
        vals: dict[str, dict[str, list[float]]] = {"infrared input": defaultdict(list), "visible input": defaultdict(list)}
        for vi in sorted((args.bench / s / "vi").iterdir()):
            ir = read_image(args.bench / s / "ir" / vi.name, "gray")
            v = read_image(vi, "rgb")
            ir_c = read_image(args.bench / s / "ir_clean" / vi.name, "gray")
            v_c = read_image(args.bench / s / "vi_clean" / vi.name, "rgb")
            for label, out in (("infrared input", np.repeat(ir[..., None], 3, -1)), ("visible input", v)):
                fused = np.rint(np.clip(out, 0, 1) * 255).astype(np.uint8)
                for k, x in evaluate(fused, ir, v, ir_c, v_c, profile="tang", metrics=METRICS).items():
                    vals[label][k].append(x)
        for label, v in vals.items():
            print(f"| {s} | {label} | " + " | ".join(f"{np.mean(v[k]):.4f}" for k in METRICS) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
