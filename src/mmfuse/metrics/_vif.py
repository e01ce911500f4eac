"""Visual information fidelity (Sheikh & Bovik, pixel-domain multi-scale), summed over sources."""
from __future__ import annotations

from typing import Literal

import numpy as np

from mmfuse.errors import InputError, ShapeError
from mmfuse.metrics._common import as_grey, cached, check_same_shape, gaussian_1d, sep_filter

__all__ = ["VIF", "vifp"]

_EPS = 1e-10


_Pyramid = list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]


def _pyramid(img: np.ndarray) -> _Pyramid:
    """Per scale: (window, image at that scale, local mean, local variance clipped at 0)."""
    out = []
    for scale in range(1, 5):
        n = 2 ** (4 - scale + 1) + 1
        win = gaussian_1d(n, n / 5.0)
        if scale > 1:
            img = sep_filter(img, win, shape="valid")[::2, ::2]
        if min(img.shape) < n:
            raise ShapeError(f"VIF needs larger images: scale {scale} is {img.shape}, window {n}x{n}")
        mu = sep_filter(img, win, shape="valid")
        var = np.maximum(sep_filter(img * img, win, shape="valid") - mu * mu, 0.0)
        out.append((win, img, mu, var))
    return out


def _vifp_from(ref: _Pyramid, dist: _Pyramid, sigma_nsq: float) -> float:
    num = 0.0
    den = 0.0
    for (win, r, mu1, s1), (_, d, mu2, s2) in zip(ref, dist):
        s12 = sep_filter(r * d, win, shape="valid") - mu1 * mu2
        g = s12 / (s1 + _EPS)
        sv = s2 - g * s12
        # the clamps of vifp_mscale.m, in its order (without modifying the cached moments)
        low1 = s1 < _EPS
        g = np.where(low1, 0.0, g)
        sv = np.where(low1, s2, sv)
        s1 = np.where(low1, 0.0, s1)
        low2 = s2 < _EPS
        g = np.where(low2, 0.0, g)
        sv = np.where(low2, 0.0, sv)
        neg = g < 0
        sv = np.where(neg, s2, sv)
        g = np.where(neg, 0.0, g)
        sv = np.where(sv <= _EPS, _EPS, sv)
        num += float(np.sum(np.log10(1.0 + g * g * s1 / (sv + sigma_nsq))))
        den += float(np.sum(np.log10(1.0 + s1 / sigma_nsq)))
    return num / den if den > 0 else float("nan")


def vifp(ref: np.ndarray, dist: np.ndarray, *, sigma_nsq: float = 2.0) -> float:
    """Pixel-domain multi-scale VIF of ``dist`` against ``ref`` (``vifp_mscale.m``).

    For scales s = 1..4 a Gaussian window of size ``N = 2^(5-s)+1`` and σ = N/5
    (``fspecial``) is used; from scale 2 on, both images are low-passed ('valid') and decimated
    by 2. Local moments come from 'valid' filtering; with ``g = σ_12/(σ_1²+1e-10)`` and
    ``σ_v² = σ_2² − g σ_12`` (clamped as in the reference code),

    .. math:: VIF = \\frac{\\sum_s \\sum \\log_{10}(1 + g^2 σ_1^2/(σ_v^2 + σ_n^2))}
                          {\\sum_s \\sum \\log_{10}(1 + σ_1^2/σ_n^2)}

    Args:
        ref: ``(H, W)`` reference (source) image, 0–255 float64, both sides ≥ 41 pixels.
        dist: ``(H, W)`` distorted (fused) image.
        sigma_nsq: HVS noise variance σ_n² (2, which assumes 0–255 data).

    Returns:
        VIF (≥ 0; 1 for ``dist == ref``). NaN when the reference has no texture at all.
    """
    return _vifp_from(_pyramid(ref), _pyramid(dist), sigma_nsq)


def VIF(
    fused: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    *,
    aggregate: Literal["sum", "mean"] = "sum",
    data_range: float = 255.0,
) -> float:
    """Visual information fidelity of the fused image with respect to each source, summed.

    ``VIF = vifp(A, F) + vifp(B, F)`` with :func:`vifp` (pixel-domain multi-scale VIF,
    σ_n² = 2 on 0–255 data).

    Reference: H. R. Sheikh, A. C. Bovik, "Image information and visual quality", IEEE Trans.
    Image Process. 15(2), 430–444, 2006, doi:10.1109/TIP.2005.859378. Code: ``vifp_mscale.m``
    (Tang toolbox); CDDFuse ``Evaluator.VIFF`` and ``sewar.vifp`` compute the same.

    Conventions: Tang and CDDFuse both sum the two source scores (so the value can exceed 1);
    ``aggregate="mean"`` gives the average instead. Not MEFB's "VIF" (Han et al. 2013's VIFF, a
    different metric). CDDFuse replaces a NaN score (texture-less source) by 1.0; here NaN is
    returned.

    Args:
        fused: ``(H, W)`` fused image, 0–255 scale, both sides ≥ 41 pixels.
        a: ``(H, W)`` first source.
        b: ``(H, W)`` second source.
        aggregate: ``"sum"`` or ``"mean"`` over the two sources.
        data_range: value of white in the inputs.

    Returns:
        VIF (≥ 0, typically 0.2–1.2 for the sum); symmetric in ``a`` and ``b``.
    """
    f = as_grey(fused, "fused", data_range=data_range)
    x = as_grey(a, "a", data_range=data_range)
    y = as_grey(b, "b", data_range=data_range)
    check_same_shape(fused=f, a=x, b=y)
    pf = _pyramid(f)
    pa = cached("vif", x, (), lambda: _pyramid(x))
    pb = cached("vif", y, (), lambda: _pyramid(y))
    v = _vifp_from(pa, pf, 2.0) + _vifp_from(pb, pf, 2.0)
    if aggregate == "sum":
        return v
    if aggregate == "mean":
        return 0.5 * v
    raise InputError(f"unknown aggregate {aggregate!r}; choose sum or mean")
