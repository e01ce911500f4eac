r"""Colour conversions used by fusion: BT.601 full-range YCbCr, as the fusion field does.

Infrared-visible fusion networks fuse the luminance of the visible image with the infrared
image and re-attach the visible chroma afterwards. The conversion is the full-range ("JPEG")
BT.601 transform on ``[0, 1]`` values (ITU-R BT.601 luma weights; JFIF chroma scaling):

.. math::

    Y  &= 0.299 R + 0.587 G + 0.114 B \\
    Cb &= (B - Y) \cdot 0.564 + 0.5 \\
    Cr &= (R - Y) \cdot 0.713 + 0.5

This is what OpenCV's ``COLOR_RGB2YCrCb`` and kornia's ``rgb_to_ycbcr`` compute (channel order
aside), so tensors converted with kornia in training match arrays converted here.
"""
from __future__ import annotations

import numpy as np

from mmfuse.errors import ShapeError

__all__ = ["rgb_to_ycbcr", "ycbcr_to_rgb", "rgb_to_gray", "replace_luminance"]

_KR, _KG, _KB = 0.299, 0.587, 0.114
_CB, _CR = 0.564, 0.713  # 0.5 / (1 - KB), 0.5 / (1 - KR), rounded as in JFIF / OpenCV


def _check_rgb(img: np.ndarray, name: str = "image") -> None:
    if img.ndim != 3 or img.shape[2] != 3:
        raise ShapeError(f"{name}: expected (H, W, 3) RGB, got shape {img.shape}")


def rgb_to_gray(img: np.ndarray) -> np.ndarray:
    """BT.601 luma ``(H, W, 3) → (H, W)``; float in, float32 out (no rounding)."""
    _check_rgb(img)
    x = img.astype(np.float32, copy=False)
    return (_KR * x[..., 0] + _KG * x[..., 1] + _KB * x[..., 2]).astype(np.float32)


def rgb_to_ycbcr(img: np.ndarray) -> np.ndarray:
    """RGB ``(H, W, 3)`` in ``[0, 1]`` → YCbCr ``(H, W, 3)`` (Y, Cb, Cr), float32."""
    _check_rgb(img)
    x = img.astype(np.float32, copy=False)
    y = _KR * x[..., 0] + _KG * x[..., 1] + _KB * x[..., 2]
    cb = (x[..., 2] - y) * _CB + 0.5
    cr = (x[..., 0] - y) * _CR + 0.5
    return np.stack([y, cb, cr], axis=-1).astype(np.float32)


def ycbcr_to_rgb(img: np.ndarray, *, clip: bool = True) -> np.ndarray:
    """YCbCr ``(H, W, 3)`` → RGB ``(H, W, 3)``, the exact inverse of :func:`rgb_to_ycbcr`."""
    _check_rgb(img, "ycbcr image")
    x = img.astype(np.float32, copy=False)
    y, cb, cr = x[..., 0], x[..., 1] - 0.5, x[..., 2] - 0.5
    r = y + cr / _CR
    b = y + cb / _CB
    g = (y - _KR * r - _KB * b) / _KG
    out = np.stack([r, g, b], axis=-1)
    return np.clip(out, 0.0, 1.0).astype(np.float32) if clip else out.astype(np.float32)


def replace_luminance(rgb: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Replace the luminance of an RGB image by ``y``, keeping its chroma.

    Args:
        rgb: ``(H, W, 3)`` RGB in ``[0, 1]`` (the source of CbCr, e.g. the visible image).
        y: ``(H, W)`` new luminance in ``[0, 1]`` (e.g. the fused image).

    Returns:
        ``(H, W, 3)`` RGB in ``[0, 1]``.
    """
    _check_rgb(rgb)
    if y.shape != rgb.shape[:2]:
        raise ShapeError(f"luminance shape {y.shape} does not match colour image {rgb.shape[:2]}")
    ycc = rgb_to_ycbcr(rgb)
    ycc[..., 0] = y
    return ycbcr_to_rgb(ycc)
