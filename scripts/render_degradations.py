#!/usr/bin/env python
"""Render one picture per degradation of mmfuse's presets into ``docs/img/degrade/``.

Every step of every shipped preset (and a few operators no preset uses) is applied to the
bundled RoadScene pair FLIR_04625 (``src/mmfuse/samples``, identical to
``../shared/data/ivif/roadscene/{ir,vi}/FLIR_04625.jpg``) with a fixed seed; the degradation is
applied to the full image and a native-resolution crop is saved, so noise and blur look as
they do in the benchmark (no rescaling). Each PNG is 8-bit and stays well below 150 KB.

Usage::

    PYTHONPATH=src .venv/bin/python scripts/render_degradations.py            # docs/img/degrade/
    PYTHONPATH=src .venv/bin/python scripts/render_degradations.py --out /tmp/deg --seed 1

The script prints one Markdown table row per picture (file, modality, step, operator and the
parameters actually drawn), which is what ``docs/degradations.md`` shows.

``--calibrate DIR`` instead fits the low-light and low-contrast models to real degraded pairs
(``DIR/{ir,vi,ir_degraded,vi_degraded}``, e.g. ``../shared/data/degraded/drmf-lowlight``) and
prints the per-image parameters the ``drmf`` and ``lure`` presets' ranges come from::

    PYTHONPATH=src .venv/bin/python scripts/render_degradations.py --calibrate ../shared/data/degraded/drmf-lowlight

``--time`` measures the CPU cost of :class:`mmfuse.data.degraded.OnTheFlyDegradation` on 128×128
crops of ``tests/data/ivif`` (the number quoted in ``docs/degradations.md``)::

    OMP_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python scripts/render_degradations.py --time
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from mmfuse.degrade import Step, apply_chain, load_preset, parse_chain
from mmfuse.degrade.benchmark import item_seed
from mmfuse.io import read_image, write_image

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_IR = ROOT / "src" / "mmfuse" / "samples" / "ir" / "FLIR_04625.jpg"
SAMPLE_VI = ROOT / "src" / "mmfuse" / "samples" / "vi" / "FLIR_04625.jpg"

# (file stem, modality, preset or None for the built-in vocabulary, chain)
PICTURES: list[tuple[str, str, str | None, str]] = [
    ("clean_vi", "vi", None, ""),
    ("clean_ir", "ir", None, ""),
    # DeMMI-RF (TG-ECNet)
    ("demmi-rf_noise15", "vi", "demmi-rf", "noise15"),
    ("demmi-rf_noise25", "vi", "demmi-rf", "noise25"),
    ("demmi-rf_noise50", "vi", "demmi-rf", "noise50"),
    ("demmi-rf_haze", "vi", "demmi-rf", "haze"),
    ("demmi-rf_defocus", "vi", "demmi-rf", "defocus"),
    ("demmi-rf_stripe", "ir", "demmi-rf", "stripe"),
    ("demmi-rf_noise50+haze+defocus_vi", "vi", "demmi-rf", "haze+defocus+noise50"),
    # EMS (Text-IF)
    ("ems_rain", "vi", "ems", "rain"),
    ("ems_haze", "vi", "ems", "haze"),
    ("ems_blur", "vi", "ems", "blur"),
    ("ems_vis-noise", "vi", "ems", "vis-noise+vis-shot"),
    ("ems_ir-noise", "ir", "ems", "ir-noise+ir-shot+ir-impulse"),
    # weather (AMG-Fuse)
    ("weather_rain", "vi", "weather", "rain"),
    ("weather_snow", "vi", "weather", "snow"),
    ("weather_haze", "vi", "weather", "haze"),
    # LURE
    ("lure_lowlight", "vi", "lure", "lowlight"),
    ("lure_overexposure", "vi", "lure", "overexposure"),
    ("lure_lowcontrast", "ir", "lure", "lowcontrast"),
    ("lure_sr4", "ir", "lure", "sr4"),
    ("lure_sr8", "ir", "lure", "sr8"),
    # DRMF
    ("drmf_stripe", "ir", "drmf", "stripe"),
    ("drmf_blur-sr4", "ir", "drmf", "blur-sr4"),
    # operators no preset uses (built-in vocabulary)
    ("builtin_poisson", "vi", None, "poisson"),
    ("builtin_saltpepper", "vi", None, "saltpepper"),
    ("builtin_blur", "vi", None, "blur"),
    ("builtin_motion", "vi", None, "motion"),
    ("builtin_jpeg10", "vi", None, "jpeg10"),
    ("builtin_thermal", "ir", None, "thermal"),
]


def _steps(preset: str | None) -> dict[str, Step] | None:
    return dict(load_preset(preset).steps) if preset is not None else None


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def render(out_dir: Path, seed: int, crop: tuple[int, int, int, int], overwrite: bool) -> list[str]:
    """Write the pictures; return one Markdown table row per picture."""
    ir = read_image(SAMPLE_IR, "gray")
    vi = read_image(SAMPLE_VI, "rgb")
    top, left, height, width = crop
    rows = []
    for stem, modality, preset, chain in PICTURES:
        steps = parse_chain(chain, _steps(preset), where=stem)
        img = ir if modality == "ir" else vi
        out, records = apply_chain(img, steps, item_seed(seed, stem, "FLIR_04625"))
        path = out_dir / f"{stem}.png"
        write_image(path, out[top:top + height, left:left + width], overwrite=overwrite)
        params = "; ".join(
            f"{r['op']}(" + ", ".join(f"{k}={_fmt(v)}" for k, v in r["params"].items()) + ")" for r in records
        ) or "-"
        rows.append(f"| ![{stem}](img/degrade/{path.name}) | {modality} | {preset or 'built-in'} | `{chain or 'clean'}` | {params} |")
        size_kb = path.stat().st_size / 1024
        print(f"{path} {size_kb:.0f} KB", file=sys.stderr)
    return rows


def calibrate(root: Path) -> list[str]:
    """Least-squares fits of the low-light and low-contrast models on real degraded pairs.

    Visible: ``log(degraded) = log(gain) + gamma · log(clean)`` over pixels with clean > 0.05 and
    degraded > 0.01 (the :func:`mmfuse.degrade.low_light` model without noise). Infrared:
    ``degraded = factor · clean + shift`` (:func:`mmfuse.degrade.low_contrast` with ``center=0``).
    Returns one Markdown table row per image.
    """
    rows = []
    for vi_path in sorted((root / "vi").iterdir()):
        name = vi_path.name
        vi = read_image(vi_path, "rgb").astype(np.float64)
        vi_d = read_image(root / "vi_degraded" / name, "rgb").astype(np.float64)
        ir = read_image(root / "ir" / name, "gray").astype(np.float64)
        ir_d = read_image(root / "ir_degraded" / name, "gray").astype(np.float64)
        m = (vi > 0.05) & (vi_d > 0.01)
        gamma, log_gain = np.polyfit(np.log(vi[m]), np.log(vi_d[m]), 1)
        factor, shift = np.polyfit(ir.ravel(), ir_d.ravel(), 1)
        rows.append(f"| {vi_path.stem} | {np.exp(log_gain):.2f} | {gamma:.2f} | {factor:.2f} | {shift:.3f} |")
    return rows


def time_on_the_fly(epochs: int = 50) -> list[str]:
    """CPU milliseconds per item of the on-the-fly wrapper (crop included) and of the crop alone."""
    import time

    from mmfuse.data import PairedFolderDataset, RandomCropFlip
    from mmfuse.data.degraded import OnTheFlyDegradation

    crops = RandomCropFlip(PairedFolderDataset(ROOT / "tests" / "data" / "ivif").preload(), 128, seed=0)
    lines = []
    for preset in ("demmi-rf", "ems", "weather", "lure", "drmf"):
        wrapper = OnTheFlyDegradation(crops, preset, seed=0)
        t0 = time.process_time()
        for epoch in range(epochs):
            crops.set_epoch(epoch)
            wrapper.set_epoch(epoch)
            for i in range(len(wrapper)):
                wrapper[i]
        t1 = time.process_time()
        for epoch in range(epochs):
            crops.set_epoch(epoch)
            for i in range(len(crops)):
                crops[i]
        t2 = time.process_time()
        n = epochs * len(crops)
        lines.append(f"| {preset} | {(t1 - t0) / n * 1e3:.1f} | {(t2 - t1) / n * 1e3:.2f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "degrade", help="output folder")
    ap.add_argument("--seed", type=int, default=0, help="global seed (per-picture seeds derive from it)")
    ap.add_argument("--crop", type=int, nargs=4, default=(20, 110, 192, 256), metavar=("TOP", "LEFT", "H", "W"),
                    help="native-resolution crop of the 516x274 sample")
    ap.add_argument("--overwrite", action="store_true", help="replace existing pictures")
    ap.add_argument("--calibrate", type=Path, metavar="DIR", help="fit low-light / low-contrast models instead")
    ap.add_argument("--time", action="store_true", help="time the on-the-fly wrapper instead")
    args = ap.parse_args(argv)
    if args.time:
        print("| preset | ms CPU per 128x128 item (crop + degradation) | crop alone |")
        print("|---|---|---|")
        print("\n".join(time_on_the_fly()))
        return 0
    if args.calibrate is not None:
        print("| image | VIS gain | VIS gamma | IR factor | IR shift |")
        print("|---|---|---|---|---|")
        print("\n".join(calibrate(args.calibrate)))
        return 0
    rows = render(args.out, args.seed, tuple(args.crop), args.overwrite)
    print("| picture | modality | preset | chain | parameters drawn |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
