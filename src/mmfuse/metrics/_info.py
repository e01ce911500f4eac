"""Histogram-based information metrics: CE, MI, NMI.

Images are single-channel, 0–255 scale; histograms have 256 bins of integer grey levels and are
built with ``numpy.bincount`` (a 256×256 joint histogram is one ``bincount`` of ``256·x + y``).
"""
from __future__ import annotations

from typing import Literal

import numpy as np

from mmfuse.errors import InputError
from mmfuse.metrics._common import (
    as_grey,
    cached,
    check_same_shape,
    entropy_from_counts,
    grey_levels,
    matlab_round,
    normalize1,
)

__all__ = ["CE", "MI", "NMI", "mutual_information"]

Quantization = Literal["floor", "round", "matlab_round"]


def _joint_counts(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.bincount((x * 256 + y).ravel(), minlength=65536).reshape(256, 256)


def mutual_information(x: np.ndarray, y: np.ndarray, *, base: float = 2.0) -> tuple[float, float, float]:
    """Mutual information of two integer level images (values 0..255, int64), and both entropies.

    Returns:
        ``(MI, H(x), H(y))`` with ``MI = H(x) + H(y) − H(x, y)``, in units of ``log base``.
    """
    joint = _joint_counts(x, y)
    hx = entropy_from_counts(joint.sum(axis=1), base)
    hy = entropy_from_counts(joint.sum(axis=0), base)
    return hx + hy - entropy_from_counts(joint, base), hx, hy


def _vifb_levels(x: np.ndarray) -> np.ndarray:
    # VIFB metricsMutinf.m: min-max to [0, 1] (zeros if constant), then double(int16(a*255)).
    lo, hi = float(x.min()), float(x.max())
    if hi == lo:
        return np.zeros(x.shape, np.int64)
    t = x - lo
    t /= hi - lo
    t *= 255.0
    return np.clip(matlab_round(t), 0, 255).astype(np.int64)


def MI(
    fused: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    *,
    base: float = 2.0,
    variant: Literal["exact", "tang", "vifb"] = "exact",
    quantization: Quantization = "round",
    data_range: float = 255.0,
) -> float:
    """Mutual information between each source and the fused image, summed.

    .. math:: MI = I(A;F) + I(B;F), \\qquad I(X;F) = H(X) + H(F) - H(X,F)

    on 256-bin (joint) histograms of integer grey levels.

    Reference: G. Qu, D. Zhang, P. Yan, "Information measure for performance of image fusion",
    Electronics Letters 38(7), 313–315, 2002, doi:10.1049/el:20020212.

    Conventions:

    * ``base``: 2 (bits) in Tang's toolbox (``MI_evaluation.m``); e (nats) in VIFB
      (``metricsMutinf.m``) and CDDFuse (``sklearn.metrics.mutual_info_score``). MI in nats is
      MI in bits × ln 2 exactly.
    * ``variant="exact"``: the textbook value (CDDFuse; Python ports of Tang's code).
    * ``variant="tang"``: Tang's ``Hab.m`` adds 1 to uint8 data, which saturates at 255, so
      levels 254 and 255 share one *joint* bin while the marginals keep them apart. The result
      is ≥ the exact MI whenever a 255 occurs (measured up to +0.13 bits on VIFB images).
    * ``variant="vifb"``: each image is first min–max stretched to 0..255 and rounded (half away
      from zero); for 8-bit images this relabels the occupied levels one-to-one, so the value
      equals the exact MI except for images spanning fewer than 256 levels with collisions.

    Args:
        fused: ``(H, W)`` fused image, 0–255 scale.
        a: ``(H, W)`` first source (infrared).
        b: ``(H, W)`` second source (visible).
        base: logarithm base.
        variant: ``"exact"``, ``"tang"`` or ``"vifb"`` (see above).
        quantization: binning of non-integer values for ``"exact"``/``"tang"``.
        data_range: value of white in the inputs.

    Returns:
        MI (≥ 0), in bits for ``base=2``; symmetric in ``a`` and ``b``.
    """
    f = as_grey(fused, "fused", data_range=data_range)
    x = as_grey(a, "a", data_range=data_range)
    y = as_grey(b, "b", data_range=data_range)
    check_same_shape(fused=f, a=x, b=y)
    if variant == "vifb":
        lf = _vifb_levels(f)
        la = cached("mi_vifb", x, (), lambda: _vifb_levels(x))
        lb = cached("mi_vifb", y, (), lambda: _vifb_levels(y))
        return mutual_information(la, lf, base=base)[0] + mutual_information(lb, lf, base=base)[0]
    if variant not in ("exact", "tang"):
        raise InputError(f"unknown MI variant {variant!r}; choose exact, tang or vifb")
    lf = grey_levels(f, quantization)
    la = cached("levels", x, (quantization,), lambda: grey_levels(x, quantization))
    lb = cached("levels", y, (quantization,), lambda: grey_levels(y, quantization))
    if variant == "exact":
        return mutual_information(la, lf, base=base)[0] + mutual_information(lb, lf, base=base)[0]
    total = 0.0
    hf = entropy_from_counts(np.bincount(lf.ravel(), minlength=256), base)
    jf = np.minimum(lf, 254)  # uint8(x) + 1 saturates: 254 and 255 share a joint bin
    for ls in (la, lb):
        hs = entropy_from_counts(np.bincount(ls.ravel(), minlength=256), base)
        hj = entropy_from_counts(_joint_counts(np.minimum(ls, 254), jf), base)
        total += hs + hf - hj
    return total


def NMI(fused: np.ndarray, a: np.ndarray, b: np.ndarray, *, data_range: float = 255.0) -> float:
    """Normalised mutual information of Hossny et al.

    .. math:: NMI = 2\\left[\\frac{I(A;F)}{H(A)+H(F)} + \\frac{I(B;F)}{H(B)+H(F)}\\right]

    with log₂, 256 bins, after Z. Liu's ``normalize1`` of every image (min–max stretch to
    0..255, rounded half away from zero). Range [0, 2].

    Reference: M. Hossny, S. Nahavandi, D. Creighton, "Comments on 'Information measure for
    performance of image fusion'", Electronics Letters 44(18), 1066–1067, 2008,
    doi:10.1049/el:20081754. Code: Z. Liu's ``metricMI.m`` (sw=1) / MEFB ``metricsNMI.m``.
    This is *not* scikit-image's ``normalized_mutual_information`` (Studholme's
    (H(A)+H(B))/H(A,B), range [1, 2]).

    Args:
        fused: ``(H, W)`` fused image, 0–255 scale.
        a: ``(H, W)`` first source.
        b: ``(H, W)`` second source.
        data_range: value of white in the inputs.

    Returns:
        NMI in [0, 2] (NaN if an image is constant but not all zero, as in the MATLAB code).
    """
    f = as_grey(fused, "fused", data_range=data_range)
    x = as_grey(a, "a", data_range=data_range)
    y = as_grey(b, "b", data_range=data_range)
    check_same_shape(fused=f, a=x, b=y)
    nf, na, nb = normalize1(f), normalize1(x), normalize1(y)
    if not (np.all(np.isfinite(nf)) and np.all(np.isfinite(na)) and np.all(np.isfinite(nb))):
        return float("nan")
    lf, la, lb = (v.astype(np.int64) for v in (nf, na, nb))
    total = 0.0
    for ls in (la, lb):
        mi, hs, hf = mutual_information(ls, lf, base=2.0)
        total += mi / (hs + hf) if hs + hf > 0 else 0.0
    return 2.0 * total


def _kl_bits(p_counts: np.ndarray, q_counts: np.ndarray) -> float:
    p = p_counts / p_counts.sum()
    q = q_counts / q_counts.sum()
    m = (p > 0) & (q > 0)
    return float(np.sum(p[m] * np.log2(p[m] / q[m])))


def CE(
    fused: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    *,
    quantization: Quantization = "round",
    data_range: float = 255.0,
) -> float:
    """"Cross entropy" of VIFB: mean relative entropy of each source's histogram to the fused one.

    .. math::

        CE = \\tfrac12\\left[\\sum_l p_A(l)\\log_2\\frac{p_A(l)}{p_F(l)} +
             \\sum_l p_B(l)\\log_2\\frac{p_B(l)}{p_F(l)}\\right]

    summed over the grey levels where both probabilities are non-zero (a Kullback–Leibler
    divergence restricted to the common support, as coded; lower is better).

    Reference: D. M. Bulanon, T. F. Burks, V. Alchanatis, "Image fusion of visible and thermal
    images for fruit detection", Biosystems Engineering 103(1), 12–22, 2009,
    doi:10.1016/j.biosystemseng.2009.02.009. Code: VIFB ``metricsCross_entropy.m``.

    Args:
        fused: ``(H, W)`` fused image, 0–255 scale.
        a: ``(H, W)`` first source.
        b: ``(H, W)`` second source.
        quantization: binning of non-integer values.
        data_range: value of white in the inputs.

    Returns:
        CE in bits; symmetric in ``a`` and ``b``. (It can be negative because terms where only
        one histogram is non-zero are dropped.)
    """
    f = as_grey(fused, "fused", data_range=data_range)
    x = as_grey(a, "a", data_range=data_range)
    y = as_grey(b, "b", data_range=data_range)
    check_same_shape(fused=f, a=x, b=y)
    hf, ha, hb = (np.bincount(grey_levels(v, quantization).ravel(), minlength=256).astype(np.float64) for v in (f, x, y))
    return 0.5 * (_kl_bits(ha, hf) + _kl_bits(hb, hf))
