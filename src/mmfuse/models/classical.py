"""Classical (training-free) fusion baselines on luminance.

Functional core (``fuse_average``, ``fuse_max``, ``fuse_laplacian``, ``fuse_gff``) on
``(H, W)`` float arrays in ``[0, 1]``, plus thin registered :class:`FusionMethod` wrappers.
"""
from __future__ import annotations

from typing import Any, Callable

import cv2
import numpy as np

from mmfuse.models.base import FusionMethod
from mmfuse.models.registry import register_method

__all__ = ["fuse_average", "fuse_max", "fuse_laplacian", "fuse_gff", "guided_filter"]

_BORDER = cv2.BORDER_REFLECT_101


def _check(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"expected two (H, W) arrays of equal shape, got {a.shape} and {b.shape}")
    return a.astype(np.float32, copy=False), b.astype(np.float32, copy=False)


def fuse_average(ir: np.ndarray, vis: np.ndarray) -> np.ndarray:
    """Pixel-wise mean: ``F = (A + B) / 2``. Shapes ``(H, W)``, values ``[0, 1]``."""
    a, b = _check(ir, vis)
    return 0.5 * (a + b)


def fuse_max(ir: np.ndarray, vis: np.ndarray) -> np.ndarray:
    """Choose-max: ``F = max(A, B)`` pixel-wise. Shapes ``(H, W)``, values ``[0, 1]``."""
    a, b = _check(ir, vis)
    return np.maximum(a, b)


def _laplacian_pyramid(img: np.ndarray, levels: int) -> list[np.ndarray]:
    pyr, cur = [], img
    for _ in range(levels):
        down = cv2.pyrDown(cur, borderType=_BORDER)
        up = cv2.pyrUp(down, dstsize=(cur.shape[1], cur.shape[0]), borderType=_BORDER)
        pyr.append(cur - up)
        cur = down
    pyr.append(cur)
    return pyr


def fuse_laplacian(ir: np.ndarray, vis: np.ndarray, *, levels: int = 4) -> np.ndarray:
    """Laplacian-pyramid fusion (Burt & Adelson, IEEE Trans. Commun. 1983; Burt & Kolczynski, ICCV 1993).

    Both images are decomposed into Laplacian pyramids (OpenCV ``pyrDown``/``pyrUp``, 5×5
    binomial kernel). Detail levels take, per pixel, the coefficient of larger magnitude
    (choose-max-abs); the low-pass residual is averaged; the fused pyramid is collapsed.

    Args:
        ir, vis: ``(H, W)`` arrays in ``[0, 1]``.
        levels: number of detail levels (reduced automatically for small images so that the
            coarsest level keeps at least 2 pixels per side).

    Returns:
        ``(H, W)`` float32, clipped to ``[0, 1]``.
    """
    a, b = _check(ir, vis)
    n = int(levels)
    while n > 0 and min(a.shape) >> n < 2:
        n -= 1
    pa, pb = _laplacian_pyramid(a, n), _laplacian_pyramid(b, n)
    fused = [np.where(np.abs(da) >= np.abs(db), da, db) for da, db in zip(pa[:-1], pb[:-1])]
    cur = 0.5 * (pa[-1] + pb[-1])
    for detail in reversed(fused):
        cur = cv2.pyrUp(cur, dstsize=(detail.shape[1], detail.shape[0]), borderType=_BORDER) + detail
    return np.clip(cur, 0.0, 1.0).astype(np.float32)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Gray-guide guided filter (He, Sun & Tang, ECCV 2010 / TPAMI 2013), box-filter form.

    ``q = mean(a) * I + mean(b)`` with ``a = cov(I, p) / (var(I) + eps)``, ``b = mean(p) − a·mean(I)``,
    means over ``(2r+1)²`` windows (OpenCV ``boxFilter``, normalised, reflect-101 border).

    Args:
        guide: ``(H, W)`` guidance image ``I``.
        src: ``(H, W)`` image ``p`` to filter.
        radius: window radius ``r``.
        eps: regularisation ``ε`` (on the ``[0, 1]`` intensity scale).
    """
    ksize = (2 * radius + 1, 2 * radius + 1)
    i = guide.astype(np.float64)
    p = src.astype(np.float64)

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, ksize, normalize=True, borderType=_BORDER)

    mi, mp = box(i), box(p)
    var_i = box(i * i) - mi * mi
    cov_ip = box(i * p) - mi * mp
    a = cov_ip / (var_i + eps)
    b = mp - a * mi
    return box(a) * i + box(b)


def fuse_gff(
    ir: np.ndarray,
    vis: np.ndarray,
    *,
    r1: int = 45,
    eps1: float = 0.3,
    r2: int = 7,
    eps2: float = 1e-6,
    avg_size: int = 31,
    gauss_radius: int = 5,
    gauss_sigma: float = 5.0,
) -> np.ndarray:
    """Guided-filtering-based fusion (GFF): S. Li, X. Kang, J. Hu, "Image Fusion With Guided
    Filtering", IEEE TIP 22(7):2864–2875, 2013, doi:10.1109/TIP.2013.2244222.

    1. Two-scale decomposition: base ``B_n = I_n * Z`` (``avg_size``² mean filter), detail
       ``D_n = I_n − B_n``.
    2. Saliency ``S_n = |I_n * L| * g`` (3×3 Laplacian, Gaussian of size ``(2 r_g + 1)²``, σ_g).
    3. Binary weight maps ``P_n = [S_n = max_k S_k]``.
    4. Guided-filter refinement with the source as guide: ``W^B_n = GF(P_n, I_n; r1, ε1)``,
       ``W^D_n = GF(P_n, I_n; r2, ε2)``, normalised to sum to one per pixel.
    5. ``F = Σ W^B_n B_n + Σ W^D_n D_n``.

    Defaults are the paper's (r1 = 45, ε1 = 0.3, r2 = 7, ε2 = 1e-6, 31×31 mean filter,
    r_g = σ_g = 5). Borders use reflect-101 padding.

    Args:
        ir, vis: ``(H, W)`` arrays in ``[0, 1]``.

    Returns:
        ``(H, W)`` float32, clipped to ``[0, 1]``.
    """
    srcs = [x.astype(np.float64) for x in _check(ir, vis)]
    bases = [cv2.blur(x, (avg_size, avg_size), borderType=_BORDER) for x in srcs]
    details = [x - bx for x, bx in zip(srcs, bases)]
    lap = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float64)
    gk = 2 * gauss_radius + 1
    sal = [
        cv2.GaussianBlur(np.abs(cv2.filter2D(x, -1, lap, borderType=_BORDER)), (gk, gk), gauss_sigma, borderType=_BORDER)
        for x in srcs
    ]
    smax = np.maximum(sal[0], sal[1])
    masks = [(s == smax).astype(np.float64) for s in sal]
    wb = [guided_filter(x, m, r1, eps1) for x, m in zip(srcs, masks)]
    wd = [guided_filter(x, m, r2, eps2) for x, m in zip(srcs, masks)]

    def normalise(ws: list[np.ndarray]) -> list[np.ndarray]:
        # The refined maps can be slightly negative; clip, then normalise (equal weights where both vanish).
        ws = [np.clip(w, 0.0, None) for w in ws]
        total = ws[0] + ws[1]
        safe = total > 1e-12
        return [np.where(safe, w / np.where(safe, total, 1.0), 0.5) for w in ws]

    wb, wd = normalise(wb), normalise(wd)
    fused = wb[0] * bases[0] + wb[1] * bases[1] + wd[0] * details[0] + wd[1] * details[1]
    return np.clip(fused, 0.0, 1.0).astype(np.float32)


class _FunctionalMethod(FusionMethod):
    """A classical method defined by a luminance fusion function."""

    kind = "classical"
    output = "y"

    def __init__(self, name: str, fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
        self.name = name
        self._fn = fn

    def fuse_y(self, ir: np.ndarray, vis_y: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        return self._fn(ir, vis_y), {}


def _classical(name: str, fn: Callable[[np.ndarray, np.ndarray], np.ndarray], description: str, paper: str | None = None) -> None:
    def factory(device: str = "cpu") -> FusionMethod:
        return _FunctionalMethod(name, fn)

    register_method(name, kind="classical", description=description, paper=paper)(factory)


_classical("average", fuse_average, "pixel-wise mean of IR and visible luminance")
_classical("max", fuse_max, "pixel-wise choose-max of IR and visible luminance")
_classical(
    "laplacian",
    fuse_laplacian,
    "Laplacian-pyramid fusion (4 levels, choose-max-abs details, averaged base)",
    "Burt & Adelson, IEEE Trans. Commun. 1983",
)
_classical(
    "gff",
    fuse_gff,
    "guided-filtering fusion (two-scale, saliency weights refined by guided filters)",
    "Li, Kang & Hu, IEEE TIP 2013",
)
