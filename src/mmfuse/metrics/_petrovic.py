"""Gradient-preservation metrics of the Petrović family: Qabf, Nabf (Kumar), Nabf (Petrović).

Two different parameterisations are in circulation and must not be mixed:

* the "online" Q^{AB/F} (Xydeas & Petrović 2000 constants, Sobel via ``conv2``, zero padding,
  weights g^1) used as "Qabf" by the Tang, CDDFuse, VIFB and MEFB toolboxes;
* B. K. Shreyamsha Kumar's ``objective_fusion_perform_fn.m`` (Petrović 2005 constants, Sobel/8
  with reflected borders, Q = sqrt(Q_g·Q_α), weights g^1.5 above a threshold) from which the
  fusion-artefact measures N_abf come.
"""
from __future__ import annotations

import numpy as np
from mmfuse.metrics._common import as_grey, cached, check_same_shape, sep_filter

__all__ = ["Qabf", "Nabf", "Nabf_petrovic", "kumar_petrovic_measures"]

_HALF_PI = np.pi / 2.0
_SMOOTH = np.array([1.0, 2.0, 1.0])
_UP = np.array([-1.0, 0.0, 1.0])
_DOWN = np.array([1.0, 0.0, -1.0])


def _qabf_edges(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradient strength and orientation of the online Qabf (``conv2(x, h, 'same')``)."""
    # conv2 with h3 = [-1 0 1; -2 0 2; -1 0 1] and h1 = [1 2 1; 0 0 0; -1 -2 -1] is correlation
    # with the flipped kernels outer([1 2 1], [1 0 -1]) and outer([-1 0 1], [1 2 1]).
    sx = sep_filter(x, _SMOOTH, _DOWN, shape="same", mode="constant")
    sy = sep_filter(x, _UP, _SMOOTH, shape="same", mode="constant")
    g = sx * sx
    g += sy * sy
    np.sqrt(g, out=g)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.divide(sy, sx, out=sy)
    np.arctan(alpha, out=alpha)
    alpha[sx == 0] = _HALF_PI
    return g, alpha


def _qabf_preservation(g_s: np.ndarray, a_s: np.ndarray, g_f: np.ndarray, a_f: np.ndarray) -> np.ndarray:
    # g_F/g_A if g_A > g_F, g_A/g_F if g_A < g_F (both = min/max), and g_F if they are equal.
    # In-place arithmetic: the same operations as the formula, without temporaries.
    q_g = np.minimum(g_s, g_f)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(q_g, np.maximum(g_s, g_f), out=q_g)
    np.copyto(q_g, g_f, where=g_s == g_f)
    q_g -= 0.5
    q_g *= -15.0
    np.exp(q_g, out=q_g)
    q_g += 1.0
    np.divide(0.9994, q_g, out=q_g)
    q_a = np.subtract(a_s, a_f)
    np.abs(q_a, out=q_a)
    q_a /= _HALF_PI
    np.subtract(1.0, q_a, out=q_a)  # A^{XF} = 1 - |α_X - α_F|/(π/2)
    q_a -= 0.8
    q_a *= -22.0
    np.exp(q_a, out=q_a)
    q_a += 1.0
    np.divide(0.9879, q_a, out=q_a)
    q_g *= q_a
    return q_g


def Qabf(
    fused: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    *,
    gradient_scale: float = 1.0,
    data_range: float = 255.0,
) -> float:
    """Edge-information preservation Q^{AB/F} (the "online" variant every toolbox uses).

    Sobel responses ``s_x = conv2(X, [-1 0 1; -2 0 2; -1 0 1], 'same')`` and
    ``s_y = conv2(X, [1 2 1; 0 0 0; -1 -2 -1], 'same')`` (zero padding), ``g = sqrt(s_x²+s_y²)``,
    ``α = atan(s_y/s_x)`` (π/2 where ``s_x = 0``). For each source X:

    .. math::

        G^{XF} = \\begin{cases} g_F/g_X & g_X > g_F \\\\ g_F & g_X = g_F \\\\ g_X/g_F & g_X < g_F
                 \\end{cases},\\qquad A^{XF} = 1 - \\frac{|α_X - α_F|}{π/2}

        Q^{XF} = \\frac{0.9994}{1+e^{-15(G^{XF}-0.5)}}\\cdot\\frac{0.9879}{1+e^{-22(A^{XF}-0.8)}},
        \\qquad Q^{AB/F} = \\frac{\\sum (Q^{AF} g_A + Q^{BF} g_B)}{\\sum (g_A + g_B)}

    The middle case (``g_F`` instead of 1 when the strengths are equal) is a quirk of the
    toolbox code, kept because all toolboxes have it; on 0–255 data it changes Q_g only where
    ``g_X = g_F`` is tiny.

    Reference: C. S. Xydeas, V. Petrović, "Objective image fusion performance measure",
    Electronics Letters 36(4), 308–309, 2000, doi:10.1049/el:20000267. Code: Tang
    ``analysis_Qabf.m``, VIFB/MEFB ``metricsQabf.m``, CDDFuse ``Evaluator.Qabf`` (identical).

    Args:
        fused: ``(H, W)`` fused image, 0–255 scale.
        a: ``(H, W)`` first source.
        b: ``(H, W)`` second source.
        gradient_scale: extra factor applied to all three images first; VIFB computes on
            ``255*im2double(x)`` of 0–255 doubles, i.e. ``gradient_scale=255`` (only the
            equal-strength quirk notices the difference).
        data_range: value of white in the inputs.

    Returns:
        Qabf in [0, 1] (higher is better); symmetric in ``a`` and ``b``. NaN if both sources are
        constant.
    """
    f = as_grey(fused, "fused", data_range=data_range)
    x = as_grey(a, "a", data_range=data_range)
    y = as_grey(b, "b", data_range=data_range)
    check_same_shape(fused=f, a=x, b=y)
    s = gradient_scale
    g_a, a_a = cached("qabf", x, (s,), lambda: _qabf_edges(x * s if s != 1.0 else x))
    g_b, a_b = cached("qabf", y, (s,), lambda: _qabf_edges(y * s if s != 1.0 else y))
    g_f, a_f = _qabf_edges(f * s if s != 1.0 else f)
    q_af = _qabf_preservation(g_a, a_a, g_f, a_f)
    q_bf = _qabf_preservation(g_b, a_b, g_f, a_f)
    den = np.sum(g_a + g_b)
    q_af *= g_a
    q_bf *= g_b
    q_af += q_bf
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.sum(q_af) / den)




def _kumar_edges(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # sobel_fn.m: reflect (edge not repeated) by one pixel, then correlation with
    # [-1 0 1; -2 0 2; -1 0 1]/8 (gv) and [-1 -2 -1; 0 0 0; 1 2 1]/8 (gh).
    gv = sep_filter(x, _SMOOTH, _UP / 8.0, shape="same", mode="mirror")
    gh = sep_filter(x, _UP / 8.0, _SMOOTH, shape="same", mode="mirror")
    g = np.sqrt(gh * gh + gv * gv)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where((gv == 0) & (gh == 0), 0.0, np.arctan(gv / gh))
    return g, alpha


def _kumar_preservation(g_s: np.ndarray, a_s: np.ndarray, g_f: np.ndarray, a_f: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where((g_s == 0) | (g_f == 0), 0.0, np.minimum(g_s, g_f) / np.maximum(g_s, g_f))
    orient = np.abs(np.abs(a_s - a_f) - _HALF_PI) * 2.0 / np.pi
    q_g = 0.9999 / (1.0 + np.exp(-19.0 * (ratio - 0.5)))
    q_a = 0.9995 / (1.0 + np.exp(-22.0 * (orient - 0.5)))
    return np.sqrt(q_g * q_a)


def kumar_petrovic_measures(
    fused: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    *,
    w_min: float = 0.001,
    threshold: float = 2.0,
    data_range: float = 255.0,
) -> dict[str, float]:
    """All outputs of Kumar's ``objective_fusion_perform_fn.m``: QABF, LABF, NABF1, NABF.

    Args:
        fused: ``(H, W)`` fused image, 0–255 scale.
        a: ``(H, W)`` first source.
        b: ``(H, W)`` second source.
        w_min: weight of pixels whose source gradient is below ``threshold`` (0.001 in the
            MATLAB code; the Python ports use 0).
        threshold: edge threshold ``Td`` on the Sobel/8 responses (2 on 0–255 data).
        data_range: value of white in the inputs.

    Returns:
        ``{"QABF": ..., "LABF": ..., "NABF_petrovic": ..., "NABF_modified": ...}``.
    """
    f = as_grey(fused, "fused", data_range=data_range)
    x = as_grey(a, "a", data_range=data_range)
    y = as_grey(b, "b", data_range=data_range)
    check_same_shape(fused=f, a=x, b=y)
    g_a, a_a = cached("kumar", x, (), lambda: _kumar_edges(x))
    g_b, a_b = cached("kumar", y, (), lambda: _kumar_edges(y))
    g_f, a_f = _kumar_edges(f)
    q_af = _kumar_preservation(g_a, a_a, g_f, a_f)
    q_bf = _kumar_preservation(g_b, a_b, g_f, a_f)
    w_a = np.where(g_a >= threshold, g_a**1.5, w_min)
    w_b = np.where(g_b >= threshold, g_b**1.5, w_min)
    w_sum = np.sum(w_a + w_b)
    loss = (g_f <= g_a) | (g_f <= g_b)
    artefact = (g_f > g_a) & (g_f > g_b)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "QABF": float(np.sum(q_af * w_a) / w_sum + np.sum(q_bf * w_b) / w_sum),
            "LABF": float(np.sum(loss * ((1 - q_af) * w_a + (1 - q_bf) * w_b)) / w_sum),
            "NABF_petrovic": float(np.sum(artefact * (2 - q_af - q_bf) * (w_a + w_b)) / w_sum),
            "NABF_modified": float(np.sum(artefact * ((1 - q_af) * w_a + (1 - q_bf) * w_b)) / w_sum),
        }


def Nabf(
    fused: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    *,
    w_min: float = 0.001,
    data_range: float = 255.0,
) -> float:
    """Fusion artefacts N_abf, modified by B. K. Shreyamsha Kumar (what "Nabf" means in tables).

    With Sobel/8 responses on reflected borders, ``g`` and ``α = atan(g_v/g_h)``,
    ``Q^{XF} = sqrt(Q_g Q_α)`` with ``Q_g = 0.9999/(1+e^{-19(G-0.5)})``,
    ``Q_α = 0.9995/(1+e^{-22(A-0.5)})``, ``G = min/max`` of the strengths,
    ``A = ||α_X-α_F| - π/2|·2/π``, and weights ``w_X = g_X^{1.5}`` where ``g_X ≥ 2`` (else
    ``w_min``):

    .. math::

        N_{abf} = \\frac{\\sum n \\,[(1-Q^{AF}) w_A + (1-Q^{BF}) w_B]}{\\sum (w_A + w_B)},
        \\qquad n = [g_F > g_A \\wedge g_F > g_B]

    Reference: B. K. Shreyamsha Kumar, "Multifocus and multispectral image fusion based on pixel
    significance using discrete cosine harmonic wavelet transform", Signal, Image and Video
    Processing 7(6), 1125–1143, 2013, doi:10.1007/s11760-012-0361-x. Code:
    ``objective_fusion_perform_fn.m`` (shipped with VIFB's CBF method), Tang ``analysis_nabf.m``.

    Toolbox note: Tang's ``analysis_Reference.m`` calls ``analysis_nabf(IR, VI, F)`` although the
    function is declared ``analysis_nabf(F, A, B)``; its "Nabf" column is therefore this metric
    with the infrared image in the fused slot. The ``tang`` profile reproduces that call; call
    this function with the intended order ``Nabf(F, A, B)`` otherwise.

    Args:
        fused: ``(H, W)`` fused image, 0–255 scale.
        a: ``(H, W)`` first source.
        b: ``(H, W)`` second source.
        w_min: weight below the edge threshold (0.001 as in the MATLAB code).
        data_range: value of white in the inputs.

    Returns:
        N_abf in [0, 1] (lower is better); symmetric in ``a`` and ``b``.
    """
    return kumar_petrovic_measures(fused, a, b, w_min=w_min, data_range=data_range)["NABF_modified"]


def Nabf_petrovic(
    fused: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    *,
    w_min: float = 0.001,
    data_range: float = 255.0,
) -> float:
    """Fusion artefacts N_abf as defined by Petrović ("NABF1" in Kumar's code).

    Same edge model as :func:`Nabf`, but

    .. math:: N_{abf} = \\frac{\\sum n\\,(2 - Q^{AF} - Q^{BF})(w_A + w_B)}{\\sum (w_A + w_B)}

    which is roughly ten times larger than the modified N_abf on the same images.

    Reference: V. Petrović, C. Xydeas, "Objective image fusion performance characterisation",
    Proc. ICCV 2005, vol. 2, 1866–1871, doi:10.1109/ICCV.2005.175. Code: Kumar's
    ``objective_fusion_perform_fn.m`` (output ``NABF1``).

    Args:
        fused: ``(H, W)`` fused image, 0–255 scale.
        a: ``(H, W)`` first source.
        b: ``(H, W)`` second source.
        w_min: weight below the edge threshold.
        data_range: value of white in the inputs.

    Returns:
        N_abf (Petrović) in [0, 2] (lower is better); symmetric in ``a`` and ``b``.
    """
    return kumar_petrovic_measures(fused, a, b, w_min=w_min, data_range=data_range)["NABF_petrovic"]
