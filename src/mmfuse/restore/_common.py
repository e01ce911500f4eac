"""Shared helpers of the classical restorers: input checks, 8-bit conversion, luminance."""
from __future__ import annotations

import numpy as np

from mmfuse.errors import InputError, ShapeError

__all__ = ["check_image", "to_uint8", "from_uint8", "luminance", "finish"]


def check_image(img: np.ndarray, who: str) -> np.ndarray:
    """Validate a restorer input and return it as float32.

    Args:
        img: ``(H, W)`` gray or ``(H, W, 3)`` RGB image, floats in ``[0, 1]``.
        who: name of the calling restorer, used in error messages.

    Returns:
        ``img`` as float32 (no copy when already float32).

    Raises:
        ShapeError: not ``(H, W)`` / ``(H, W, 3)``, or smaller than 2×2.
        InputError: non-finite values.
    """
    a = np.asarray(img)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3):
        raise ShapeError(f"{who}: expected an (H, W) gray or (H, W, 3) RGB image, got shape {a.shape}")
    if min(a.shape[:2]) < 2:
        raise ShapeError(f"{who}: image of shape {a.shape} is too small (need at least 2x2)")
    a = a.astype(np.float32, copy=False)
    if not np.all(np.isfinite(a)):
        raise InputError(f"{who}: image contains NaN or infinite values")
    return a


def to_uint8(img: np.ndarray) -> np.ndarray:
    """``[0, 1]`` floats → ``uint8`` (rounded, clipped)."""
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


def from_uint8(img: np.ndarray) -> np.ndarray:
    """``uint8`` → float32 in ``[0, 1]``."""
    return img.astype(np.float32) / np.float32(255.0)


def luminance(img: np.ndarray) -> np.ndarray:
    """BT.601 luma ``0.299 R + 0.587 G + 0.114 B`` of an RGB image; gray images are returned as is."""
    if img.ndim == 2:
        return img
    return (img @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).astype(np.float32)


def finish(img: np.ndarray) -> np.ndarray:
    """Clip to ``[0, 1]`` and return float32."""
    return np.clip(img, 0.0, 1.0).astype(np.float32)
