"""File-level fusion: one pair of files, or every pair of a folder.

These functions do all the work behind ``mmfuse fuse``; the CLI only parses options.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mmfuse.errors import InputError
from mmfuse.io import check_writable, find_pairs, read_image, write_image
from mmfuse.models.base import FusionMethod

__all__ = ["fuse_file", "fuse_folder", "BatchResult"]


def fuse_file(
    ir_path: str | os.PathLike,
    vis_path: str | os.PathLike,
    out_path: str | os.PathLike,
    method: FusionMethod,
    *,
    overwrite: bool = False,
    resize: bool = False,
    gray: bool = False,
    bits: Literal[8, 16] = 8,
) -> dict[str, Any]:
    """Fuse two image files into ``out_path`` (PNG written atomically).

    The output path is checked before any work, so an existing file (without ``overwrite``)
    or an unwritable folder fails fast and nothing is written.

    Returns:
        The method's info dict (see :meth:`FusionMethod.fuse`), plus ``"output"``.

    Raises:
        InputError: unreadable input, size mismatch, existing or unwritable output.
    """
    out = check_writable(out_path, overwrite=overwrite)
    if Path(ir_path).resolve() == out.resolve() or Path(vis_path).resolve() == out.resolve():
        raise InputError(f"{out}: output would replace an input file")
    ir = read_image(ir_path, mode="keep")
    vis = read_image(vis_path, mode="keep")
    try:
        fused, info = method.fuse(ir, vis, resize=resize, gray=gray, return_info=True)
    except InputError as err:
        raise type(err)(f"{ir_path} + {vis_path}: {err}") from None
    write_image(out, fused, bits=bits, overwrite=overwrite)
    return {**info, "output": str(out)}


@dataclass
class BatchResult:
    """Outcome of :func:`fuse_folder`.

    Attributes:
        written: output files written, in pair order.
        failed: ``(name, message)`` for every pair that was skipped because of an error.
        unmatched: one line per input file that had no partner (reported, not fused).
        infos: per-pair info dicts (for ``--report``), keyed by pair name.
    """

    written: list[Path] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    infos: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


def fuse_folder(
    input_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    method: FusionMethod,
    *,
    overwrite: bool = False,
    resize: bool = False,
    gray: bool = False,
    bits: Literal[8, 16] = 8,
    progress: bool | None = None,
) -> BatchResult:
    """Fuse every infrared/visible pair under ``input_dir`` into ``output_dir/<name>.png``.

    Pairs are found with :func:`mmfuse.io.find_pairs` (``ir/`` + ``vi/`` and similar folder
    names, matched by file stem). A bad pair is skipped and recorded in
    :attr:`BatchResult.failed`; the run goes on.

    Args:
        progress: show a progress bar (``None``: only on a terminal).

    Raises:
        InputError: ``input_dir`` has no modality folders or no pairs, or ``output_dir`` is not
            a writable folder.
    """
    from tqdm import tqdm

    pairs = find_pairs(input_dir)
    out_dir = Path(output_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: exists and is not a folder")
    check_writable(out_dir / ".mmfuse-probe", overwrite=True)
    result = BatchResult(unmatched=pairs.problems())
    disable = None if progress is None else not progress
    for pair in tqdm(pairs.pairs, desc=f"fuse [{method.name}]", unit="pair", disable=disable, file=sys.stderr):
        out = out_dir / f"{pair.name}.png"
        try:
            info = fuse_file(pair.ir, pair.vi, out, method, overwrite=overwrite, resize=resize, gray=gray, bits=bits)
        except InputError as err:
            result.failed.append((pair.name, str(err)))
            continue
        result.written.append(out)
        result.infos[pair.name] = info
    return result
