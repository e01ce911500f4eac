"""Feature mutual information (Haghighat et al.), the fast-FMI algorithm, vectorised over windows.

The MATLAB reference (``fmi.m`` by M. Haghighat, shipped as MEFB ``metricsFMI.m`` and Tang
``analysis_fmi.m``) loops over every w×w window and over all (i, j) pairs of the window's
cumulative distributions. Here every window of a chunk is processed at once with the same
operation order for the quantities the code compares with exact equality (window equality,
zero correlation, zero mutual information), so the degenerate branches are taken as in MATLAB.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from mmfuse.errors import InputError, ShapeError
from mmfuse.metrics._common import as_grey, check_same_shape

__all__ = ["FMI", "FMI_pixel", "FMI_dct", "FMI_w"]

Feature = Literal["none", "dct", "wavelet"]
_CHUNK = 4096


def _features(x: np.ndarray, feature: Feature, wavelet: str) -> np.ndarray:
    if feature == "none":
        return x
    if feature == "dct":
        from scipy.fft import dctn

        return dctn(x, type=2, norm="ortho")  # MATLAB dct2
    if feature == "wavelet":
        import pywt

        ca, (ch, cv, cd) = pywt.dwt2(x, wavelet, mode="symmetric")
        mosaic = np.block([[ca, ch], [cv, cd]])
        lo, hi = float(mosaic.min()), float(mosaic.max())
        return np.ones_like(mosaic) if hi == lo else (mosaic - lo) / (hi - lo)
    raise InputError(f"unknown FMI feature {feature!r}; choose none, dct or wavelet")


def _windows(x: np.ndarray, w: int) -> np.ndarray:
    """All valid w×w windows as rows of length w², in MATLAB column-major order ``X(:)``."""
    v = sliding_window_view(x, (w, w))  # (M-w+1, N-w+1, w, w) indexed [.., row, col]
    return np.ascontiguousarray(v.transpose(0, 1, 3, 2)).reshape(-1, w * w)


def _seq_sum(x: np.ndarray) -> np.ndarray:
    """Left-to-right sum over the last axis (MATLAB's order for short vectors)."""
    s = x[..., 0].copy()
    for i in range(1, x.shape[-1]):
        s += x[..., i]
    return s


def _normalise(win: np.ndarray) -> np.ndarray:
    lo = win.min(axis=1, keepdims=True)
    hi = win.max(axis=1, keepdims=True)
    flat = hi == lo
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (win - lo) / (hi - lo)
    return np.where(flat, 1.0, out)


def _pdf(norm: np.ndarray, w: int) -> np.ndarray:
    # aSub(:)./sum(sum(aSub)): column sums first (w entries each), then their sum.
    cols = norm.reshape(norm.shape[0], w, w)  # [window, column, row]
    total = _seq_sum(_seq_sum(cols))
    return norm / total[:, None]


def _entropy_rows(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(p != 0, -p * np.log2(np.abs(np.where(p != 0, p, 1.0))), 0.0)
    return _seq_sum(t) if t.ndim == 2 else t.reshape(t.shape[0], -1).sum(axis=1)


def _fmi_pair(src: np.ndarray, fus_norm: np.ndarray, w: int) -> np.ndarray:
    """fmi of one source/fused pair for a chunk of (already normalised) windows, no equality test."""
    l = w * w
    p_s = _pdf(src, w)
    p_f = _pdf(fus_norm, w)
    c_s = np.cumsum(p_s, axis=1)
    c_f = np.cumsum(p_f, axis=1)
    t_s = p_s - (_seq_sum(p_s) / l)[:, None]
    t_f = p_f - (_seq_sum(p_f) / l)[:, None]
    num = _seq_sum(t_s * t_f)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(num == 0, 0.0, num / np.sqrt(_seq_sum(t_s * t_s) * _seq_sum(t_f * t_f)))
    idx = np.arange(1, l + 1, dtype=np.float64)
    e_s, e2_s = _seq_sum(idx * p_s), _seq_sum(idx * idx * p_s)
    e_f, e2_f = _seq_sum(idx * p_f), _seq_sum(idx * idx * p_f)
    sd_s = np.sqrt(np.maximum(e2_s - e_s * e_s, 0.0))
    sd_f = np.sqrt(np.maximum(e2_f - e_f * e_f, 0.0))
    fi = c_f[:, :, None]  # rows: fused index i
    sj = c_s[:, None, :]  # columns: source index j
    upper = 0.5 * (fi + sj - np.abs(fi - sj))
    s1 = fi + sj - 1.0
    lower = 0.5 * (s1 + np.abs(s1))
    prod = fi * sj
    positive = corr >= 0
    bound = np.where(positive[:, None, None], upper, lower)
    cov = (bound - prod).reshape(len(corr), -1).sum(axis=1)
    degenerate = (sd_s == 0) | (sd_f == 0) | (positive & (corr == 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        mix = np.where(degenerate, 0.0, corr / (cov / (sd_f * sd_s)))
    pad = np.zeros((len(corr), l + 1, l + 1))
    pad[:, 1:, 1:] = bound
    delta = pad[:, 1:, 1:] - pad[:, :-1, 1:] - pad[:, 1:, :-1] + pad[:, :-1, :-1]
    jpdf = mix[:, None, None] * delta + (1.0 - mix)[:, None, None] * (p_f[:, :, None] * p_s[:, None, :])
    h_joint = _entropy_rows(jpdf)
    h_s = _entropy_rows(p_s)
    h_f = _entropy_rows(p_f)
    mi = h_s + h_f - h_joint
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mi == 0, 0.0, 2.0 * mi / (h_s + h_f))


def FMI(
    fused: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    *,
    feature: Feature = "none",
    window: int = 3,
    wavelet: str = "dmey",
    data_range: float = 255.0,
) -> float:
    """Feature mutual information (fast-FMI) of the fused image with both sources.

    Feature maps of A, B and F (raw pixels, orthonormal 2-D DCT, or the min–max normalised
    ``[cA cH; cV cD]`` mosaic of a one-level wavelet transform) are cut into all valid
    ``window×window`` windows. In each window, each map is min–max normalised and turned into a
    pdf over the w² positions (column-major); the joint pdf of (X, F) is Nelsen's mixture of
    the Fréchet bound matching the sign of their Pearson correlation and the independent
    product; ``fmi_XF = 2 I(X;F)/(H(X)+H(F))`` (1 if the windows are identical, 0 if I = 0).
    ``FMI = mean((fmi_AF + fmi_BF)/2)``.

    References: M. B. A. Haghighat, A. Aghagolzadeh, H. Seyedarabi, "A non-reference image fusion
    metric based on mutual information of image features", Computers & Electrical Engineering
    37(5), 744–756, 2011, doi:10.1016/j.compeleceng.2011.07.012; M. Haghighat, M. A. Razian,
    "Fast-FMI: non-reference image fusion metric", Proc. AICT 2014. Code: ``fmi.m`` (MEFB
    ``metricsFMI.m``).

    Faithfulness: ``"none"`` and ``"dct"`` follow the MATLAB code operation by operation
    (including a quirk: the visible-image branch compares its window with the fused window
    *after* the infrared branch normalised it). ``"wavelet"`` uses PyWavelets' ``dmey``, a
    62-tap filter, whereas MATLAB's ``dwt2(...,'dmey')`` uses 102 taps (PyWavelets issue #261),
    so FMI_w values differ from MATLAB toolbox values. Tang's toolbox column "FMI_pixel" is in
    fact FMI of MATLAB ``edge()`` maps (the function's default feature), which is not
    reproduced here.

    Args:
        fused: ``(H, W)`` fused image, 0–255 scale.
        a: ``(H, W)`` first source.
        b: ``(H, W)`` second source.
        feature: ``"none"`` (FMI_pixel), ``"dct"`` (FMI_dct) or ``"wavelet"`` (FMI_w).
        window: odd window size w (3 in every toolbox).
        wavelet: PyWavelets wavelet name for ``feature="wavelet"``.
        data_range: value of white in the inputs.

    Returns:
        FMI in [0, 1] (higher is better); symmetric in ``a`` and ``b`` up to the branch quirk.
    """
    f = as_grey(fused, "fused", data_range=data_range)
    x = as_grey(a, "a", data_range=data_range)
    y = as_grey(b, "b", data_range=data_range)
    check_same_shape(fused=f, a=x, b=y)
    if window < 1 or window % 2 == 0:
        raise InputError(f"FMI window must be a positive odd integer, got {window}")
    if min(f.shape) < window:
        raise ShapeError(f"FMI needs images of at least {window}x{window} pixels, got {f.shape}")
    fa, fb, ff = (_features(v, feature, wavelet) for v in (x, y, f))
    wa, wb, wf = (_windows(v, window) for v in (fa, fb, ff))
    out = np.empty(len(wf))
    for s in range(0, len(wf), _CHUNK):
        sa, sb, sf = wa[s : s + _CHUNK], wb[s : s + _CHUNK], wf[s : s + _CHUNK]
        nf = _normalise(sf)
        eq_a = np.all(sa == sf, axis=1)
        f_after_a = np.where(eq_a[:, None], sf, nf)
        eq_b = np.all(sb == f_after_a, axis=1)
        fmi_a = np.where(eq_a, 1.0, _fmi_pair(_normalise(sa), nf, window))
        fmi_b = np.where(eq_b, 1.0, _fmi_pair(_normalise(sb), nf, window))
        out[s : s + _CHUNK] = (fmi_a + fmi_b) / 2.0
    return float(out.mean())


def FMI_pixel(fused: np.ndarray, a: np.ndarray, b: np.ndarray, *, window: int = 3, data_range: float = 255.0) -> float:
    """FMI on raw pixels (``feature='none'``); see :func:`FMI`.

    Returns:
        FMI_pixel in [0, 1] (higher is better).
    """
    return FMI(fused, a, b, feature="none", window=window, data_range=data_range)


def FMI_dct(fused: np.ndarray, a: np.ndarray, b: np.ndarray, *, window: int = 3, data_range: float = 255.0) -> float:
    """FMI on orthonormal 2-D DCT coefficients (MATLAB ``dct2``); see :func:`FMI`.

    Returns:
        FMI_dct in [0, 1] (higher is better).
    """
    return FMI(fused, a, b, feature="dct", window=window, data_range=data_range)


def FMI_w(
    fused: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    *,
    window: int = 3,
    wavelet: str = "dmey",
    data_range: float = 255.0,
) -> float:
    """FMI on one-level wavelet coefficients (PyWavelets ``dmey`` by default); see :func:`FMI`.

    Not numerically comparable with MATLAB toolboxes (different discrete Meyer filter length).

    Returns:
        FMI_w in [0, 1] (higher is better).
    """
    return FMI(fused, a, b, feature="wavelet", window=window, wavelet=wavelet, data_range=data_range)
