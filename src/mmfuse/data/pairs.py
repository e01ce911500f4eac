"""Folder datasets: infrared/visible pairs (with optional clean references) and single images.

Items are plain dicts of numpy arrays in the mmfuse conventions (``float32`` in ``[0, 1]``):

* :class:`PairedFolderDataset` → ``{"name": str, "ir": (H, W), "vis": (H, W, 3)}`` plus, when
  configured, ``"ir_clean": (H, W)``, ``"vis_clean": (H, W, 3)`` and ``"label": int``;
* :class:`ImageFolderDataset` → ``{"name": str, "image": (H, W, 3)}`` (the clean source of the
  synthetic multi-exposure / multi-focus pairs, :mod:`mmfuse.data.synthetic`).

Pairs are matched by file stem with :func:`mmfuse.io.find_pairs` / :func:`mmfuse.io.pair_folders`,
never by sort order. The datasets are small (a few hundred pairs), so decoded images are kept in
memory: 8-bit images as ``uint8`` (exactly the values :func:`mmfuse.io.read_image` returns after
dividing by 255), everything else as ``float32``.
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from mmfuse.errors import InputError
from mmfuse.io import find_modality_dirs, list_images, pair_folders, read_image

__all__ = ["load_split", "PairedFolderDataset", "ImageFolderDataset"]

_U8 = np.float32(255.0)


def load_split(split_file: str | os.PathLike, split: str) -> list[str]:
    """Read the stems of one split from a split file.

    A split file is JSON mapping split names to lists of file stems, e.g.
    ``{"train": ["FLIR_00006", ...], "val": [...], "test": [...]}`` (the format of
    ``../shared/data/ivif/roadscene/split.json``).

    Args:
        split_file: path of the JSON file.
        split: name of the split to read.

    Returns:
        The stems of ``split``, in file order.

    Raises:
        InputError: the file is missing, not valid JSON, has no split ``split`` or the split is
            not a list of strings.
    """
    p = Path(split_file)
    if not p.is_file():
        raise InputError(f"{p}: split file not found")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{p}: cannot read split file ({str(err).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise InputError(f"{p}: split file must map split names to lists of names")
    if split not in data:
        raise InputError(f"{p}: no split {split!r} (splits in file: {', '.join(sorted(map(str, data)))})")
    names = data[split]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InputError(f"{p}: split {split!r} must be a list of file names (stems)")
    return list(names)


def _compact(img: np.ndarray) -> np.ndarray:
    """Store an image as ``uint8`` when that is lossless for ``img / 255``, else unchanged."""
    q = np.round(img * _U8)
    if q.min() >= 0 and q.max() <= 255 and np.array_equal(q.astype(np.float32) / _U8, img):
        return q.astype(np.uint8)
    return img


def _expand(img: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_compact`: a fresh ``float32`` array in ``[0, 1]``."""
    if img.dtype == np.uint8:
        return img.astype(np.float32) / _U8
    return img.copy()


class _CachedImages:
    """Decode-once image store shared by the folder datasets."""

    def __init__(self, cache: bool) -> None:
        self.cache = cache
        self._store: dict[tuple[str, str], np.ndarray] = {}

    def get(self, path: Path, mode: str) -> np.ndarray:
        key = (str(path), mode)
        if not self.cache:
            return read_image(path, mode)  # type: ignore[arg-type]
        if key not in self._store:
            self._store[key] = _compact(read_image(path, mode))  # type: ignore[arg-type]
        return _expand(self._store[key])


class PairedFolderDataset(Dataset):
    """Infrared/visible pairs from a folder, optionally with clean references and labels.

    The folder layout is ``root/<ir>/`` + ``root/<vis>/`` with images matched by stem; the
    sub-folder names are found automatically (``ir``/``vi``, ``infrared``/``visible``, ... see
    :data:`mmfuse.io.MODALITY_FOLDERS`) unless given. Clean references (for degraded inputs,
    e.g. ``../shared/data/degraded/drmf-lowlight`` with ``ir_degraded``/``vi_degraded`` as
    inputs and ``ir``/``vi`` as references) are matched by the same stem.

    Args:
        root: dataset folder.
        ir_dir: infrared sub-folder of ``root`` (default: detected).
        vis_dir: visible sub-folder of ``root`` (default: detected).
        ir_clean_dir: sub-folder of clean infrared references, or ``None``.
        vis_clean_dir: sub-folder of clean visible references, or ``None``.
        split_file: JSON split file (see :func:`load_split`), or ``None`` for every pair.
        split: split to use from ``split_file``.
        label: integer label given to every item (e.g. a degradation class), or ``None``.
        cache: keep decoded images in memory (decoded on first use, or all at once with
            :meth:`preload`).

    Items:
        ``{"name": str, "ir": (H, W) float32, "vis": (H, W, 3) float32}`` in ``[0, 1]``, plus
        ``"ir_clean"``, ``"vis_clean"`` and ``"label"`` when configured. Gray visible images are
        replicated to three channels; colour infrared images are converted to BT.601 luma.

    Raises:
        InputError: missing folders, no pairs, split names without a pair, or a clean reference
            missing for a pair.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        ir_dir: str | None = None,
        vis_dir: str | None = None,
        ir_clean_dir: str | None = None,
        vis_clean_dir: str | None = None,
        split_file: str | os.PathLike | None = None,
        split: str | None = None,
        label: int | None = None,
        cache: bool = True,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(f"{self.root}: dataset folder not found")
        if (ir_dir is None) != (vis_dir is None):
            raise InputError(f"{self.root}: give both ir_dir and vis_dir, or neither")
        if ir_dir is None:
            ir_path, vis_path = find_modality_dirs(self.root)
        else:
            ir_path, vis_path = self.root / ir_dir, self.root / str(vis_dir)
        pairset = pair_folders(ir_path, vis_path)
        pairs = {p.name: p for p in pairset.pairs}
        if split_file is not None:
            wanted = load_split(split_file, split or "train")
            missing = [n for n in wanted if n not in pairs]
            if missing:
                more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
                raise InputError(
                    f"{split_file}: split {split or 'train'!r} names {len(missing)} images without an "
                    f"infrared/visible pair in {self.root} (e.g. {', '.join(missing[:3])}{more})"
                )
            names = wanted
        else:
            names = sorted(pairs)
        if not names:
            raise InputError(f"{self.root}: no infrared/visible pairs found")
        self.names: list[str] = names
        self._ir = [pairs[n].ir for n in names]
        self._vis = [pairs[n].vi for n in names]
        self._ir_clean = self._references(ir_clean_dir, "infrared")
        self._vis_clean = self._references(vis_clean_dir, "visible")
        self.label = label
        self._images = _CachedImages(cache)

    def _references(self, sub: str | None, what: str) -> list[Path] | None:
        if sub is None:
            return None
        folder = self.root / sub
        if not folder.is_dir():
            raise InputError(f"{folder}: clean {what} folder not found")
        by_stem: dict[str, Path] = {}
        for f in list_images(folder):
            by_stem.setdefault(f.stem, f)
        missing = [n for n in self.names if n not in by_stem]
        if missing:
            raise InputError(f"{folder}: no clean {what} reference for {missing[0]!r} ({len(missing)} missing)")
        return [by_stem[n] for n in self.names]

    def __len__(self) -> int:
        return len(self.names)

    def preload(self) -> PairedFolderDataset:
        """Decode every image now (so that errors surface before training); returns ``self``."""
        for i in range(len(self)):
            self[i]
        return self

    def __getitem__(self, index: int) -> dict[str, Any]:
        item: dict[str, Any] = {
            "name": self.names[index],
            "ir": self._images.get(self._ir[index], "gray"),
            "vis": self._images.get(self._vis[index], "rgb"),
        }
        if self._ir_clean is not None:
            item["ir_clean"] = self._images.get(self._ir_clean[index], "gray")
        if self._vis_clean is not None:
            item["vis_clean"] = self._images.get(self._vis_clean[index], "rgb")
        if self.label is not None:
            item["label"] = int(self.label)
        shapes = {k: v.shape[:2] for k, v in item.items() if isinstance(v, np.ndarray)}
        if len(set(shapes.values())) > 1:
            detail = ", ".join(f"{k} {w}x{h}" for k, (h, w) in shapes.items())
            raise InputError(f"{self.root}: images of {self.names[index]!r} differ in size ({detail})")
        return item


class ImageFolderDataset(Dataset):
    """Single RGB images from a folder (the sources of synthetic pairs).

    Args:
        root: folder of images (not searched recursively).
        names: restrict to these stems (e.g. from a split file), in this order.
        cache: keep decoded images in memory.

    Items:
        ``{"name": str, "image": (H, W, 3) float32}`` in ``[0, 1]`` (gray images replicated).

    Raises:
        InputError: the folder is missing, holds no image or lacks a requested stem.
    """

    def __init__(self, root: str | os.PathLike, *, names: Sequence[str] | None = None, cache: bool = True) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(f"{self.root}: image folder not found")
        files = {f.stem: f for f in list_images(self.root)}
        if names is None:
            names = sorted(files)
        missing = [n for n in names if n not in files]
        if missing:
            raise InputError(f"{self.root}: no image named {missing[0]!r} ({len(missing)} missing)")
        if not names:
            raise InputError(f"{self.root}: no images found")
        self.names = list(names)
        self._files = [files[n] for n in self.names]
        self._images = _CachedImages(cache)

    def __len__(self) -> int:
        return len(self.names)

    def preload(self) -> ImageFolderDataset:
        """Decode every image now; returns ``self``."""
        for i in range(len(self)):
            self[i]
        return self

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"name": self.names[index], "image": self._images.get(self._files[index], "rgb")}
