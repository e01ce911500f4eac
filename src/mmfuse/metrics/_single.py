"""No-reference metrics of the fused image alone: EN, SD, SF, AG, EI.

All take a single-channel image on the 0–255 grey-level scale (or pass ``data_range``); colour
handling and grey conversion belong to the profiles (:mod:`mmfuse.metrics.profiles`).
"""
from __future__ import annotations

from typing import Literal

import numpy as np
from mmfuse.errors import InputError
from mmfuse.metrics._common import as_grey, entropy_from_counts, grey_levels, sep_filter

__all__ = ["EN", "SD", "SF", "AG", "EI"]


def EN(
    fused: np.ndarray,
    *,
    quantization: Literal["floor", "round", "matlab_round"] = "round",
    base: float = 2.0,
    data_range: float = 255.0,
) -> float:
    """Shannon entropy of the fused image's 256-bin grey-level histogram.

    .. math:: EN = -\\sum_{l=0}^{255} p_l \\log_2 p_l, \\qquad 0 \\log 0 = 0

    Reference: J. W. Roberts, J. van Aardt, F. Ahmed, "Assessment of image fusion procedures
    using entropy, image quality, and multispectral classification", J. Appl. Remote Sens. 2(1),
    023522, 2008, doi:10.1117/1.2945910.

    Conventions: every toolbox uses log₂ and 256 integer bins; they differ only in how a
    non-integer value is binned: ``"floor"`` (VIFB ``metricsEntropy.m``), ``"round"`` (CDDFuse
    ``Evaluator.EN``: ``np.uint8(np.round(x))``), ``"matlab_round"`` (MATLAB ``uint8`` cast).
    The Tang toolbox calls MATLAB ``entropy`` on uint8 data, where all three agree.

    Args:
        fused: ``(H, W)`` image, 0–255 scale (see ``data_range``).
        quantization: how values are mapped to the integer bins 0..255 (clipped).
        base: logarithm base (2 gives bits, as all toolboxes report).
        data_range: value of white in ``fused`` (1.0 for ``[0, 1]`` floats).

    Returns:
        Entropy in bits (for ``base=2``), in ``[0, 8]``.
    """
    f = as_grey(fused, "fused", data_range=data_range)
    counts = np.bincount(grey_levels(f, quantization).ravel(), minlength=256)
    return entropy_from_counts(counts, base)


def SD(fused: np.ndarray, *, data_range: float = 255.0) -> float:
    """Standard deviation of the fused image (population form).

    .. math:: SD = \\sqrt{\\frac{1}{MN} \\sum_{i,j} (F_{ij} - \\mu_F)^2}

    Reference: J. Ma, Y. Ma, C. Li, "Infrared and visible image fusion methods and
    applications: A survey", Information Fusion 45, 153–178, 2019,
    doi:10.1016/j.inffus.2018.02.004. VIFB names this metric "Variance" (``metricsVariance.m``)
    but returns the standard deviation; Tang (``SD_evaluation.m``), CDDFuse (``np.std``) and VIFB
    all use the population (1/MN) form.

    Args:
        fused: ``(H, W)`` image, 0–255 scale.
        data_range: value of white in ``fused``.

    Returns:
        SD in grey levels (≥ 0).
    """
    f = as_grey(fused, "fused", data_range=data_range)
    return float(np.sqrt(np.mean((f - f.mean()) ** 2)))


def SF(
    fused: np.ndarray,
    *,
    normalization: Literal["mean", "MN"] = "mean",
    data_range: float = 255.0,
) -> float:
    """Spatial frequency: RMS of the horizontal and vertical first differences.

    .. math::

        RF^2 = \\operatorname{mean}_{i,j}(F_{i,j} - F_{i,j-1})^2, \\quad
        CF^2 = \\operatorname{mean}_{i,j}(F_{i,j} - F_{i-1,j})^2, \\quad
        SF = \\sqrt{RF^2 + CF^2}

    Reference: A. M. Eskicioglu, P. S. Fisher, "Image quality measures and their performance",
    IEEE Trans. Commun. 43(12), 2959–2965, 1995, doi:10.1109/26.477498.

    Conventions: ``"mean"`` divides each sum of squared differences by the number of
    differences, M(N−1) and (M−1)N (Tang ``SF_evaluation.m``, CDDFuse ``Evaluator.SF``);
    ``"MN"`` divides both sums by MN (VIFB ``metricsSpatial_frequency.m``), about 0.13 % lower.

    Args:
        fused: ``(H, W)`` image, 0–255 scale.
        normalization: ``"mean"`` or ``"MN"`` (see above).
        data_range: value of white in ``fused``.

    Returns:
        SF in grey levels per pixel (≥ 0).
    """
    f = as_grey(fused, "fused", data_range=data_range)
    dh = np.diff(f, axis=1)
    dv = np.diff(f, axis=0)
    if normalization == "mean":
        return float(np.sqrt(np.mean(dh * dh) + np.mean(dv * dv)))
    if normalization == "MN":
        return float(np.sqrt((np.sum(dh * dh) + np.sum(dv * dv)) / f.size))
    raise InputError(f"unknown SF normalization {normalization!r}; choose mean or MN")


def AG(
    fused: np.ndarray,
    *,
    divisor: Literal["(M-1)(N-1)", "MN"] = "(M-1)(N-1)",
    data_range: float = 255.0,
) -> float:
    """Average gradient.

    .. math:: AG = \\frac{1}{D} \\sum_{i,j} \\sqrt{\\frac{g_x(i,j)^2 + g_y(i,j)^2}{2}}

    with ``g_x, g_y`` from MATLAB ``gradient`` (central differences inside, one-sided on the
    border; identical to ``numpy.gradient``).

    Reference: G. Cui, H. Feng, Z. Xu, Q. Li, Y. Chen, "Detail preserved fusion of visible and
    infrared images using regional saliency extraction and multi-scale image decomposition",
    Optics Communications 341, 199–209, 2015, doi:10.1016/j.optcom.2014.12.032.

    Conventions: ``D = (M−1)(N−1)`` in Tang (``AG_evaluation.m``) and VIFB
    (``metricsAvg_gradient.m``); ``D = MN`` (a plain mean) in CDDFuse ``Evaluator.AG``, about
    0.5 % lower.

    Args:
        fused: ``(H, W)`` image, 0–255 scale.
        divisor: ``"(M-1)(N-1)"`` or ``"MN"``.
        data_range: value of white in ``fused``.

    Returns:
        AG in grey levels per pixel (≥ 0).
    """
    f = as_grey(fused, "fused", data_range=data_range)
    gy, gx = np.gradient(f)
    s = np.sqrt((gx * gx + gy * gy) / 2.0).sum()
    m, n = f.shape
    if divisor == "(M-1)(N-1)":
        return float(s / ((m - 1) * (n - 1)))
    if divisor == "MN":
        return float(s / (m * n))
    raise InputError(f"unknown AG divisor {divisor!r}; choose '(M-1)(N-1)' or 'MN'")


_SMOOTH = np.array([1.0, 2.0, 1.0])
_DIFF = np.array([1.0, 0.0, -1.0])  # fspecial('sobel') = outer(_DIFF, _SMOOTH)


def EI(fused: np.ndarray, *, data_range: float = 255.0) -> float:
    """Edge intensity: mean Sobel gradient magnitude of the fused image.

    .. math:: EI = \\operatorname{mean}_{i,j} \\sqrt{s_x(i,j)^2 + s_y(i,j)^2}

    where ``s_x``, ``s_y`` are the correlations of ``F`` with ``fspecial('sobel')`` =
    ``[1 2 1; 0 0 0; -1 -2 -1]`` and its transpose, with replicated borders (MATLAB
    ``imfilter(F, h, 'replicate')``).

    Reference: B. Rajalingam, R. Priya, "Hybrid multimodality medical image fusion technique for
    feature enhancement in medical diagnosis", Int. J. Eng. Sci. Invention, 2018; code: VIFB
    ``metricsEdge_intensity.m`` (the only toolbox here that reports EI).

    Args:
        fused: ``(H, W)`` image, 0–255 scale.
        data_range: value of white in ``fused``.

    Returns:
        EI in grey levels (≥ 0).
    """
    f = as_grey(fused, "fused", data_range=data_range)
    gx = sep_filter(f, _DIFF, _SMOOTH, shape="same", mode="nearest")
    gy = sep_filter(f, _SMOOTH, _DIFF, shape="same", mode="nearest")
    return float(np.mean(np.sqrt(gx * gx + gy * gy)))
