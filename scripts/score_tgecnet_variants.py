"""Score TG-ECNet weight files (training variants) on a `mmfuse degrade` benchmark and compare
them with the methods already in a `mmfuse bench` report of that benchmark.

Used to choose between training variants on the validation split (`SPLIT=val
scripts/eval_tgecnet.sh runs/tgecnet-val average,laplacian,gff,cascade:auto+gff`), never on the
test pairs. Each variant is scored exactly as `mmfuse bench` does (the fused image rounded to
8 bits, `tang` profile, metrics against the clean sources).

Usage::

    PYTHONPATH=src .venv/bin/python scripts/score_tgecnet_variants.py runs/tgecnet-val A.safetensors [B.safetensors ...] [--self-ensemble 4]
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_tgecnet_report import METRICS, SETTING_ORDER, better, load_records  # noqa: E402

from mmfuse.io import read_image  # noqa: E402
from mmfuse.metrics import evaluate  # noqa: E402
from mmfuse.models.base import TorchFusionMethod  # noqa: E402


def score(weights: Path, bench: Path, self_ensemble: int = 1) -> dict[str, dict[str, float]]:
    method = TorchFusionMethod.from_file(weights, self_ensemble=self_ensemble)
    out = {}
    for s in SETTING_ORDER:
        vals = defaultdict(list)
        for vi in sorted((bench / s / "vi").iterdir()):
            ir = read_image(bench / s / "ir" / vi.name, "gray")
            v = read_image(vi, "rgb")
            ir_c = read_image(bench / s / "ir_clean" / vi.name, "gray")
            v_c = read_image(bench / s / "vi_clean" / vi.name, "rgb")
            fused = np.rint(np.clip(method.fuse(ir, v), 0, 1) * 255).astype(np.uint8)
            for k, x in evaluate(fused, ir, v, ir_c, v_c, profile="tang", metrics=METRICS).items():
                vals[k].append(x)
        out[s] = {k: float(np.mean(x)) for k, x in vals.items()}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="folder with bench/ and report/ (scripts/eval_tgecnet.sh)")
    ap.add_argument("weights", type=Path, nargs="+")
    ap.add_argument("--self-ensemble", type=int, default=1, help="mirrored copies averaged (1, 2 or 4)")
    args = ap.parse_args()
    recs = load_records(args.out / "report")
    base = {s: {m: {k: float(np.mean([r["metrics"][k] for r in rows])) for k in METRICS} for m, rows in by_m.items()} for s, by_m in recs.items()}
    results = {}
    for w in args.weights:
        sc = score(w, args.out / "bench", args.self_ensemble)
        results[str(w)] = sc
        print(f"\n== {w}" + (f" (self-ensemble {args.self_ensemble})" if args.self_ensemble > 1 else ""))
        total_fail = 0
        for s in SETTING_ORDER:
            wins = {m: sum(better(sc[s][k], base[s][m][k], k) for k in METRICS) for m in sorted(base.get(s, {}))}
            fails = [m for m, n in wins.items() if n <= len(METRICS) // 2]
            total_fail += len(fails)
            print(f"{s:30s} " + " ".join(f"{m}={n}" for m, n in wins.items()) + ("" if not fails else f"   <- not a majority vs {fails}"))
            print(" " * 31 + " ".join(f"{k}={sc[s][k]:.4f}" for k in METRICS))
        print(f"pairs (setting, method) without a majority: {total_fail}")
    (args.out / "variants.json").write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
