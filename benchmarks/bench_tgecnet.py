"""Speed, MACs and peak memory of TG-ECNet on one 640×480 infrared-visible pair (CPU).

Each model runs in a fresh subprocess (so peak RSS is its own): the network is built from its
config (``configs/tgecnet-<size>.yaml``; the shipped weights are loaded for ``small`` when present,
which does not change the speed), one warm-up pass, then ``--repeat`` timed passes of
``TorchFusionMethod.fuse`` on a random 640×480 pair (RGB visible). Reported: median / min ms per
pair, multiply-accumulates per pair (``torch.utils.flop_counter.FlopCounterMode``; FLOPs / 2; the
MoE gating and element-wise ops are not counted), the per-part MAC split, parameters, and the
peak resident set (``ru_maxrss``) and its growth over the process before the model was built.
The probe-gated experts of the small model run only on images whose probe sees their degradation
(``--experts auto``; on the random pair the probe sees defocus in both images), and the haze
expert only on a visible image whose contrast gain it puts above 1.05; ``--experts off`` closes every gate
(a pair without defocus, stripes or haze), ``--experts on`` opens them all for both images (the
worst case); the result says which experts ran. ``--self-ensemble N`` times ``fuse`` with N mirrored
copies averaged (the shipped ``tgecnet-small`` method uses 4); MACs are always those of one pass.

Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/bench_tgecnet.py [--models small,paper] [--threads 1] [--repeat 5] [--experts auto|on|off] [--memory-format auto|contiguous|channels_last] [--self-ensemble 1|2|4]

Results and the machine load at the time go in docs/models/tgecnet.md.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_one(
    size: str, threads: int, repeat: int, height: int, width: int, experts: str = "auto", memory_format: str = "auto", self_ensemble: int = 1
) -> dict:
    import numpy as np
    import torch
    import yaml
    from torch.utils.flop_counter import FlopCounterMode

    from mmfuse.models.base import TorchFusionMethod, set_memory_format
    from mmfuse.models.tgecnet import HAZE_MIN_GAIN, TGECNet

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    ir = rng.random((height, width), dtype=np.float32)
    vis = rng.random((height, width, 3), dtype=np.float32)
    base = _rss_mb()
    cfg = yaml.safe_load((ROOT / "configs" / f"tgecnet-{size}.yaml").read_text())
    weights = ROOT / "src" / "mmfuse" / "weights" / f"tgecnet-{size}.safetensors"
    if weights.is_file():
        method = TorchFusionMethod.from_file(weights, self_ensemble=self_ensemble)
    else:
        method = TorchFusionMethod(TGECNet(**{k: v for k, v in cfg["model"].items() if k != "name"}), self_ensemble=self_ensemble)
    net = method.network
    if memory_format != "auto":  # auto: the layout TorchFusionMethod chose (channels-last for TG-ECNet)
        set_memory_format(net, torch.channels_last if memory_format == "channels_last" else torch.contiguous_format)
    layout = "channels_last" if net.output_fusion[0].weight.is_contiguous(memory_format=torch.channels_last) else "contiguous"
    if experts != "auto":
        with torch.no_grad():
            for e in net.probe_experts.values():
                e.gate_offset.fill_(10.0 if experts == "on" else -10.0)
                if e.columns:  # the stripe expert's second gate, on the column-offset amplitude (opens on the random pair)
                    e.column_offset.fill_(-10.0 if experts == "on" else 10.0)
            if net.haze_expert is not None:  # its gain decides whether it runs (> HAZE_MIN_GAIN)
                net.haze_expert.head[-1].bias[0] += 1.0 if experts == "on" else -10.0
    method.fuse(ir, vis)  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        method.fuse(ir, vis)
        times.append((time.perf_counter() - t) * 1000)
    peak = _rss_mb()
    t_ir = torch.from_numpy(ir)[None, None]
    t_vis = torch.from_numpy(vis.transpose(2, 0, 1).copy())[None]
    m = net.size_multiple
    ph, pw = -(-height // m) * m, -(-width // m) * m
    t_ir = torch.nn.functional.pad(t_ir, (0, pw - width, 0, ph - height))
    t_vis = torch.nn.functional.pad(t_vis, (0, pw - width, 0, ph - height))
    counter = FlopCounterMode(display=False, depth=2)
    with torch.inference_mode(), counter:
        out = net(t_ir, t_vis)
    ran = {k: [m for m, g in zip(("visible", "infrared"), gates) if float(g[0]) > 0] for k, gates in out.get("expert_gates", {}).items()}
    if "haze_gain" in out:
        ran["haze"] = ["visible"] if float(out["haze_gain"][0]) > HAZE_MIN_GAIN else []  # never run on the infrared image
    parts: dict[str, float] = {}
    for key, counts in counter.get_flop_counts().items():
        name = key.split(".", 1)[1] if "." in key else ""
        if key.count(".") == 1 and name != "degrad_moe":
            parts[name] = sum(counts.values()) / 2e9
        elif name.startswith(("degrad_moe.", "probe_experts.")) and name.count(".") == 1:  # ModuleDicts: sum their members
            group = name.split(".")[0]
            parts[group] = parts.get(group, 0.0) + sum(counts.values()) / 2e9
    # the probe-gated experts are called through their ``maps`` method, not ``forward``, so the
    # counter's module hooks do not see them: report what no top-level module accounts for
    rest = counter.get_total_flops() / 2e9 - sum(parts.values())
    if rest > 0.005:
        parts["(not attributed: probe-gated experts)"] = rest
    return {
        "model": f"tgecnet-{size}",
        "size": f"{width}x{height}",
        "threads": threads,
        "memory_format": layout,
        "self_ensemble": self_ensemble,
        "ms_median": round(statistics.median(times), 1),
        "ms_min": round(min(times), 1),
        "gmac": round(counter.get_total_flops() / 2e9, 3),
        "gmac_parts": {k: round(v, 3) for k, v in sorted(parts.items(), key=lambda kv: -kv[1])},
        "params": sum(p.numel() for p in net.parameters()),
        "experts_run": ran,
        "peak_rss_mb": round(peak, 1),
        "rss_growth_mb": round(peak - base, 1),
        "loadavg": os.getloadavg(),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="small,paper")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    ap.add_argument("--experts", choices=("auto", "on", "off"), default="auto", help="on / off: run every / no probe-gated expert (worst / common case)")
    ap.add_argument("--memory-format", choices=("auto", "contiguous", "channels_last"), default="auto",
                    help="weight layout (auto: what mmfuse uses, channels-last for TG-ECNet on the CPU)")
    ap.add_argument("--self-ensemble", type=int, choices=(1, 2, 4), default=1, help="mirrored copies averaged per fuse call")
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.threads, args.repeat, args.height, args.width, args.experts, args.memory_format, args.self_ensemble)))
        return 0
    results = []
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": str(args.threads)}
    for size in args.models.split(","):
        cmd = [sys.executable, __file__, "--one", size, "--threads", str(args.threads), "--repeat", str(args.repeat),
               "--height", str(args.height), "--width", str(args.width), "--experts", args.experts,
               "--memory-format", args.memory_format, "--self-ensemble", str(args.self_ensemble)]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
        res = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(res)
        print(f"{res['model']:15s} {res['size']} threads={res['threads']} {res['memory_format']} x{res['self_ensemble']}: {res['ms_median']:.0f} ms/pair (min {res['ms_min']:.0f}), "
              f"{res['gmac']:.2f} GMAC, {res['params'] / 1e6:.2f} M params, peak RSS {res['peak_rss_mb']:.0f} MB "
              f"(+{res['rss_growth_mb']:.0f} MB), load {res['loadavg'][0]:.1f}")
        if res["experts_run"]:
            print("   probe-gated experts run on:", ", ".join(f"{k}: {'+'.join(v) or 'none'}" for k, v in res["experts_run"].items()))
        top = list(res["gmac_parts"].items())[:6]
        print("   MACs by part (G):", ", ".join(f"{k} {v:.2f}" for k, v in top))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
