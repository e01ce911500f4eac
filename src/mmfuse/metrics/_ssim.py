"""Structural similarity family: SSIM (three toolbox variants), MS-SSIM (Wang), MEF-SSIM (Ma).

"MS-SSIM" names two different metrics in fusion papers: Wang's 5-scale multi-scale SSIM of a
single reference, and Ma, Zeng & Wang's multi-exposure fusion SSIM (3 scales, both sources
as the reference "exposure stack"), which is what Tang's toolbox returns as ``MS_SSIM``. They are
:func:`MS_SSIM` and :func:`MEF_SSIM` here.
"""
from __future__ import annotations

from typing import Callable, Literal

import numpy as np

from mmfuse.errors import InputError, ShapeError
from mmfuse.metrics._common import as_grey, cached, check_same_shape, gaussian_1d, sep_filter

__all__ = ["SSIM", "MS_SSIM", "MEF_SSIM", "ssim_maps"]

Aggregate = Literal["mean", "sum"]
_G11 = gaussian_1d(11, 1.5)


def ssim_maps(
    x: np.ndarray,
    y: np.ndarray,
    *,
    variant: Literal["wang", "matlab"] = "wang",
    dynamic_range: float = 255.0,
    k1: float = 0.01,
    k2: float = 0.03,
) -> tuple[np.ndarray, np.ndarray]:
    """SSIM and contrast-structure maps of two single-channel float64 images.

    Args:
        x: ``(H, W)`` image.
        y: ``(H, W)`` image.
        variant: ``"wang"``: Gaussian 11×11, σ = 1.5, 'valid' filtering (Wang's
            ``ssim_index.m``; VIFB ``metricsSsim.m``), map of size ``(H-10, W-10)``;
            ``"matlab"``: MATLAB's built-in ``ssim`` (Gaussian σ = 1.5, 11×11,
            replicated borders, full-size map).
        dynamic_range: L in ``C1 = (k1 L)²``, ``C2 = (k2 L)²``.
        k1: SSIM constant K1.
        k2: SSIM constant K2.

    Returns:
        ``(ssim_map, cs_map)`` where ``cs_map = (2σ_xy + C2)/(σ_x² + σ_y² + C2)``.
    """
    filt = _window(variant)
    return _maps_from(x, y, _moments(x, filt), _moments(y, filt), filt, dynamic_range, k1, k2)


def _window(variant: str) -> Callable[[np.ndarray], np.ndarray]:
    if variant == "wang":
        shape, mode = "valid", "constant"
    elif variant == "matlab":
        shape, mode = "same", "nearest"
    else:
        raise InputError(f"unknown SSIM variant {variant!r}; choose wang, matlab or skimage")

    def filt(v: np.ndarray) -> np.ndarray:
        return sep_filter(v, _G11, _G11, shape=shape, mode=mode)  # type: ignore[arg-type]

    return filt


def _moments(x: np.ndarray, filt: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    mu = filt(x)
    var = filt(x * x)
    var -= mu * mu
    return mu, var


def _maps_from(
    x: np.ndarray,
    y: np.ndarray,
    mom_x: tuple[np.ndarray, np.ndarray],
    mom_y: tuple[np.ndarray, np.ndarray],
    filt: Callable[[np.ndarray], np.ndarray],
    dynamic_range: float,
    k1: float,
    k2: float,
) -> tuple[np.ndarray, np.ndarray]:
    c1 = (k1 * dynamic_range) ** 2
    c2 = (k2 * dynamic_range) ** 2
    (mx, sxx), (my, syy) = mom_x, mom_y
    # cs = (2 σ_xy + C2)/(σ_x² + σ_y² + C2); ssim = (2 μ_x μ_y + C1)/(μ_x² + μ_y² + C1) · cs
    mxy = mx * my
    cs = filt(x * y)
    cs -= mxy
    cs *= 2.0
    cs += c2
    den = sxx + syy
    den += c2
    cs /= den
    mxy *= 2.0
    mxy += c1
    np.multiply(mx, mx, out=den)
    den += my * my
    den += c1
    mxy /= den
    mxy *= cs
    return mxy, cs


def _ssim_pair(x: np.ndarray, y: np.ndarray, variant: str, dynamic_range: float) -> float:
    if variant == "skimage":
        from skimage.metrics import structural_similarity

        # CDDFuse's Evaluator: structural_similarity(F, X) on float32 images with the defaults
        # of scikit-image 0.19 (7x7 uniform window, sample covariance, 3-pixel border cropped);
        # the data range was then implied by the float dtype (2) and is passed explicitly here.
        return float(
            structural_similarity(
                x.astype(np.float32), y.astype(np.float32), data_range=dynamic_range, win_size=7
            )
        )
    raise InputError(f"unknown SSIM variant {variant!r}; choose wang, matlab or skimage")


def _aggregate(v1: float, v2: float, aggregate: Aggregate) -> float:
    if aggregate == "sum":
        return v1 + v2
    if aggregate == "mean":
        return 0.5 * (v1 + v2)
    raise InputError(f"unknown aggregate {aggregate!r}; choose mean or sum")


def SSIM(
    fused: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    *,
    variant: Literal["wang", "matlab", "skimage"] = "wang",
    aggregate: Aggregate = "mean",
    dynamic_range: float = 255.0,
    data_range: float = 255.0,
) -> float:
    """Structural similarity of the fused image to each source, averaged or summed.

    .. math::

        SSIM(X, F) = \\operatorname{mean}\\frac{(2μ_Xμ_F + C_1)(2σ_{XF} + C_2)}
                     {(μ_X^2 + μ_F^2 + C_1)(σ_X^2 + σ_F^2 + C_2)},\\quad
        C_1 = (0.01 L)^2,\\ C_2 = (0.03 L)^2

    and the fusion score is ``½(SSIM(A,F) + SSIM(B,F))`` (``aggregate="mean"``) or the sum.

    Reference: Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality assessment:
    from error visibility to structural similarity", IEEE Trans. Image Process. 13(4), 600–612,
    2004, doi:10.1109/TIP.2003.819861.

    Toolbox conventions (the profiles set these):

    * VIFB (``metricsSsim.m``): ``variant="wang"``, L = 255, **sum**.
    * Tang (``analysis_Reference.m``): MATLAB ``ssim(F, X)`` on 0–255 doubles, whose default
      DynamicRange for doubles is 1: ``variant="matlab"``, ``dynamic_range=1``, **mean**.
      Not verified against MATLAB output (Octave has no ``ssim``); emulated from the
      documented algorithm.
    * CDDFuse (``Evaluator.SSIM``): scikit-image ``structural_similarity(F, X)`` with its 0.19
      defaults on float32 data, where the data range came from the dtype (2):
      ``variant="skimage"``, ``dynamic_range=2``, **sum**; C1, C2 are then effectively zero.
    * mmfuse: Wang's definition with L = 255, averaged over the two sources.

    Args:
        fused: ``(H, W)`` fused image, 0–255 scale.
        a: ``(H, W)`` first source.
        b: ``(H, W)`` second source.
        variant: ``"wang"``, ``"matlab"`` or ``"skimage"`` (see above).
        aggregate: ``"mean"`` or ``"sum"`` of the two source scores.
        dynamic_range: L of the SSIM constants.
        data_range: value of white in the inputs.

    Returns:
        SSIM in [-1, 1] (``"mean"``) or [-2, 2] (``"sum"``); symmetric in ``a`` and ``b``.
    """
    f = as_grey(fused, "fused", data_range=data_range)
    x = as_grey(a, "a", data_range=data_range)
    y = as_grey(b, "b", data_range=data_range)
    check_same_shape(fused=f, a=x, b=y)
    if variant == "wang" and min(f.shape) < 11:
        raise ShapeError(f"SSIM needs images of at least 11x11 pixels, got {f.shape}")
    if variant == "skimage" and min(f.shape) < 7:
        raise ShapeError(f"SSIM (scikit-image) needs images of at least 7x7 pixels, got {f.shape}")
    if variant == "skimage":
        return _aggregate(_ssim_pair(f, x, variant, dynamic_range), _ssim_pair(f, y, variant, dynamic_range), aggregate)
    filt = _window(variant)
    mom_f = _moments(f, filt)
    mom_a = cached("ssim", x, (variant,), lambda: _moments(x, filt))
    mom_b = cached("ssim", y, (variant,), lambda: _moments(y, filt))
    s_a = float(_maps_from(f, x, mom_f, mom_a, filt, dynamic_range, 0.01, 0.03)[0].mean())
    s_b = float(_maps_from(f, y, mom_f, mom_b, filt, dynamic_range, 0.01, 0.03)[0].mean())
    return _aggregate(s_a, s_b, aggregate)


def _downsample2(x: np.ndarray) -> np.ndarray:
    # imfilter(x, ones(2)/4, 'symmetric', 'same') then x(1:2:end, 1:2:end): the mean of each
    # 2x2 block anchored at the even indices, the last row/column repeated for odd sizes.
    p = np.pad(x, ((0, 1), (0, 1)), mode="symmetric")
    m, n = x.shape
    return (p[0:m:2, 0:n:2] + p[1 : m + 1 : 2, 0:n:2] + p[0:m:2, 1 : n + 1 : 2] + p[1 : m + 1 : 2, 1 : n + 1 : 2]) / 4.0


_MS_WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])


def _ms_ssim_pair(x: np.ndarray, y: np.ndarray, dynamic_range: float) -> float:
    levels = len(_MS_WEIGHTS)
    mcs = np.empty(levels)
    mssim = 0.0
    for level in range(levels):
        s, cs = ssim_maps(x, y, variant="wang", dynamic_range=dynamic_range)
        mcs[level] = cs.mean()
        mssim = float(s.mean())
        if level < levels - 1:
            x, y = _downsample2(x), _downsample2(y)
    # Negative means raised to fractional powers are undefined (complex in MATLAB): clip at 0.
    mcs = np.maximum(mcs, 0.0)
    return float(np.prod(mcs[:-1] ** _MS_WEIGHTS[:-1]) * max(mssim, 0.0) ** _MS_WEIGHTS[-1])


def MS_SSIM(
    fused: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    *,
    aggregate: Aggregate = "mean",
    dynamic_range: float = 255.0,
    data_range: float = 255.0,
) -> float:
    """Wang's 5-scale multi-scale SSIM of the fused image to each source, averaged or summed.

    .. math:: MS\\text{-}SSIM(X,F) = [l_5 c_5 s_5]^{β_5} \\prod_{j=1}^{4} [c_j s_j]^{β_j}

    with β = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), Gaussian 11×11 (σ 1.5) 'valid' windows,
    L = 255, and between scales a 2×2 mean filter (symmetric borders) followed by keeping every
    second row and column, as in Wang's reference ``msssim.m``. Each factor is clipped at 0
    before the fractional power (MATLAB would return a complex number).

    Reference: Z. Wang, E. P. Simoncelli, A. C. Bovik, "Multiscale structural similarity for
    image quality assessment", Proc. 37th Asilomar Conf. Signals, Systems and Computers, 2003,
    doi:10.1109/ACSSC.2003.1292216. Not Tang's "MS_SSIM" (that one is :func:`MEF_SSIM`).

    Args:
        fused: ``(H, W)`` fused image, 0–255 scale, both sides ≥ 176 pixels (the coarsest of
            the 5 scales must hold an 11×11 window).
        a: ``(H, W)`` first source.
        b: ``(H, W)`` second source.
        aggregate: ``"mean"`` or ``"sum"`` over the two sources (the Python ports of Tang's
            script sum).
        dynamic_range: L of the SSIM constants.
        data_range: value of white in the inputs.

    Returns:
        MS-SSIM in [0, 1] (``"mean"``) or [0, 2] (``"sum"``); symmetric in ``a`` and ``b``.
    """
    f = as_grey(fused, "fused", data_range=data_range)
    x = as_grey(a, "a", data_range=data_range)
    y = as_grey(b, "b", data_range=data_range)
    check_same_shape(fused=f, a=x, b=y)
    if min(f.shape) < 11 * 16:
        raise ShapeError(f"MS_SSIM needs images of at least 176x176 pixels (5 scales), got {f.shape}")
    return _aggregate(_ms_ssim_pair(f, x, dynamic_range), _ms_ssim_pair(f, y, dynamic_range), aggregate)


_MEF_WEIGHTS = np.array([0.0448, 0.2856, 0.3001])
_EPS = np.finfo(np.float64).eps


def _mef_ssim_level(seq: list[np.ndarray], f: np.ndarray, k: float) -> float:
    """One scale of Ma et al.'s ``mef_ssim.m``, vectorised over patches (K sources)."""
    n_win = 11
    box = np.full(n_win, 1.0 / n_win)
    big_k = len(seq)

    def bfilt(v: np.ndarray) -> np.ndarray:
        return sep_filter(v, box, box, shape="valid")

    def gfilt(v: np.ndarray) -> np.ndarray:
        return sep_filter(v, _G11, _G11, shape="valid")

    mu = [bfilt(x) for x in seq]
    bcov = [[bfilt(seq[i] * seq[j]) - mu[i] * mu[j] for j in range(big_k)] for i in range(big_k)]
    sq = float(n_win * n_win)
    norms = [np.sqrt(np.maximum(sq * bcov[i][i], 0.0)) for i in range(big_k)]
    ed = [nrm + 0.001 for nrm in norms]
    total_var = sum(bcov[i][j] for i in range(big_k) for j in range(big_k))
    numerator = np.sqrt(np.maximum(sq * total_var, 0.0))
    r = (numerator + _EPS) / (sum(norms) + _EPS)
    r = np.where(r > 1.0, 1.0 - _EPS, r)
    r = np.where(r < 0.0, _EPS, r)
    with np.errstate(over="ignore"):
        p = np.minimum(np.tan(np.pi / 2.0 * r), 10.0)
    w = [(e / n_win) ** p + _EPS for e in ed]
    w_sum = sum(w)
    coef = [w[i] / w_sum / ed[i] for i in range(big_k)]
    s_norm2 = sq * sum(coef[i] * coef[j] * bcov[i][j] for i in range(big_k) for j in range(big_k))
    max_ed = np.maximum.reduce(ed) if big_k > 1 else ed[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(s_norm2 > 0.0, max_ed / np.sqrt(np.where(s_norm2 > 0.0, s_norm2, 1.0)), 1.0)
    a = [c * scale for c in coef]  # desired structure r = sum_k a_k (x_k - mu_k)

    gm = [gfilt(x) for x in seq]
    gm_f = gfilt(f)
    var_f = gfilt(f * f) - gm_f * gm_f
    var_r = np.zeros_like(var_f)
    cov_rf = np.zeros_like(var_f)
    for i in range(big_k):
        cov_rf += a[i] * (gfilt(seq[i] * f) - gm[i] * gm_f)
        for j in range(big_k):
            cov_ij = gfilt(seq[i] * seq[j]) - gm[i] * gm[j] if j >= i else None
            if cov_ij is not None:
                var_r += (1.0 if i == j else 2.0) * a[i] * a[j] * cov_ij
    c = (k * 255.0) ** 2
    q = (2.0 * cov_rf + c) / (var_r + var_f + c)
    return float(q.mean())


def MEF_SSIM(
    fused: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    *,
    k: float = 0.03,
    data_range: float = 255.0,
) -> float:
    """Multi-exposure-fusion SSIM of Ma, Zeng & Wang with (A, B) as the source stack, 3 scales.

    At each 11×11 patch: box-window means μ_k and signal strengths
    ``c_k = ||x_k − μ_k|| + 0.001``; the consistency ``R = ||Σ_k(x_k−μ_k)|| / Σ_k||x_k−μ_k||``
    sets ``p = min(tan(πR/2), 10)``, weights ``w_k ∝ (c_k/11)^p + eps``; the desired structure
    ``s = Σ_k w_k (x_k−μ_k)/c_k`` is rescaled to norm ``max_k c_k``; the local score is

    .. math:: q = \\frac{2σ_{sF} + C}{σ_s^2 + σ_F^2 + C}, \\quad C = (0.03·255)^2

    with Gaussian (11, 1.5) weighted moments; ``Q_l = mean(q)`` and
    ``MEF_SSIM = Π_l Q_l^{β_l}``, β = (0.0448, 0.2856, 0.3001)/Σ. Between scales, 2×2 mean
    filtering (symmetric borders) and decimation by 2. The patch loops of the MATLAB code are
    replaced by exact closed forms (all per-patch quantities are linear combinations of windowed
    first and second moments of the sources and the fused image).

    Reference: K. Ma, K. Zeng, Z. Wang, "Perceptual quality assessment for multi-exposure image
    fusion", IEEE Trans. Image Process. 24(11), 3345–3356, 2015, doi:10.1109/TIP.2015.2442920.
    Code: ``mef_ms_ssim.m``/``mef_ssim.m`` (MEFB; Tang's ``analysis_ms_ssim.m``). This is what
    Tang's toolbox and TG-ECNet-era tables call "MS-SSIM".

    Args:
        fused: ``(H, W)`` fused image, 0–255 scale, both sides ≥ 44 pixels.
        a: ``(H, W)`` first source.
        b: ``(H, W)`` second source.
        k: the constant K of C = (K·255)².
        data_range: value of white in the inputs.

    Returns:
        MEF-SSIM in (0, 1] (higher is better); symmetric in ``a`` and ``b``.
    """
    f = as_grey(fused, "fused", data_range=data_range)
    x = as_grey(a, "a", data_range=data_range)
    y = as_grey(b, "b", data_range=data_range)
    check_same_shape(fused=f, a=x, b=y)
    if min(f.shape) / 4 < 11:
        raise ShapeError(f"MEF_SSIM needs images of at least 44x44 pixels (3 scales), got {f.shape}")
    weights = _MEF_WEIGHTS / _MEF_WEIGHTS.sum()
    seq = [x, y]
    scores = []
    for level in range(len(weights)):
        scores.append(_mef_ssim_level(seq, f, k))
        if level < len(weights) - 1:
            seq = [_downsample2(v) for v in seq]
            f = _downsample2(f)
    return float(np.prod(np.asarray(scores) ** weights))
