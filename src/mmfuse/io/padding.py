"""Any size in, same size out: pad to a model's required multiple, crop back afterwards."""
from __future__ import annotations

import numpy as np

__all__ = ["pad_to_multiple", "crop_to"]


def pad_to_multiple(img: np.ndarray, multiple: int, *, min_size: int = 1) -> tuple[np.ndarray, tuple[int, int]]:
    """Pad the bottom/right of an ``(H, W)`` or ``(H, W, C)`` array to multiples of ``multiple``,
    each side also to at least ``min_size`` (for networks that need a minimum input size).

    Reflect padding (mirror without repeating the edge pixel) is used, as restoration models
    expect; where the image is too small to reflect (a side shorter than the padding needs),
    symmetric padding is applied repeatedly.

    Returns:
        The padded array and the original ``(H, W)`` for :func:`crop_to`.
    """
    h, w = img.shape[:2]
    m = max(int(multiple), 1)
    th, tw = max(h, int(min_size)), max(w, int(min_size))
    ph, pw = th - h + (-th) % m, tw - w + (-tw) % m
    out = img
    while ph or pw:
        # np.pad's reflect mode needs side > pad; pad in steps no larger than the current size - 1
        # (or use symmetric for 1-pixel sides).
        sh = min(ph, max(out.shape[0] - 1, 0)) if out.shape[0] > 1 else ph
        sw = min(pw, max(out.shape[1] - 1, 0)) if out.shape[1] > 1 else pw
        mode = "reflect" if out.shape[0] > 1 and out.shape[1] > 1 else "symmetric"
        widths = [(0, sh), (0, sw)] + [(0, 0)] * (out.ndim - 2)
        out = np.pad(out, widths, mode=mode)
        ph, pw = ph - sh, pw - sw
    return out, (h, w)


def crop_to(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Crop the top-left ``size = (H, W)`` of an array padded by :func:`pad_to_multiple`."""
    h, w = size
    return img[:h, :w]
