"""Noise operators: Gaussian, Poisson, salt-and-pepper (visible); stripe and thermal noise (infrared).

Every operator has the signature ``op(img, rng, **params) -> (out, params_used)``:

- ``img``: float image in ``[0, 1]``, ``(H, W)`` gray or ``(H, W, 3)`` RGB;
- ``rng``: :class:`numpy.random.Generator` or an ``int`` seed (no global random state);
- ``out``: float32 array of the same shape, clipped to ``[0, 1]``;
- ``params_used``: JSON-serialisable dict of the parameters actually applied.

Noise levels are given **on the 0–255 scale** (``sigma=25`` adds noise of standard deviation
25/255 to the ``[0, 1]`` image), as in the papers and scripts these operators follow.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from mmfuse.degrade._common import SCALE_255, RngLike, as_rng, check_image, finish, require
from mmfuse.degrade.kernels import smooth_field

__all__ = [
    "gaussian_noise",
    "poisson_noise",
    "salt_pepper_noise",
    "stripe_noise",
    "thermal_noise",
]


def _nonneg(op: str, name: str, value: float) -> float:
    value = float(value)
    require(math.isfinite(value) and value >= 0, op, f"{name} must be a finite number >= 0, got {value}")
    return value


def gaussian_noise(img: np.ndarray, rng: RngLike, *, sigma: float = 25.0) -> tuple[np.ndarray, dict[str, Any]]:
    """Additive white Gaussian noise, independent per pixel and channel, then clipping.

    ``out = clip(img + N(0, (sigma/255)^2))``. TG-ECNet's DeMMI-RF uses σ = 15, 25, 50
    (Sun et al., ICML 2025, §4.1; the 0–255 scale is the usual convention, ``tg-ecnet.md``
    §1.2); Text-IF's EMS "random noise" uses σ = 10 (visible) and 20 (infrared) before a
    Poisson step (XunpengYi/EMS ``EMS_make_degradation_func``).

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` float image in ``[0, 1]``.
        rng: Generator or int seed.
        sigma: Noise standard deviation on the 0–255 scale, ``>= 0``.

    Returns:
        ``(out, {"sigma": sigma})`` with ``out`` float32, same shape, in ``[0, 1]``.
    """
    x = check_image(img, "gaussian_noise")
    sigma = _nonneg("gaussian_noise", "sigma", sigma)
    gen = as_rng(rng)
    noise = gen.standard_normal(x.shape, dtype=np.float32)
    out = x + noise * np.float32(sigma / SCALE_255)
    return finish(out), {"sigma": sigma}


def poisson_noise(img: np.ndarray, rng: RngLike, *, peak: float = 80.0) -> tuple[np.ndarray, dict[str, Any]]:
    """Signal-dependent shot noise: ``out = Poisson(img · peak) / peak``.

    ``peak`` is the expected photon count of a white pixel; the noise variance is
    ``img / peak``, so smaller ``peak`` means stronger noise. Text-IF's EMS scripts use
    ``peak`` drawn from 70–90 (visible) and 80 (infrared) (XunpengYi/EMS, ``main_vis_random_noise.py``,
    ``main_ir_noise.py``).

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` float image in ``[0, 1]``.
        rng: Generator or int seed.
        peak: Photon count at intensity 1, ``> 0``.

    Returns:
        ``(out, {"peak": peak})``; ``out`` float32, same shape, in ``[0, 1]``.
    """
    x = check_image(img, "poisson_noise")
    peak = float(peak)
    require(math.isfinite(peak) and peak > 0, "poisson_noise", f"peak must be > 0, got {peak}")
    gen = as_rng(rng)
    counts = gen.poisson(x.astype(np.float64) * peak)
    return finish((counts / peak).astype(np.float32)), {"peak": peak}


def salt_pepper_noise(
    img: np.ndarray, rng: RngLike, *, amount: float = 0.004, salt_ratio: float = 0.5
) -> tuple[np.ndarray, dict[str, Any]]:
    """Impulse noise: a random fraction of pixels is set to white (salt) or black (pepper).

    The same pixel positions are hit in every channel (dead or saturated sensor pixels).
    Text-IF's EMS infrared noise uses salt probability 3e-6 and pepper probability 1e-6,
    i.e. ``amount = 4e-6``, ``salt_ratio = 0.75`` (XunpengYi/EMS ``main_ir_noise.py``).

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` float image in ``[0, 1]``.
        rng: Generator or int seed.
        amount: Probability that a pixel is replaced, in ``[0, 1]``.
        salt_ratio: Fraction of the replaced pixels that become white, in ``[0, 1]``.

    Returns:
        ``(out, {"amount": ..., "salt_ratio": ...})``; ``out`` float32, same shape.
    """
    x = check_image(img, "salt_pepper_noise")
    amount = float(amount)
    salt_ratio = float(salt_ratio)
    require(0.0 <= amount <= 1.0, "salt_pepper_noise", f"amount must be in [0, 1], got {amount}")
    require(0.0 <= salt_ratio <= 1.0, "salt_pepper_noise", f"salt_ratio must be in [0, 1], got {salt_ratio}")
    gen = as_rng(rng)
    u = gen.random(x.shape[:2])
    out = x.copy()
    salt = u < amount * salt_ratio
    pepper = (u >= amount * salt_ratio) & (u < amount)
    out[salt] = 1.0
    out[pepper] = 0.0
    return finish(out), {"amount": amount, "salt_ratio": salt_ratio}


def stripe_noise(
    img: np.ndarray,
    rng: RngLike,
    *,
    column_sigma: float = 5.0,
    pixel_sigma: float = 4.0,
    row_sigma: float = 0.0,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Infrared fixed-pattern stripe noise: column-constant offsets plus per-pixel noise.

    ``out = clip(img + c[col] + r[row] + n[row, col])`` with ``c ~ N(0, column_sigma)`` drawn
    once per column and tiled down the rows (the non-uniform column read-out of uncooled
    focal-plane arrays), optional row offsets ``r ~ N(0, row_sigma)`` and white noise
    ``n ~ N(0, pixel_sigma)``; all on the 0–255 scale, the same offsets in every channel.

    Parameter ranges of the recipes this follows:

    - Text-IF EMS (used for TG-ECNet's stripe subset, ``tg-ecnet.md`` §1.2):
      ``column_sigma ~ U(3, 8)``, ``pixel_sigma ~ U(3, 5)`` (XunpengYi/EMS
      ``main_vis_strikp_noise.py``).
    - DRMF (Tang et al., ACM MM 2024): ``column_sigma ~ U(20, 25)``, ``pixel_sigma ~ U(25, 30)``
      (Linfeng-Tang/DRMF ``utils/noise_tiaowen.py``).

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` float image in ``[0, 1]``.
        rng: Generator or int seed.
        column_sigma: Std of the per-column offsets, 0–255 scale, ``>= 0``.
        pixel_sigma: Std of the per-pixel white noise, 0–255 scale, ``>= 0``.
        row_sigma: Std of per-row offsets (horizontal stripes), 0–255 scale, ``>= 0``.

    Returns:
        ``(out, params_used)``; ``out`` float32, same shape, in ``[0, 1]``.
    """
    x = check_image(img, "stripe_noise")
    column_sigma = _nonneg("stripe_noise", "column_sigma", column_sigma)
    pixel_sigma = _nonneg("stripe_noise", "pixel_sigma", pixel_sigma)
    row_sigma = _nonneg("stripe_noise", "row_sigma", row_sigma)
    gen = as_rng(rng)
    h, w = x.shape[:2]
    cols = gen.standard_normal(w, dtype=np.float32) * np.float32(column_sigma / SCALE_255)
    rows = gen.standard_normal(h, dtype=np.float32) * np.float32(row_sigma / SCALE_255)
    pixel = gen.standard_normal((h, w), dtype=np.float32) * np.float32(pixel_sigma / SCALE_255)
    field = pixel + cols[None, :] + rows[:, None]
    out = x + (field[:, :, None] if x.ndim == 3 else field)
    return finish(out), {"column_sigma": column_sigma, "pixel_sigma": pixel_sigma, "row_sigma": row_sigma}


def thermal_noise(
    img: np.ndarray,
    rng: RngLike,
    *,
    sigma: float = 6.0,
    lowfreq_sigma: float = 0.0,
    lowfreq_scale: float = 0.15,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Infrared sensor noise: temporal white noise plus an optional smooth non-uniformity field.

    ``out = clip(img + n + s)`` with white noise ``n ~ N(0, sigma)`` (0–255 scale, the
    temporal/thermal noise of the detector) and ``s`` a smooth random offset field of standard
    deviation ``lowfreq_sigma`` (0–255 scale): Gaussian-filtered white noise with filter width
    ``lowfreq_scale · min(H, W)``, modelling the low-frequency fixed-pattern non-uniformity of
    uncooled microbolometers. Text-IF's EMS infrared noise uses Gaussian σ = 20 followed by
    Poisson and salt-and-pepper steps (XunpengYi/EMS ``main_ir_noise.py``); the smooth field is
    an mmfuse addition (no paper gives its parameters).

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` float image in ``[0, 1]``.
        rng: Generator or int seed.
        sigma: White-noise std, 0–255 scale, ``>= 0``.
        lowfreq_sigma: Std of the smooth offset field, 0–255 scale, ``>= 0`` (0 disables it).
        lowfreq_scale: Gaussian filter width of the field as a fraction of ``min(H, W)``, ``> 0``.

    Returns:
        ``(out, params_used)``; ``out`` float32, same shape, in ``[0, 1]``.
    """
    x = check_image(img, "thermal_noise")
    sigma = _nonneg("thermal_noise", "sigma", sigma)
    lowfreq_sigma = _nonneg("thermal_noise", "lowfreq_sigma", lowfreq_sigma)
    lowfreq_scale = float(lowfreq_scale)
    require(lowfreq_scale > 0, "thermal_noise", f"lowfreq_scale must be > 0, got {lowfreq_scale}")
    gen = as_rng(rng)
    h, w = x.shape[:2]
    field = gen.standard_normal((h, w), dtype=np.float32) * np.float32(sigma / SCALE_255)
    if lowfreq_sigma > 0:
        smooth = smooth_field(gen.standard_normal((h, w)), lowfreq_scale * min(h, w))
        std = float(smooth.std())
        if std > 0:
            field += (smooth * (lowfreq_sigma / SCALE_255 / std)).astype(np.float32)
    out = x + (field[:, :, None] if x.ndim == 3 else field)
    return finish(out), {"sigma": sigma, "lowfreq_sigma": lowfreq_sigma, "lowfreq_scale": lowfreq_scale}
