"""Joint spatial transforms of dataset items (every image of an item moves together).

An *item* is a dict whose ``numpy`` values are images ``(H, W)`` or ``(H, W, C)`` of one common
size; other values (names, labels) pass through unchanged. Randomness is drawn from a generator
seeded by ``(seed, epoch, index)``, so an item's crop does not depend on worker processes, batch
composition or how often training was interrupted and resumed (:mod:`mmfuse.data.loader`).
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from torch.utils.data import Dataset

from mmfuse.errors import InputError

__all__ = ["pad_to_size", "crop_item", "center_crop_item", "flip_item", "item_rng", "EpochSeededWrapper", "RandomCropFlip"]

_CROP_SALT = 0x43524F50  # distinguishes the crop stream from other seeded streams of an item


def item_rng(seed: int, salt: int, epoch: int, index: int) -> np.random.Generator:
    """The random generator of one item in one epoch for one kind of transform.

    Args:
        seed: run seed.
        salt: a constant per transform kind, so crops and degradations draw independent numbers.
        epoch: pass over the dataset (0, 1, ...).
        index: item index in the dataset.
    """
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(salt) & 0xFFFFFFFF, int(epoch), int(index)])


def _images(item: dict[str, Any]) -> dict[str, np.ndarray]:
    return {k: v for k, v in item.items() if isinstance(v, np.ndarray) and v.ndim in (2, 3)}


def _common_size(item: dict[str, Any]) -> tuple[int, int]:
    sizes = {v.shape[:2] for v in _images(item).values()}
    if len(sizes) != 1:
        name = item.get("name", "?")
        raise InputError(f"{name}: the images of one item differ in size ({sorted(sizes)})")
    return sizes.pop()


def pad_to_size(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Mirror-pad an ``(H, W)`` or ``(H, W, C)`` image at the bottom/right to at least ``height × width``.

    Uses OpenCV's ``BORDER_REFLECT_101`` (mirror without repeating the edge), which also handles
    pads larger than the image by repeated reflection. Images already large enough are returned
    unchanged.
    """
    h, w = img.shape[:2]
    ph, pw = max(height - h, 0), max(width - w, 0)
    if not ph and not pw:
        return img
    border = cv2.BORDER_REFLECT_101 if min(h, w) > 1 else cv2.BORDER_REPLICATE
    out = cv2.copyMakeBorder(np.ascontiguousarray(img), 0, ph, 0, pw, border)
    if img.ndim == 3 and out.ndim == 2:  # OpenCV drops a single channel axis
        out = out[..., None]
    return out


def crop_item(item: dict[str, Any], top: int, left: int, height: int, width: int) -> dict[str, Any]:
    """Crop every image of ``item`` to the same window (padding first if the item is smaller)."""
    out = dict(item)
    for k, v in _images(item).items():
        v = pad_to_size(v, top + height, left + width)
        out[k] = np.ascontiguousarray(v[top : top + height, left : left + width])
    return out


def center_crop_item(item: dict[str, Any], size: int) -> dict[str, Any]:
    """Crop the central ``size × size`` window of every image (padded if smaller)."""
    h, w = _common_size(item)
    return crop_item(item, max((h - size) // 2, 0), max((w - size) // 2, 0), size, size)


def flip_item(item: dict[str, Any], horizontal: bool, vertical: bool, rot90: int = 0) -> dict[str, Any]:
    """Flip (and rotate by ``rot90`` quarter turns) every image of ``item`` identically."""
    out = dict(item)
    for k, v in _images(item).items():
        if horizontal:
            v = v[:, ::-1]
        if vertical:
            v = v[::-1]
        if rot90:
            v = np.rot90(v, rot90, axes=(0, 1))
        out[k] = np.ascontiguousarray(v)
    return out


class EpochSeededWrapper(Dataset):
    """Base of dataset wrappers whose randomness depends only on ``(seed, epoch, index)``.

    Subclasses draw the random numbers of item ``i`` with :meth:`rng` (:func:`item_rng` with
    their own ``salt``), so results do not depend on worker processes, ranks or reading order;
    call :meth:`set_epoch` before reading an epoch.

    Args:
        dataset: the wrapped dataset.
        seed: run seed.
    """

    def __init__(self, dataset: Dataset, seed: int = 0) -> None:
        self.dataset = dataset
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the random numbers of pass ``epoch`` over the dataset."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def rng(self, salt: int, index: int) -> np.random.Generator:
        """The generator of item ``index`` in the current epoch for stream ``salt``."""
        return item_rng(self.seed, salt, self.epoch, index)


class RandomCropFlip(EpochSeededWrapper):
    """Random ``crop_size`` crops plus optional flips / quarter turns, the same for every image of an item.

    Items smaller than the crop are mirror-padded (:func:`pad_to_size`). The random numbers of
    item ``i`` in epoch ``e`` come from :func:`item_rng` ``(seed, ·, e, i)``; call
    :meth:`set_epoch` before reading an epoch (the sample stream of :mod:`mmfuse.data.loader`
    does this).

    Args:
        dataset: dataset of items (dicts of same-size images).
        crop_size: side of the square crop in pixels, or ``None`` for no cropping.
        flip: random horizontal and vertical flips (each with probability 1/2).
        rot90: random rotation by 0, 1, 2 or 3 quarter turns (square crops only).
        seed: run seed.
    """

    def __init__(self, dataset: Dataset, crop_size: int | None, *, flip: bool = True, rot90: bool = False, seed: int = 0) -> None:
        if crop_size is not None and crop_size < 1:
            raise InputError(f"crop size must be a positive number of pixels, got {crop_size}")
        if rot90 and crop_size is None:
            raise InputError("rot90 needs square crops (set a crop size)")
        super().__init__(dataset, seed)
        self.crop_size = crop_size
        self.flip = flip
        self.rot90 = rot90

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.dataset[index]
        rng = self.rng(_CROP_SALT, index)
        if self.crop_size is not None:
            h, w = _common_size(item)
            c = self.crop_size
            top = int(rng.integers(0, max(h - c, 0) + 1))
            left = int(rng.integers(0, max(w - c, 0) + 1))
            item = crop_item(item, top, left, c, c)
        if self.flip or self.rot90:
            hf, vf = (bool(b) for b in rng.integers(0, 2, size=2))
            turns = int(rng.integers(0, 4)) if self.rot90 else 0
            item = flip_item(item, hf and self.flip, vf and self.flip, turns)
        return item
