"""Visual information fidelity (Sheikh & Bovik, pixel-domain multi-scale), summed over sources."""
from __future__ import annotations

from typing import Literal

import numpy as np

from mmfuse.errors import InputError, ShapeError
from mmfuse.metrics._common import as_grey, check_same_shape, gaussian_1d, sep_filter

__all__ = ["VIF", "vifp"]

_EPS = 1e-10


def vifp(ref: np.ndarray, dist: np.ndarray, *, sigma_nsq: float = 2.0) -> float:
    """Pixel-domain multi-scale VIF of ``dist`` against ``ref`` (``vifp_mscale.m``).

    For scales s = 1..4 a Gaussian window of size ``N = 2^(5-s)+1`` and σ = N/5
    (``fspecial``) is used; from scale 2 on, both images are low-passed ('valid') and decimated
    by 2. Local moments come from 'valid' filtering; with ``g = σ_12/(σ_1²+1e-10)`` and
    ``σ_v² = σ_2² − g σ_12`` (clamped as in the reference code),

    .. math:: VIF = \\frac{\\sum_s \\sum \\log_{10}(1 + g^2 σ_1^2/(σ_v^2 + σ_n^2))}
                          {\\sum_s \\sum \\log_{10}(1 + σ_1^2/σ_n^2)}

    Args:
        ref: ``(H, W)`` reference (source) image, 0–255 float64.
        dist: ``(H, W)`` distorted (fused) image.
        sigma_nsq: HVS noise variance σ_n² (2, which assumes 0–255 data).

    Returns:
        VIF (≥ 0; 1 for ``dist == ref``). NaN when the reference has no texture at all.
    """
    num = 0.0
    den = 0.0
    for scale in range(1, 5):
        n = 2 ** (4 - scale + 1) + 1
        win = gaussian_1d(n, n / 5.0)
        if scale > 1:
            ref = sep_filter(ref, win, shape="valid")[::2, ::2]
            dist = sep_filter(dist, win, shape="valid")[::2, ::2]
        if min(ref.shape) < n:
            raise ShapeError(f"VIF needs larger images: scale {scale} is {ref.shape}, window {n}x{n}")
        mu1 = sep_filter(ref, win, shape="valid")
        mu2 = sep_filter(dist, win, shape="valid")
        s1 = np.maximum(sep_filter(ref * ref, win, shape="valid") - mu1 * mu1, 0.0)
        s2 = np.maximum(sep_filter(dist * dist, win, shape="valid") - mu2 * mu2, 0.0)
        s12 = sep_filter(ref * dist, win, shape="valid") - mu1 * mu2
        g = s12 / (s1 + _EPS)
        sv = s2 - g * s12
        low1 = s1 < _EPS
        g[low1] = 0.0
        sv[low1] = s2[low1]
        s1[low1] = 0.0
        low2 = s2 < _EPS
        g[low2] = 0.0
        sv[low2] = 0.0
        neg = g < 0
        sv[neg] = s2[neg]
        g[neg] = 0.0
        sv[sv <= _EPS] = _EPS
        num += float(np.sum(np.log10(1.0 + g * g * s1 / (sv + sigma_nsq))))
        den += float(np.sum(np.log10(1.0 + s1 / sigma_nsq)))
    return num / den if den > 0 else float("nan")


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
    v = vifp(x, f) + vifp(y, f)
    if aggregate == "sum":
        return v
    if aggregate == "mean":
        return 0.5 * v
    raise InputError(f"unknown aggregate {aggregate!r}; choose sum or mean")
