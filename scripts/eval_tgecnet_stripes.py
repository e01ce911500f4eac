"""Infrared stripe removal of TG-ECNet weight files outside DeMMI-RF's stripe distribution.

DeMMI-RF's stripes (Text-IF EMS) always come with white noise (column std U(3, 8), pixel std
U(3, 5), 0-255 scale). This script stripes clean infrared images with a grid of column / pixel
stds (``mmfuse.degrade.stripe_noise``, seed = image index, rounded to 8 bits), restores them
with each weights file (``restore`` of single images) and prints the mean PSNR (dB) against the
clean images, the share of images on which the stripe expert ran, and the classical
``destripe`` filter (`mmfuse.restore.destripe_columns`) for reference.

Usage::

    PYTHONPATH=src .venv/bin/python scripts/eval_tgecnet_stripes.py runs/tgecnet-val/bench/clean/ir_clean A.safetensors [B.safetensors ...]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio

from mmfuse.degrade import stripe_noise
from mmfuse.io import pad_to_multiple, read_image
from mmfuse.models.base import TorchFusionMethod
from mmfuse.restore import destripe_columns


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(peak_signal_noise_ratio(b.astype(np.float64), a.astype(np.float64), data_range=1.0))


GRID = [(0.0, 0.0), (3.0, 0.0), (5.5, 0.0), (8.0, 0.0), (15.0, 0.0), (0.0, 4.0), (5.5, 4.0), (15.0, 4.0)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clean_dir", type=Path, help="folder of clean infrared images")
    ap.add_argument("weights", type=Path, nargs="+")
    args = ap.parse_args()
    images = [read_image(p, "gray") for p in sorted(args.clean_dir.iterdir())]
    nets = [TorchFusionMethod.from_file(w).network for w in args.weights]
    print("column std, pixel std | input | destripe | " + " | ".join(f"{w.stem} (expert ran)" for w in args.weights))
    for col, pix in GRID:
        rows = []
        for i, clean in enumerate(images):
            x, _ = stripe_noise(clean, i, column_sigma=col, pixel_sigma=pix)
            x = (np.round(x * 255) / 255).astype(np.float32)
            row = [psnr(x, clean), psnr(destripe_columns(x), clean)]
            for net in nets:
                t = torch.from_numpy(pad_to_multiple(x, net.size_multiple)[0])[None, None]
                with torch.inference_mode():
                    out = net.restore(t)
                y = out["restored"][0, 0].clamp(0, 1).numpy()[: x.shape[0], : x.shape[1]]
                row += [psnr(y, clean), float(out["expert_gates"]["stripe"][0] > 0)]
            rows.append(row)
        m = np.mean(np.array(rows, dtype=np.float64), 0)
        cells = [f"{m[2 + 2 * k]:.2f} ({100 * m[3 + 2 * k]:.0f} %)" for k in range(len(nets))]
        print(f"{col:4.1f}, {pix:3.1f} | {m[0]:.2f} | {m[1]:.2f} | " + " | ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
