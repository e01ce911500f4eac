"""Correlation and error metrics against the two sources: CC, SCD, MSE, RMSE, PSNR."""
from __future__ import annotations

from typing import Literal

import numpy as np

from mmfuse.errors import InputError
from mmfuse.metrics._common import as_grey, check_same_shape, corr2

__all__ = ["CC", "SCD", "MSE", "RMSE", "PSNR"]


def _three(fused: np.ndarray, a: np.ndarray, b: np.ndarray, data_range: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    f = as_grey(fused, "fused", data_range=data_range)
    x = as_grey(a, "a", data_range=data_range)
    y = as_grey(b, "b", data_range=data_range)
    check_same_shape(fused=f, a=x, b=y)
    return f, x, y


def CC(fused: np.ndarray, a: np.ndarray, b: np.ndarray, *, data_range: float = 255.0) -> float:
    """Mean Pearson correlation coefficient between the fused image and each source.

    .. math:: CC = \\tfrac12\\,[r(A, F) + r(B, F)]

    Reference: J. Ma, Y. Ma, C. Li, "Infrared and visible image fusion methods and applications:
    A survey", Information Fusion 45, 153–178, 2019, doi:10.1016/j.inffus.2018.02.004. Code:
    Tang ``CC_evaluation.m``, CDDFuse ``Evaluator.CC`` (identical; scale free).

    Args:
        fused: ``(H, W)`` fused image.
        a: ``(H, W)`` first source.
        b: ``(H, W)`` second source.
        data_range: value of white in the inputs (has no effect on CC).

    Returns:
        CC in [-1, 1]; NaN if an image is constant; symmetric in ``a`` and ``b``.
    """
    f, x, y = _three(fused, a, b, data_range)
    return 0.5 * (corr2(x, f) + corr2(y, f))


def SCD(fused: np.ndarray, a: np.ndarray, b: np.ndarray, *, data_range: float = 255.0) -> float:
    """Sum of the correlations of differences.

    .. math:: SCD = r(F - B, A) + r(F - A, B)

    Reference: V. Aslantas, E. Bendes, "A new image quality metric for image fusion: The sum of
    the correlations of differences", AEU Int. J. Electron. Commun. 69(12), 1890–1896, 2015,
    doi:10.1016/j.aeue.2015.09.004. Code: Tang ``analysis_SCD.m``, CDDFuse ``Evaluator.SCD``.

    Args:
        fused: ``(H, W)`` fused image.
        a: ``(H, W)`` first source.
        b: ``(H, W)`` second source.
        data_range: value of white in the inputs (has no effect on SCD).

    Returns:
        SCD in [-2, 2] (higher is better); symmetric in ``a`` and ``b``.
    """
    f, x, y = _three(fused, a, b, data_range)
    return corr2(f - y, x) + corr2(f - x, y)


def _mse_pair(x: np.ndarray, f: np.ndarray) -> float:
    d = x - f
    return float(np.mean(d * d))


def MSE(
    fused: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    *,
    unit_range: bool = False,
    data_range: float = 255.0,
) -> float:
    """Mean squared error to the two sources, averaged.

    .. math:: MSE = \\tfrac12\\,[MSE(A, F) + MSE(B, F)], \\quad MSE(X,F) = \\frac{1}{MN}\\sum (X-F)^2

    Reference: P. Jagalingam, A. V. Hegde, "A review of quality metrics for fused image",
    Aquatic Procedia 4, 133–142, 2015, doi:10.1016/j.aqpro.2015.02.019.

    Conventions: on the 0–255 scale (CDDFuse ``Evaluator.MSE``) by default; ``unit_range=True``
    computes on [0, 1] (Tang ``MSE_evaluation.m``), i.e. divides by 255² = 65025.

    Args:
        fused: ``(H, W)`` fused image, 0–255 scale.
        a: ``(H, W)`` first source.
        b: ``(H, W)`` second source.
        unit_range: report on the [0, 1] scale instead of 0–255.
        data_range: value of white in the inputs.

    Returns:
        MSE (≥ 0, lower is better); symmetric in ``a`` and ``b``.
    """
    f, x, y = _three(fused, a, b, data_range)
    m = 0.5 * (_mse_pair(x, f) + _mse_pair(y, f))
    return m / 65025.0 if unit_range else m


def _vifb_e(x: np.ndarray, f: np.ndarray) -> float:
    # VIFB's "mse": sqrt(sum of squared differences) / (M N), i.e. RMSE / sqrt(MN).
    d = x - f
    return float(np.sqrt(np.sum(d * d)) / d.size)


def RMSE(
    fused: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    *,
    variant: Literal["standard", "vifb"] = "standard",
    data_range: float = 255.0,
) -> float:
    """Root mean squared error to the two sources.

    * ``"standard"``: ``sqrt(½[MSE(A,F) + MSE(B,F)])`` on 0–255, so that
      ``PSNR = 20 log10(255 / RMSE)``.
    * ``"vifb"`` (VIFB ``metricsRmse.m``): ``½[e(A,F) + e(B,F)]`` with
      ``e(X,F) = sqrt(Σ(X−F)²)/(MN)``, which is RMSE/sqrt(MN) (not an RMSE; values ≈ 0.1).

    Reference: P. Jagalingam, A. V. Hegde, "A review of quality metrics for fused image",
    Aquatic Procedia 4, 133–142, 2015, doi:10.1016/j.aqpro.2015.02.019.

    Args:
        fused: ``(H, W)`` fused image, 0–255 scale.
        a: ``(H, W)`` first source.
        b: ``(H, W)`` second source.
        variant: ``"standard"`` or ``"vifb"``.
        data_range: value of white in the inputs.

    Returns:
        RMSE (≥ 0, lower is better); symmetric in ``a`` and ``b``.
    """
    f, x, y = _three(fused, a, b, data_range)
    if variant == "standard":
        return float(np.sqrt(0.5 * (_mse_pair(x, f) + _mse_pair(y, f))))
    if variant == "vifb":
        return 0.5 * (_vifb_e(x, f) + _vifb_e(y, f))
    raise InputError(f"unknown RMSE variant {variant!r}; choose standard or vifb")


def PSNR(
    fused: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    *,
    variant: Literal["standard", "tang", "cddfuse", "vifb"] = "standard",
    data_range: float = 255.0,
) -> float:
    """Peak signal-to-noise ratio of the fused image against both sources (dB).

    * ``"standard"``: ``10 log10(255² / MSE_avg)`` with ``MSE_avg = ½[MSE(A,F) + MSE(B,F)]`` on
      0–255 (Jagalingam & Hegde's form with the two-source average).
    * ``"tang"`` (``PSNR_evaluation.m``): ``20 log10(255 / sqrt(MSE_avg on [0, 1]))``, i.e. the
      standard value + 20 log10(255) = **+48.1308 dB** exactly.
    * ``"cddfuse"`` (``Evaluator.PSNR``): peak = ``max(F)`` instead of 255.
    * ``"vifb"`` (``metricsPsnr.m``): ``20 log10(255 / sqrt(½[e(A,F) + e(B,F)]))`` with VIFB's
      ``e = sqrt(Σ d²)/(MN)`` (see :func:`RMSE`).

    Reference: P. Jagalingam, A. V. Hegde, "A review of quality metrics for fused image",
    Aquatic Procedia 4, 133–142, 2015, doi:10.1016/j.aqpro.2015.02.019.

    Args:
        fused: ``(H, W)`` fused image, 0–255 scale.
        a: ``(H, W)`` first source.
        b: ``(H, W)`` second source.
        variant: see above.
        data_range: value of white in the inputs.

    Returns:
        PSNR in dB (higher is better; ``inf`` if the fused image equals both sources).
    """
    f, x, y = _three(fused, a, b, data_range)
    with np.errstate(divide="ignore", invalid="ignore"):
        if variant == "vifb":
            return float(20.0 * np.log10(255.0 / np.sqrt(0.5 * (_vifb_e(x, f) + _vifb_e(y, f)))))
        mse = np.float64(0.5 * (_mse_pair(x, f) + _mse_pair(y, f)))
        if variant == "standard":
            return float(10.0 * np.log10(255.0**2 / mse))
        if variant == "tang":
            return float(20.0 * np.log10(255.0 / np.sqrt(mse / 65025.0)))
        if variant == "cddfuse":
            return float(10.0 * np.log10(float(f.max()) ** 2 / mse))
    raise InputError(f"unknown PSNR variant {variant!r}; choose standard, tang, cddfuse or vifb")
