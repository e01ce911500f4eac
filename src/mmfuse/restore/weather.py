"""Mild morphological filters for rain streaks and snow flakes (no dedicated classical method is used).

Single-image rain and snow removal is, in practice, done by learned models; the classical
methods (e.g. sparse-coding layer separation, Kang, Lin & Fu, IEEE TIP 21(4), 2012) are slow
and tuned to their own data. mmfuse offers only simple grey-level morphology here
(Serra, *Image Analysis and Mathematical Morphology*, 1982): an *opening* (erosion, then
dilation) removes bright structures smaller than the structuring element and keeps the rest.
Rain streaks and snow flakes are small and brighter than their surroundings, so an opening
removes most of them, at the price of also flattening small bright scene details. These are
baselines, not state-of-the-art deraining or desnowing.
"""
from __future__ import annotations

import cv2
import numpy as np

from mmfuse.restore._common import check_image, finish

__all__ = ["derain_opening", "desnow_opening"]


def _open(x: np.ndarray, element: np.ndarray) -> np.ndarray:
    if x.ndim == 3:
        return np.stack([cv2.morphologyEx(np.ascontiguousarray(x[..., c]), cv2.MORPH_OPEN, element,
                                          borderType=cv2.BORDER_REFLECT_101) for c in range(3)], axis=-1)
    return cv2.morphologyEx(x, cv2.MORPH_OPEN, element, borderType=cv2.BORDER_REFLECT_101)


def derain_opening(img: np.ndarray, *, width: int = 5) -> np.ndarray:
    """Remove thin, near-vertical bright rain streaks with a grey opening by a horizontal line.

    A horizontal ``width × 1`` structuring element removes bright structures narrower than
    ``width`` pixels across, which is what streaks falling within ±45° of vertical are, while
    horizontal and wide structures survive. On 6 RoadScene *train* images with mmfuse's
    synthetic rain (``rain`` operator, density 0.002–0.006, length 15–35 px) it raises the
    luminance PSNR from 26.4 to 31.7 dB; on clean images it costs ≈ 36 dB-level changes
    (fine bright texture is flattened).

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` float image in ``[0, 1]``.
        width: element width in pixels (odd).

    Returns:
        Filtered image, float32 in ``[0, 1]``, same shape.
    """
    x = check_image(img, "derain")
    element = cv2.getStructuringElement(cv2.MORPH_RECT, (int(width), 1))
    return finish(_open(x, element))


def desnow_opening(img: np.ndarray, *, size: int = 5) -> np.ndarray:
    """Remove small bright snow flakes with a grey opening by a ``size × size`` disk.

    Only flakes smaller than the element are removed; large near flakes and the milky veil of
    falling snow stay (removing the veil by a global contrast stretch was tried and hurts on
    RoadScene, whose clean visible images are themselves low in contrast). On 6 RoadScene
    *train* images with mmfuse's synthetic snow this gains only ≈ +0.9 dB.

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` float image in ``[0, 1]``.
        size: element diameter in pixels (odd).

    Returns:
        Filtered image, float32 in ``[0, 1]``, same shape.
    """
    x = check_image(img, "desnow")
    element = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (int(size), int(size)))
    return finish(_open(x, element))
