"""Human-perception-based metrics: Qcb (Chen & Blum) and Qcv (Chen & Varshney).

Both follow Z. Liu's MATLAB implementations (``metricChenBlum.m``, ``metricChen.m``) as shipped
in VIFB (``metricsQcb.m``, ``metricsQcv.m``), including their frequency grids
(``freqspace(...,'meshgrid')``) and ``normalize1``.
"""
from __future__ import annotations

import functools

import numpy as np

from mmfuse.metrics._common import as_grey, cached, check_same_shape, normalize1, sep_filter

__all__ = ["Qcb", "Qcv"]


def _freq_radius(shape: tuple[int, int], divisor: float) -> np.ndarray:
    """``r`` of ``[u,v] = freqspace([H,W],'meshgrid'); u = W/d*u; v = H/d*v``, ifftshifted."""
    h, w = shape
    u = (np.arange(w) - np.floor(w / 2.0)) * (2.0 / w) * (w / divisor)
    v = (np.arange(h) - np.floor(h / 2.0)) * (2.0 / h) * (h / divisor)
    r = np.sqrt(u[None, :] ** 2 + v[:, None] ** 2)
    return r


@functools.lru_cache(maxsize=16)
def _half_response(kind: str, shape: tuple[int, int]) -> np.ndarray:
    """``ifftshift`` of a radial response on the ``freqspace`` grid, columns ``0..W//2``
    (what multiplies ``rfft2``); read-only, cached per image size."""
    if kind == "chen_blum":  # Qcb CSF, r scaled by W/30, H/30
        r = _freq_radius(shape, 30.0)
        resp = np.exp(-((r / 15.3870) ** 2)) - 0.7622 * np.exp(-((r / 1.3456) ** 2))
    elif kind == "mannos_sakrison":  # Qcv CSF, r scaled by W/8, H/8
        r = _freq_radius(shape, 8.0)
        resp = 2.6 * (0.0192 + 0.144 * r) * np.exp(-((0.144 * r) ** 1.1))
    else:
        raise ValueError(kind)
    half = np.ascontiguousarray(np.fft.ifftshift(resp)[:, : shape[1] // 2 + 1])
    half.setflags(write=False)
    return half


def _freq_filter(x: np.ndarray, kind: str) -> np.ndarray:
    """``ifft2(ifftshift(fftshift(fft2(x)) .* S))`` for a real image and a radial response.

    This equals ``ifft2(fft2(x) .* ifftshift(S))``. ``S`` depends on ``u², v²`` only, and on
    the ``freqspace`` grid every frequency's negative is on the grid too (the Nyquist term is
    its own negative), so ``ifftshift(S)`` is real and even and the result is real: MATLAB's
    complex output has imaginary parts of rounding size (~1e-14 on 0–255 data). The real
    part is computed with real FFTs.
    """
    from scipy import fft

    spec = fft.rfft2(x)
    spec *= _half_response(kind, x.shape)
    return fft.irfft2(spec, s=x.shape)


def _unnormalised_gaussian_1d(sigma: float) -> np.ndarray:
    t = np.arange(-15.0, 16.0)
    return np.exp(-(t * t) / (2.0 * sigma * sigma))


_G1 = _unnormalised_gaussian_1d(2.0)
_G2 = _unnormalised_gaussian_1d(4.0)


def _contrast_pow(img_f: np.ndarray) -> np.ndarray:
    """``C' = C^3/(C^2 + 1e-4)`` with ``C = |G1 * I / G2 * I − 1|`` (31×31 Gaussians, σ 2 and 4)."""
    # filter2(G, I, 'same') with G = exp(-(x²+y²)/2σ²)/(2πσ²): separable, zero padding.
    c = sep_filter(img_f, _G1, shape="same", mode="constant")
    c /= 2.0 * np.pi * 4.0
    b2 = sep_filter(img_f, _G2, shape="same", mode="constant")
    b2 /= 2.0 * np.pi * 16.0
    with np.errstate(divide="ignore", invalid="ignore"):
        c /= b2
        c -= 1.0
        np.abs(c, out=c)
        c2 = np.multiply(c, c, out=b2)
        c *= c2
        c2 += 1e-4
        c /= c2
    return c


def Qcb(fused: np.ndarray, a: np.ndarray, b: np.ndarray, *, data_range: float = 255.0) -> float:
    """Chen–Blum perceptual fusion quality (contrast preservation under a CSF model).

    Each image is ``normalize1``-d, filtered in the frequency domain by the contrast sensitivity
    function ``S(r) = e^{-(r/f_0)^2} − a e^{-(r/f_1)^2}`` (f₀ = 15.3870, f₁ = 1.3456,
    a = 0.7622; ``r`` from ``freqspace`` scaled by W/30 and H/30), then a local contrast
    ``C = |G_1*I / G_2*I − 1|`` (unnormalised 31×31 Gaussians, σ = 2 and 4) is mapped to
    ``C' = C^3/(C^2 + 10^{-4})``. With ``Q_{XF} = min(C'_X, C'_F)/max(C'_X, C'_F)`` and
    saliencies ``λ_X = C'^2_X/(C'^2_A + C'^2_B)``:

    .. math:: Q_{CB} = \\operatorname{mean}(λ_A Q_{AF} + λ_B Q_{BF})

    Reference: Y. Chen, R. S. Blum, "A new automated quality assessment algorithm for image
    fusion", Image and Vision Computing 27(10), 1421–1432, 2009,
    doi:10.1016/j.imavis.2007.12.002. Code: Z. Liu ``metricChenBlum.m`` / VIFB ``metricsQcb.m``.

    Args:
        fused: ``(H, W)`` fused image (any scale: every image is min–max normalised first).
        a: ``(H, W)`` first source.
        b: ``(H, W)`` second source.
        data_range: value of white in the inputs (irrelevant after normalisation).

    Returns:
        Qcb in [0, 1] (higher is better); symmetric in ``a`` and ``b``. NaN for a constant
        non-zero image (``normalize1`` divides 0 by 0, as in the MATLAB code).
    """
    f = as_grey(fused, "fused", data_range=data_range)
    x = as_grey(a, "a", data_range=data_range)
    y = as_grey(b, "b", data_range=data_range)
    check_same_shape(fused=f, a=x, b=y)

    def contrast(v: np.ndarray) -> np.ndarray:
        return _contrast_pow(_freq_filter(normalize1(v), "chen_blum"))

    c1 = cached("qcb", x, (), lambda: contrast(x))
    c2 = cached("qcb", y, (), lambda: contrast(y))
    cf = contrast(f)
    with np.errstate(divide="ignore", invalid="ignore"):
        m1 = (c1 < cf).astype(np.float64)
        q1 = (c1 / cf) * m1 + (cf / c1) * (1.0 - m1)
        m2 = (c2 < cf).astype(np.float64)
        q2 = (c2 / cf) * m2 + (cf / c2) * (1.0 - m2)
        den = c1 * c1 + c2 * c2
        q = (c1 * c1) / den * q1 + (c2 * c2) / den * q2
    return float(np.mean(q))


_SMOOTH = np.array([1.0, 2.0, 1.0])
_UP = np.array([-1.0, 0.0, 1.0])


def _block_sums(x: np.ndarray, size: int) -> np.ndarray:
    """Sums over ``size×size`` blocks, partial edge blocks zero-padded (MATLAB ``blkproc``)."""
    h, w = x.shape
    hp, wp = -(-h // size) * size, -(-w // size) * size
    p = np.zeros((hp, wp), dtype=x.dtype)
    p[:h, :w] = x
    return p.reshape(hp // size, size, wp // size, size).sum(axis=(1, 3))


def Qcv(fused: np.ndarray, a: np.ndarray, b: np.ndarray, *, data_range: float = 255.0) -> float:
    """Chen–Varshney perceptual fusion quality (regional, CSF-weighted distortion; lower is better).

    After ``normalize1``, the saliency of each 16×16 block of a source is
    ``λ = Σ_block g^5`` (Sobel magnitude ``g``, ``filter2`` with zero padding); the differences
    ``D_X = X − F`` are filtered in the frequency domain by the Mannos–Sakrison CSF
    ``θ(r) = 2.6(0.0192 + 0.144 r) e^{-(0.144 r)^{1.1}}`` (``r`` from ``freqspace`` scaled by
    W/8 and H/8), and the block distortion is ``mean(D_f^2)`` over the 256 entries of the block
    (zero-padded partial blocks, as coded; the MATLAB code squares a complex array whose
    imaginary part is rounding noise, see :func:`_freq_filter`). Then

    .. math:: Q_{CV} = \\frac{\\sum_{blocks} (λ_A D_A + λ_B D_B)}{\\sum_{blocks} (λ_A + λ_B)}

    (the real part of the MATLAB value).

    Reference: H. Chen, P. K. Varshney, "A human perception inspired quality metric for image
    fusion based on regional information", Information Fusion 8(2), 193–207, 2007,
    doi:10.1016/j.inffus.2005.10.001. Code: Z. Liu ``metricChen.m`` / VIFB ``metricsQcv.m``.

    Args:
        fused: ``(H, W)`` fused image (any scale: every image is min–max normalised first).
        a: ``(H, W)`` first source.
        b: ``(H, W)`` second source.
        data_range: value of white in the inputs (irrelevant after normalisation).

    Returns:
        Qcv (≥ 0 in practice, typically hundreds to thousands; lower is better); symmetric in
        ``a`` and ``b``.
    """
    f = as_grey(fused, "fused", data_range=data_range)
    x = as_grey(a, "a", data_range=data_range)
    y = as_grey(b, "b", data_range=data_range)
    check_same_shape(fused=f, a=x, b=y)

    def source(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        nv = normalize1(v)
        # filter2 with [-1 0 1; -2 0 2; -1 0 1] and its transpose, zero padding.
        gx = sep_filter(nv, _SMOOTH, _UP, shape="same", mode="constant")
        gy = sep_filter(nv, _UP, _SMOOTH, shape="same", mode="constant")
        g2 = gx * gx + gy * gy
        saliency = _block_sums(g2 * g2 * np.sqrt(g2), 16)  # sqrt(.)^5 per 16x16 block
        return saliency, _freq_filter(nv, "mannos_sakrison")

    lam_a, filt_a = cached("qcv", x, (), lambda: source(x))
    lam_b, filt_b = cached("qcv", y, (), lambda: source(y))
    filt_f = _freq_filter(normalize1(f), "mannos_sakrison")
    dist = []
    for filt_s in (filt_a, filt_b):
        df = filt_s - filt_f  # the filter is linear: CSF(X - F) = CSF(X) - CSF(F)
        dist.append(_block_sums(df * df, 16) / 256.0)
    q = np.sum(lam_a * dist[0] + lam_b * dist[1]) / np.sum(lam_a + lam_b)
    return float(q)
