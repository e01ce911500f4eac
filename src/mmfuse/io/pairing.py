"""Pairing infrared and visible files by file stem (never by sort order)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from mmfuse.errors import InputError
from mmfuse.io.image import IMAGE_EXTENSIONS

__all__ = ["Pair", "PairSet", "MODALITY_FOLDERS", "find_modality_dirs", "list_images", "pair_folders", "find_pairs"]

MODALITY_FOLDERS: tuple[tuple[str, str], ...] = (
    ("ir", "vi"),
    ("ir", "vis"),
    ("infrared", "visible"),
    ("ir", "visible"),
    ("infrared", "vi"),
    ("thermal", "visible"),
    ("thermal", "rgb"),
    ("ir", "rgb"),
)
"""Accepted (infrared, visible) folder-name pairs, matched case-insensitively, in priority order."""


@dataclass(frozen=True)
class Pair:
    """One infrared/visible pair matched by file stem."""

    name: str
    ir: Path
    vi: Path


@dataclass
class PairSet:
    """Result of pairing two folders.

    Attributes:
        pairs: matched pairs, sorted by name.
        unmatched_ir: infrared files with no visible partner.
        unmatched_vi: visible files with no infrared partner.
        ambiguous: stems that occur more than once in one folder (e.g. ``a.png`` and ``a.jpg``);
            they are not paired.
    """

    ir_dir: Path
    vi_dir: Path
    pairs: list[Pair] = field(default_factory=list)
    unmatched_ir: list[Path] = field(default_factory=list)
    unmatched_vi: list[Path] = field(default_factory=list)
    ambiguous: list[Path] = field(default_factory=list)

    def problems(self) -> list[str]:
        """One line per file that could not be paired."""
        lines = [f"{p}: no visible image with the same name in {self.vi_dir}" for p in self.unmatched_ir]
        lines += [f"{p}: no infrared image with the same name in {self.ir_dir}" for p in self.unmatched_vi]
        lines += [f"{p}: several files share this name; rename them" for p in self.ambiguous]
        return lines

    def __len__(self) -> int:
        return len(self.pairs)


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files (by extension, case-insensitive) directly inside ``folder``, sorted by name."""
    d = Path(folder)
    return sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _by_stem(files: list[Path]) -> tuple[dict[str, Path], list[Path]]:
    seen: dict[str, list[Path]] = {}
    for f in files:
        seen.setdefault(f.stem, []).append(f)
    unique = {k: v[0] for k, v in seen.items() if len(v) == 1}
    dup = [p for v in seen.values() if len(v) > 1 for p in v]
    return unique, dup


def pair_folders(ir_dir: str | os.PathLike, vi_dir: str | os.PathLike) -> PairSet:
    """Pair the images of two folders by file stem; extensions may differ (``a.png`` ↔ ``a.jpg``).

    Raises:
        InputError: a folder is missing.
    """
    ir_dir, vi_dir = Path(ir_dir), Path(vi_dir)
    for d in (ir_dir, vi_dir):
        if not d.is_dir():
            raise InputError(f"{d}: folder not found")
    ir_files, ir_dup = _by_stem(list_images(ir_dir))
    vi_files, vi_dup = _by_stem(list_images(vi_dir))
    names = sorted(set(ir_files) & set(vi_files))
    return PairSet(
        ir_dir=ir_dir,
        vi_dir=vi_dir,
        pairs=[Pair(n, ir_files[n], vi_files[n]) for n in names],
        unmatched_ir=[ir_files[n] for n in sorted(set(ir_files) - set(vi_files))],
        unmatched_vi=[vi_files[n] for n in sorted(set(vi_files) - set(ir_files))],
        ambiguous=ir_dup + vi_dup,
    )


def find_modality_dirs(root: str | os.PathLike) -> tuple[Path, Path]:
    """Find the infrared and visible sub-folders of ``root`` (see :data:`MODALITY_FOLDERS`).

    Raises:
        InputError: ``root`` is missing or has no recognised pair of sub-folders.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: folder not found")
    subdirs = {p.name.lower(): p for p in root.iterdir() if p.is_dir()}
    for ir_name, vi_name in MODALITY_FOLDERS:
        if ir_name in subdirs and vi_name in subdirs:
            return subdirs[ir_name], subdirs[vi_name]
    accepted = ", ".join(f"{a}/+{b}/" for a, b in MODALITY_FOLDERS[:3])
    raise InputError(f"{root}: no infrared/visible sub-folders found (expected e.g. {accepted})")


def find_pairs(root: str | os.PathLike) -> PairSet:
    """Pair the images under ``root``'s infrared and visible sub-folders by file stem.

    Raises:
        InputError: no modality folders, or no pair at all (empty input).
    """
    ir_dir, vi_dir = find_modality_dirs(root)
    ps = pair_folders(ir_dir, vi_dir)
    if not ps.pairs:
        detail = "folders are empty" if not (ps.unmatched_ir or ps.unmatched_vi) else "no file names match"
        raise InputError(f"{root}: no infrared/visible pairs found ({detail})")
    return ps
