"""Benchmark builder: degrade every clean ``ir/`` + ``vi/`` pair with every setting of a preset.

Output layout (the DeMMI-RF-like benchmark of issue 3)::

    BENCH/<setting>/ir/NAME.png        degraded infrared input (clean copy if the IR chain is empty)
    BENCH/<setting>/vi/NAME.png        degraded visible input (clean copy if the VIS chain is empty)
    BENCH/<setting>/ir_clean/NAME.png  clean infrared reference
    BENCH/<setting>/vi_clean/NAME.png  clean visible reference
    BENCH/manifest.json                preset, seed, every file's chains, parameters and seed

Reproducibility:

- **Per-file seeds.** Each (setting, image) gets its own seed, :func:`item_seed`:
  ``SeedSequence([seed, crc32(setting), crc32(name)]).generate_state(1, uint64)[0]``, where
  ``crc32`` is :func:`zlib.crc32` of the UTF-8 name (stable across runs, machines and Python
  versions, unlike ``hash()``). The output of a file therefore does not depend on the order in
  which files are processed, on the other images in the folder, or on the ``settings`` subset;
  the same seed gives byte-identical PNGs and manifest.
- **Quantisation.** PNGs are 8-bit, written by :func:`mmfuse.io.write_image`: values are
  clipped to ``[0, 1]`` and rounded half to even in float64, ``np.rint(float64(x) · 255)``;
  clean references of 8-bit inputs are therefore bit-exact copies of the source pixels.
- ``manifest.json`` holds no time stamps or absolute output paths, so two builds compare equal.
"""
from __future__ import annotations

import json
import os
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from mmfuse.degrade._common import jsonable
from mmfuse.degrade.presets import Preset, Setting, apply_setting, load_preset
from mmfuse.errors import InputError, OutputExistsError

__all__ = ["item_seed", "BenchmarkSummary", "build_benchmark", "MANIFEST_NAME", "SUBFOLDERS"]

#: Name of the manifest file in the benchmark folder.
MANIFEST_NAME = "manifest.json"
#: Sub-folders written for every setting.
SUBFOLDERS = ("ir", "vi", "ir_clean", "vi_clean")
_MANIFEST_FORMAT = 1


def item_seed(seed: int, setting: str, name: str) -> int:
    """The seed of one benchmark file: a function of (global seed, setting name, image stem) only.

    Args:
        seed: Global seed, non-negative int.
        setting: Setting name, e.g. ``"noise25"``.
        name: Image stem, e.g. ``"FLIR_04625"``.

    Returns:
        A 64-bit non-negative int; pass it to :func:`mmfuse.degrade.apply_setting` to reproduce
        the file.
    """
    ss = np.random.SeedSequence([int(seed), zlib.crc32(setting.encode("utf-8")), zlib.crc32(name.encode("utf-8"))])
    return int(ss.generate_state(1, dtype=np.uint64)[0])


@dataclass
class BenchmarkSummary:
    """What :func:`build_benchmark` did.

    Attributes:
        output_dir: Benchmark folder.
        preset: Preset name.
        seed: Global seed.
        settings: Names of the settings built, in preset order.
        pairs: Number of pairs degraded successfully.
        written: Number of PNG files written.
        failed: ``(name, message)`` for every pair that was skipped (unreadable, sizes differ).
        unmatched: One line per input file without a partner (skipped, not a failure).
        manifest: Path of ``manifest.json``.
        seconds: Wall-clock time.
    """

    output_dir: Path
    preset: str
    seed: int
    settings: list[str]
    pairs: int = 0
    written: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    manifest: Optional[Path] = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no pair failed."""
        return not self.failed

    def lines(self) -> list[str]:
        """Human-readable summary, one line each."""
        out = [
            f"{self.pairs} pair(s) x {len(self.settings)} setting(s) of preset {self.preset} (seed {self.seed}) "
            f"-> {self.output_dir}: {self.written} files in {self.seconds:.1f} s",
            f"manifest: {self.manifest}",
        ]
        if self.failed:
            out.append(f"{len(self.failed)} pair(s) failed and were skipped")
        return out


def _check_output_dir(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise OutputExistsError(f"{out}: output folder is not empty (use --overwrite to replace its files)")
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(f"{out}: output folder {probe} is not writable")


def _setting_entry(preset: Preset, setting: Setting) -> dict[str, Any]:
    tokens = [s for s in (*setting.vis, *setting.ir)]
    return {
        "name": setting.name,
        "label": preset.index(setting.name),
        "vis_chain": setting.vis_chain,
        "ir_chain": setting.ir_chain,
        "steps": {
            s.token: {"op": s.op, "params": jsonable(dict(s.params)), "source": s.source} for s in tokens
        },
    }


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def build_benchmark(
    input_dir: Union[str, os.PathLike],
    output_dir: Union[str, os.PathLike],
    preset: Union[str, os.PathLike, Preset] = "demmi-rf",
    *,
    seed: int = 0,
    settings: Union[str, list[str], None] = None,
    overwrite: bool = False,
    progress: Optional[bool] = None,
) -> BenchmarkSummary:
    """Build a degraded benchmark from clean infrared/visible pairs.

    Every pair under ``input_dir`` (``ir/`` + ``vi/`` or the other folder names of
    :data:`mmfuse.io.MODALITY_FOLDERS`, matched by file stem) is degraded with every selected
    setting of ``preset`` and written in the layout of the module docstring. Infrared images are
    read as gray (BT.601 luma if stored in colour); visible images keep their channels (RGB, or
    gray for gray visible images). A bad pair (unreadable file, sizes that differ) is skipped and
    listed in :attr:`BenchmarkSummary.failed` and in the manifest; nothing is written for it.

    Args:
        input_dir: Folder with the clean pairs.
        output_dir: Benchmark folder; must be empty or missing unless ``overwrite``.
        preset: Preset name (:func:`mmfuse.degrade.list_presets`), YAML path, or :class:`Preset`.
        seed: Global seed, non-negative int (see :func:`item_seed`).
        settings: Subset of setting names (list or comma-separated string); ``None`` = all.
        overwrite: Write into a non-empty folder, replacing files of the same name (other files
            are left alone).
        progress: Progress bar on stderr (``None``: only when stderr is a terminal).

    Returns:
        :class:`BenchmarkSummary`.

    Raises:
        InputError: Bad seed, unknown preset or setting, missing input folder, no pairs, output
            folder not empty (:class:`~mmfuse.errors.OutputExistsError`) or not writable. These
            are checked before anything is written.
    """
    from tqdm import tqdm

    from mmfuse import __version__
    from mmfuse.io import find_pairs, read_image, write_bytes, write_image, write_text

    start = time.perf_counter()
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or int(seed) < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    pre = load_preset(preset)
    chosen = pre.select(settings)
    in_root = Path(input_dir)
    pairset = find_pairs(in_root)
    out = Path(output_dir)
    _check_output_dir(out, overwrite)

    summary = BenchmarkSummary(output_dir=out, preset=pre.name, seed=seed, settings=[s.name for s in chosen],
                               unmatched=pairset.problems())
    items: list[tuple[int, str, dict[str, Any]]] = []
    order = {s.name: i for i, s in enumerate(chosen)}
    bar = tqdm(total=len(pairset.pairs) * len(chosen), desc=f"degrade [{pre.name}]", unit="img",
               disable=None if progress is None else not progress, file=sys.stderr)
    try:
        for pair in pairset.pairs:
            try:
                ir = read_image(pair.ir, "gray")
                vi = read_image(pair.vi, "keep")
                if ir.shape[:2] != vi.shape[:2]:
                    raise InputError(
                        f"{pair.ir.name} is {ir.shape[1]}x{ir.shape[0]} but {pair.vi.name} is "
                        f"{vi.shape[1]}x{vi.shape[0]}; infrared and visible must have the same size"
                    )
                degraded = []
                for setting in chosen:
                    fseed = item_seed(seed, setting.name, pair.name)
                    ir_d, vi_d, record = apply_setting(ir, vi, setting, fseed)
                    degraded.append((setting, fseed, ir_d, vi_d, record))
            except InputError as err:
                summary.failed.append((pair.name, str(err).splitlines()[0]))
                bar.update(len(chosen))
                continue
            clean_bytes: dict[str, bytes] = {}
            for setting, fseed, ir_d, vi_d, record in degraded:
                base = out / setting.name
                paths = {sub: base / sub / f"{pair.name}.png" for sub in SUBFOLDERS}
                for sub, img, chain in (("ir_clean", ir, None), ("vi_clean", vi, None),
                                        ("ir", ir_d, setting.ir), ("vi", vi_d, setting.vis)):
                    key = sub.replace("_clean", "")
                    if chain is None or not chain:  # clean reference, or a modality left clean
                        if key in clean_bytes:
                            write_bytes(paths[sub], clean_bytes[key], overwrite=overwrite)
                        else:
                            write_image(paths[sub], img, overwrite=overwrite)
                            clean_bytes[key] = paths[sub].read_bytes()
                    else:
                        write_image(paths[sub], img, overwrite=overwrite)
                    summary.written += 1
                entry = {
                    "setting": setting.name,
                    "name": pair.name,
                    "seed": fseed,
                    "source": {"ir": _relative(pair.ir, in_root), "vi": _relative(pair.vi, in_root)},
                    "files": {sub: _relative(p, out) for sub, p in paths.items()},
                    "vis_chain": record["vis_chain"],
                    "ir_chain": record["ir_chain"],
                    "vis": record["vis"],
                    "ir": record["ir"],
                }
                items.append((order[setting.name], pair.name, entry))
                bar.update(1)
            summary.pairs += 1
    finally:
        bar.close()

    items.sort(key=lambda t: (t[0], t[1]))
    manifest = {
        "format": _MANIFEST_FORMAT,
        "mmfuse_version": __version__,
        "preset": pre.name,
        "preset_file": pre.path,
        "seed": seed,
        "seeding": "file seed = SeedSequence([seed, crc32(setting), crc32(name)]).generate_state(1, uint64)[0]; "
                   "degraded with mmfuse.degrade.apply_setting(ir, vi, setting, file_seed)",
        "quantisation": "8-bit PNG, round half to even in float64: rint(clip(float64(x), 0, 1) * 255)",
        "input_dir": str(in_root),
        "settings": [_setting_entry(pre, s) for s in chosen],
        "items": [e for _, _, e in items],
        "failures": [{"name": n, "error": m} for n, m in summary.failed],
        "unmatched": summary.unmatched,
    }
    summary.manifest = write_text(out / MANIFEST_NAME, json.dumps(manifest, indent=1, ensure_ascii=False) + "\n",
                                  overwrite=True)
    summary.seconds = time.perf_counter() - start
    return summary
