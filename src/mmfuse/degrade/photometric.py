"""Photometric operators: low light and over-exposure (visible), low contrast (infrared).

Signature and conventions as in :mod:`mmfuse.degrade.noise`: ``op(img, rng, **params) ->
(out, params_used)`` on float images in ``[0, 1]`` of shape ``(H, W)`` or ``(H, W, 3)``; the
output is float32, same shape, clipped to ``[0, 1]``.

LURE trains these tasks on *real* pairs (LOL, Exposure-Errors, EMS-Full; Ma et al.,
``lure-and-amg-fuse.md`` A.1) and EMS states that its low-light, over-exposure and infrared
low-contrast images are real; no paper gives a synthesis recipe. The operators below are the
synthetic generators recommended in ``lure-and-amg-fuse.md`` ("low-light: gamma/scale plus
noise; overexposure: gain and clip; IR low contrast: contrast compression") so that the same
tasks can be built from any clean pair.
"""
from __future__ import annotations

import math
from typing import Any, Union

import numpy as np

from mmfuse.degrade._common import SCALE_255, RngLike, as_rng, check_image, finish, require

__all__ = ["low_light", "over_exposure", "low_contrast"]


def low_light(
    img: np.ndarray,
    rng: RngLike,
    *,
    gain: float = 0.25,
    gamma: float = 2.0,
    sigma: float = 4.0,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Under-exposure: ``out = clip(gain · img^gamma + N(0, sigma/255))``.

    ``gamma > 1`` darkens mid-tones more than highlights (the shape of under-exposed camera
    responses), ``gain < 1`` scales the exposure, and Gaussian read noise (0–255 scale) is added
    after darkening, where it dominates dark images. DRMF's visible degradation script combines
    gamma 1.2 with Gaussian noise σ = 5 (Linfeng-Tang/DRMF ``utils/noise.py``); the default
    ranges in the ``lure`` preset are mmfuse's choice (``docs/degradations.md``).

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` float image in ``[0, 1]``.
        rng: Generator or int seed.
        gain: Exposure factor, in ``(0, 1]``.
        gamma: Exponent, ``>= 1``.
        sigma: Read-noise std on the 0–255 scale, ``>= 0``.

    Returns:
        ``(out, params_used)``; ``out`` float32, same shape, in ``[0, 1]``.
    """
    x = check_image(img, "low_light")
    gain, gamma, sigma = float(gain), float(gamma), float(sigma)
    require(0 < gain <= 1, "low_light", f"gain must be in (0, 1], got {gain}")
    require(math.isfinite(gamma) and gamma >= 1, "low_light", f"gamma must be >= 1, got {gamma}")
    require(math.isfinite(sigma) and sigma >= 0, "low_light", f"sigma must be >= 0, got {sigma}")
    gen = as_rng(rng)
    out = np.float32(gain) * np.power(x, np.float32(gamma))
    out = out + gen.standard_normal(x.shape, dtype=np.float32) * np.float32(sigma / SCALE_255)
    return finish(out), {"gain": gain, "gamma": gamma, "sigma": sigma}


def over_exposure(
    img: np.ndarray,
    rng: RngLike,
    *,
    ev: float = 1.5,
    gamma: float = 2.2,
    offset: float = 0.0,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Over-exposure: exposure gain of ``ev`` stops in linear light, then highlight clipping.

    ``lin = img^gamma`` (undo the display gamma), ``lin' = min(1, 2^ev · lin)`` (the sensor
    saturates), ``out = clip(lin'^(1/gamma) + offset)``. Working in linear light keeps mid-tones
    distinguishable while highlights clip, as in camera over-exposure (the +1 to +1.5 EV inputs of
    the Exposure-Errors set LURE trains on, Afifi et al., CVPR 2021; ``lure-and-amg-fuse.md``
    A.1). A gain applied directly to display values would turn a bright daylight scene white.

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` float image in ``[0, 1]``.
        rng: Unused (deterministic); generator or int seed.
        ev: Exposure increase in stops (gain ``2^ev`` in linear light), ``>= 0``.
        gamma: Display gamma used to linearise, ``>= 1`` (2.2 ≈ sRGB).
        offset: Black-level lift (flare) on the ``[0, 1]`` scale, in ``[0, 1]``.

    Returns:
        ``(out, params_used)``; ``out`` float32, same shape, in ``[0, 1]``.
    """
    x = check_image(img, "over_exposure")
    as_rng(rng)
    ev, gamma, offset = float(ev), float(gamma), float(offset)
    require(math.isfinite(ev) and ev >= 0, "over_exposure", f"ev must be >= 0, got {ev}")
    require(math.isfinite(gamma) and gamma >= 1, "over_exposure", f"gamma must be >= 1, got {gamma}")
    require(0 <= offset <= 1, "over_exposure", f"offset must be in [0, 1], got {offset}")
    lin = np.minimum(np.power(x, np.float32(gamma)) * np.float32(2.0**ev), np.float32(1.0))
    out = np.power(lin, np.float32(1.0 / gamma)) + np.float32(offset)
    return finish(out), {"ev": ev, "gamma": gamma, "offset": offset}


def low_contrast(
    img: np.ndarray,
    rng: RngLike,
    *,
    factor: float = 0.5,
    center: Union[float, str] = "mean",
    shift: float = 0.0,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Contrast compression around a centre: ``out = clip(c + factor · (img - c) + shift)``.

    Models the washed-out, low-contrast infrared images of LURE's LC task and EMS/DRMF
    (``lure-and-amg-fuse.md`` A.1; ``../shared/data`` ``degraded/drmf-lowlight``). With
    ``center="mean"`` the image mean is kept (for ``shift = 0``) and the RMS contrast is
    multiplied by exactly ``factor`` (before clipping).

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` float image in ``[0, 1]``.
        rng: Unused (deterministic); generator or int seed.
        factor: Contrast factor, in ``[0, 1]``.
        center: ``"mean"`` (mean of the image, all channels) or a number in ``[0, 1]``.
        shift: Brightness offset after compression, on the ``[0, 1]`` scale, in ``[-1, 1]``.

    Returns:
        ``(out, params_used)``; ``out`` float32, same shape, in ``[0, 1]``.
    """
    x = check_image(img, "low_contrast")
    as_rng(rng)
    factor, shift = float(factor), float(shift)
    require(0 <= factor <= 1, "low_contrast", f"factor must be in [0, 1], got {factor}")
    require(-1 <= shift <= 1, "low_contrast", f"shift must be in [-1, 1], got {shift}")
    if isinstance(center, str):
        require(center == "mean", "low_contrast", f"center must be 'mean' or a number, got {center!r}")
        c = float(x.mean(dtype=np.float64))
    else:
        c = float(center)
        require(0 <= c <= 1, "low_contrast", f"center must be in [0, 1], got {c}")
    out = np.float32(c) + np.float32(factor) * (x - np.float32(c)) + np.float32(shift)
    return finish(out), {"factor": factor, "center": c, "shift": shift}
