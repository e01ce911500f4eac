"""Haze removal with the dark channel prior, transmission refined by a guided filter.

References:
    K. He, J. Sun, X. Tang, "Single Image Haze Removal Using Dark Channel Prior", CVPR 2009;
    IEEE TPAMI 33(12):2341–2353, 2011, doi:10.1109/TPAMI.2010.168.
    K. He, J. Sun, X. Tang, "Guided Image Filtering", ECCV 2010; IEEE TPAMI 35(6):1397–1409,
    2013, doi:10.1109/TPAMI.2012.213 (guided-filter refinement of the transmission, replacing
    the soft matting of the 2009 paper).
"""
from __future__ import annotations

import cv2
import numpy as np

from mmfuse.models.classical import guided_filter
from mmfuse.restore._common import check_image, finish, luminance

__all__ = ["dark_channel", "estimate_airlight", "estimate_transmission", "dehaze_dcp"]


def dark_channel(img: np.ndarray, patch: int = 15) -> np.ndarray:
    """Dark channel ``min_{y ∈ Ω(x)} min_c I^c(y)`` over a ``patch × patch`` square window.

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` float image in ``[0, 1]`` (a gray image is its own
            channel minimum).
        patch: window side in pixels (odd; He et al. use 15).

    Returns:
        ``(H, W)`` float32 in ``[0, 1]``.
    """
    x = check_image(img, "dark_channel")
    m = x if x.ndim == 2 else x.min(axis=2)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (patch, patch))
    return cv2.erode(m, kernel, borderType=cv2.BORDER_REFLECT_101)


def estimate_airlight(img: np.ndarray, dark: np.ndarray, top: float = 0.001) -> np.ndarray:
    """Atmospheric light ``A``: mean colour of the input at the brightest ``top`` fraction of the dark channel.

    He et al. pick the brightest input pixel among the 0.1 % haziest (largest dark-channel)
    pixels; averaging over them instead is the usual, less noise-sensitive variant.
    Pixels tied with the last one at the cut are all included, so that ``A`` does not depend on
    how a selection routine orders equal values (``np.argpartition`` does not promise an order
    and its result for ties can change between NumPy builds).

    Returns:
        ``(3,)`` for RGB input or ``(1,)`` for gray, float32 in ``(0, 1]``.
    """
    x = check_image(img, "estimate_airlight")
    flat = dark.reshape(-1)
    n = max(1, int(round(top * flat.size)))
    cut = np.partition(flat, flat.size - n)[flat.size - n]  # the n-th largest value
    pixels = x.reshape(flat.size, -1)[flat >= cut]
    return np.maximum(pixels.mean(axis=0), 1e-3).astype(np.float32)


def estimate_transmission(
    img: np.ndarray,
    airlight: np.ndarray,
    *,
    omega: float = 0.95,
    patch: int = 15,
    radius: int | None = None,
    eps: float = 1e-3,
) -> np.ndarray:
    """Transmission ``t = 1 − ω · dark(I / A)``, refined by a guided filter on the luminance.

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` float image in ``[0, 1]``.
        airlight: ``(C,)`` atmospheric light from :func:`estimate_airlight`.
        omega: fraction of haze removed (He et al.: 0.95, keeping a little haze for depth cues).
        patch: dark-channel window.
        radius: guided-filter radius (default ``min(H, W) // 8``, ≥ 8: He et al. use r = 60 on
            ~600 × 400 images, i.e. a large window relative to the image).
        eps: guided-filter regularisation (He et al.: 1e-3 … 1e-4 on ``[0, 1]`` data).

    Returns:
        ``(H, W)`` float32 transmission in ``[0, 1]``.
    """
    x = check_image(img, "estimate_transmission")
    normed = x / (airlight if x.ndim == 3 else airlight[0])
    raw = 1.0 - omega * dark_channel(np.clip(normed, 0.0, 1.0), patch)
    if radius is None:
        radius = max(8, min(x.shape[:2]) // 8)
    refined = guided_filter(luminance(x), raw, radius, eps)
    return np.clip(refined, 0.0, 1.0).astype(np.float32)


def dehaze_dcp(
    img: np.ndarray,
    *,
    omega: float = 0.95,
    patch: int = 15,
    t_min: float = 0.1,
    radius: int | None = None,
    eps: float = 1e-3,
) -> np.ndarray:
    """Remove haze with the dark channel prior (He et al. 2009/2011) and guided-filter refinement.

    Model: ``I = J t + A (1 − t)``. Steps: dark channel of ``I`` (15 × 15 window), atmospheric
    light ``A`` from its brightest 0.1 %, raw transmission ``1 − ω · dark(I / A)``, guided-filter
    refinement with the luminance of ``I`` as guide, then ``J = (I − A) / max(t, t_min) + A``.
    Gray images are handled as one-channel images (the prior is weaker there).

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` float image in ``[0, 1]``.
        omega, patch, radius, eps: see :func:`estimate_transmission`.
        t_min: lower bound of the transmission (He et al.: 0.1), limiting noise amplification.

    Returns:
        Dehazed image, float32 in ``[0, 1]``, same shape.
    """
    x = check_image(img, "dehaze")
    dark = dark_channel(x, patch)
    a = estimate_airlight(x, dark)
    t = estimate_transmission(x, a, omega=omega, patch=patch, radius=radius, eps=eps)
    t = np.maximum(t, t_min)
    if x.ndim == 3:
        out = (x - a) / t[..., None] + a
    else:
        out = (x - a[0]) / t + a[0]
    return finish(out)
