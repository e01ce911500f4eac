"""Assemble the shipped ``tgecnet-small`` weights from the training runs (see docs/models/tgecnet.md).

The restoration network and fusion branch come from the fusion run (``--fusion``: stage 1 +
stage 2 weights); the degradation estimator (``probe.*``) from the probe run (``--probe``). The
architecture arguments are the ``model`` section of the config, written into the safetensors
metadata with :func:`mmfuse.models.base.save_weights_file`; the result is loaded strictly.

Usage::

    PYTHONPATH=src .venv/bin/python scripts/export_tgecnet.py configs/tgecnet-small.yaml \
        --fusion runs/tgecnet-small-s2long/final.safetensors --probe runs/tgecnet-small-probe/final.safetensors \
        -o src/mmfuse/weights/tgecnet-small.safetensors
"""
from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from mmfuse.models.base import TorchFusionMethod, load_weights_file, save_weights_file


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", type=Path)
    ap.add_argument("--fusion", type=Path, required=True)
    ap.add_argument("--probe", type=Path, required=True)
    ap.add_argument("-o", "--output", type=Path, required=True)
    args = ap.parse_args()
    cfg = yaml.safe_load(args.config.read_text())
    kwargs = {k: v for k, v in cfg["model"].items() if k != "name"}
    fusion, _ = load_weights_file(args.fusion)
    probe, _ = load_weights_file(args.probe)
    state = {k: v for k, v in fusion.items() if not k.startswith("probe.")}
    state.update({k: v for k, v in probe.items() if k.startswith("probe.")})
    meta = {
        "arch": "tgecnet",
        "arch_kwargs": kwargs,
        "method": cfg.get("method", "tgecnet-small"),
        "config": args.config.name,
        "stages": [s["name"] for s in cfg["stages"]],
        "train_data": "RoadScene train split (../shared/data/ivif/roadscene/split.json) + 15 MSRS pairs; on-the-fly demmi-rf degradations",
        "paper": "Sun et al., Task-Gated Multi-Expert Collaboration Network for Degraded Multi-Modal Image Fusion, ICML 2025",
    }
    save_weights_file(args.output, state, meta)
    method = TorchFusionMethod.from_file(args.output, expected_arch="tgecnet")
    n = sum(p.numel() for p in method.network.parameters())
    print(f"{args.output}: {n} parameters, {args.output.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
