"""Speed and peak memory of MoE-Fusion on one 640x480 pair (CPU).

Measures, each in a fresh subprocess (so the peak resident memory is that configuration's):

* ``moefusion-small`` through the public API (``mmfuse.models.load("moefusion-small").fuse``:
  colour conversion, padding, network, chroma re-attachment) on an RGB visible image;
* the bare network forward of ``moefusion-small`` and of ``moefusion-paper`` (random weights,
  the paper's sizes).

Reports the median wall time over ``--repeat`` runs after one warm-up, the peak RSS of the
process (``ru_maxrss``) and its increase over the RSS after loading the model, and the load
average (the machine is shared: say what else was running when quoting numbers).

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_moefusion.py --threads 1 --repeat 10
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _child(kind: str, threads: int, repeat: int) -> dict[str, float | str]:
    import resource
    import time

    import numpy as np
    import torch

    torch.set_num_threads(threads)
    import mmfuse.models.moefusion  # noqa: F401  (registers the method)
    from mmfuse.models import load
    from mmfuse.train.config import load_config

    rng = np.random.default_rng(0)
    ir = rng.random((480, 640), dtype=np.float32)
    vis = rng.random((480, 640, 3), dtype=np.float32)
    if kind == "api-small":
        method = load("moefusion-small")
        run = lambda: method.fuse(ir, vis)  # noqa: E731
        params = sum(p.numel() for p in method.network.parameters())
    else:
        from mmfuse.models.moefusion import MoEFusion

        cfg = load_config(ROOT / "configs" / f"moefusion-{kind.split('-')[1]}.yaml")
        net = MoEFusion(**cfg.arch_kwargs).eval()
        params = sum(p.numel() for p in net.parameters())
        t_ir = torch.from_numpy(ir)[None, None]
        t_vis = torch.from_numpy(vis.mean(2))[None, None]

        def run() -> None:
            with torch.inference_mode():
                net(t_ir, t_vis)

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    run()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) * 1000)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "config": kind,
        "threads": threads,
        "repeat": repeat,
        "ms_median": round(float(np.median(times)), 1),
        "ms_min": round(float(np.min(times)), 1),
        "peak_rss_mb": round(peak, 1),
        "peak_increase_mb": round(peak - base, 1),
        "params": params,
        "loadavg_1min": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--configs", default="api-small,net-small,net-paper")
    p.add_argument("--paper-repeat", type=int, default=2, help="repeats for the (slow) paper-size network")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("-o", "--output", type=Path, default=None, help="also write the rows as JSON")
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.threads, args.repeat)))
        return 0
    rows = []
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": str(args.threads)}
    for kind in args.configs.split(","):
        repeat = args.paper_repeat if kind == "net-paper" else args.repeat
        res = subprocess.run(
            [sys.executable, __file__, "--child", kind, "--threads", str(args.threads), "--repeat", str(repeat)],
            capture_output=True, text=True, env=env,
        )
        if res.returncode != 0:
            print(f"error: {kind}: {res.stderr.strip().splitlines()[-1] if res.stderr.strip() else 'failed'}", file=sys.stderr)
            return 1
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    print("| config | threads | ms / 640x480 pair (median) | min | peak RSS MB | RSS increase MB | params | load avg |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['config']} | {r['threads']} | {r['ms_median']} | {r['ms_min']} | {r['peak_rss_mb']} | {r['peak_increase_mb']} | {r['params']:,} | {r['loadavg_1min']} |")
    if args.output:
        args.output.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
