"""Atmospheric operators for visible images: haze (scattering model), rain streaks, snow.

Signature and conventions as in :mod:`mmfuse.degrade.noise`: ``op(img, rng, **params) ->
(out, params_used)`` on float images in ``[0, 1]`` of shape ``(H, W)`` or ``(H, W, 3)``; the
output is float32, same shape, clipped to ``[0, 1]``.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Optional, Union

import numpy as np

from mmfuse.degrade._common import RngLike, as_rng, check_image, finish, require
from mmfuse.degrade.kernels import combine_kernels, convolve, gaussian_kernel, motion_kernel, smooth_field
from mmfuse.errors import InputError, ShapeError

__all__ = ["DEPTH_MODELS", "haze_depth", "haze", "rain", "snow"]

#: Depth proxies understood by :func:`haze_depth` and :func:`haze`.
DEPTH_MODELS = ("radial", "ramp", "random", "uniform")

# EMS's radial depth is centred at pixel (row 100, col 300) of 480 x 640 frames.
_EMS_CENTER = (100.0 / 480.0, 300.0 / 640.0)
_EMS_REF_WIDTH = 640.0


def haze_depth(
    shape: tuple[int, int],
    rng: RngLike,
    *,
    depth: str = "radial",
    d_max: float = 17.0,
    near: float = 2.0,
    horizon: float = 0.35,
    center: Sequence[float] = _EMS_CENTER,
    slope: float = 0.04,
    smoothness: float = 0.2,
) -> np.ndarray:
    """Depth proxy ``d(x) >= 0`` for the scattering model, in the units of Text-IF's EMS haze script.

    Models (all clipped to ``[0, d_max]``):

    - ``"radial"``: EMS (XunpengYi/EMS ``main_vis_haze.m``): ``d = d_max - slope · r``, with ``r``
      the distance in pixels to ``center`` (fractions of H, W; EMS uses pixel (100, 300) of
      480×640 frames) measured on the image rescaled to EMS's 640-px width, ``d_max = 17``,
      ``slope = 0.04``. EMS does not clip ``d`` at 0 (far corners get ``t > 1``, i.e. *more*
      contrast); mmfuse clips, so haze never sharpens an image.
    - ``"ramp"``: distance-from-horizon ramp for road scenes: ``d = d_max`` above the row
      ``horizon · H``, then linear down to ``near`` at the bottom row.
    - ``"random"``: smooth random field (Gaussian-filtered white noise, filter width
      ``smoothness · min(H, W)``) rescaled to ``[near, d_max]``; uses ``rng``.
    - ``"uniform"``: ``d = d_max`` everywhere (homogeneous haze, ``t`` constant).

    Args:
        shape: ``(H, W)``.
        rng: Generator or int seed (only ``"random"`` draws from it).
        depth: One of :data:`DEPTH_MODELS`.
        d_max: Largest depth, ``> 0``.
        near: Depth at the bottom row (``"ramp"``) / minimum depth (``"random"``), in ``[0, d_max]``.
        horizon: Horizon row as a fraction of H, in ``[0, 1)`` (``"ramp"``).
        center: ``(row, col)`` of the farthest point as fractions of ``(H, W)`` (``"radial"``).
        slope: Depth decrease per pixel of a 640-px-wide image (``"radial"``), ``>= 0``.
        smoothness: Filter width of the random field as a fraction of ``min(H, W)``, ``> 0``.

    Returns:
        ``(H, W)`` float32 depth map in ``[0, d_max]``.
    """
    op = "haze"
    require(depth in DEPTH_MODELS, op, f"depth must be one of {list(DEPTH_MODELS)}, got {depth!r}")
    require(math.isfinite(d_max) and d_max > 0, op, f"d_max must be > 0, got {d_max}")
    require(0 <= near <= d_max, op, f"near must be in [0, d_max], got {near}")
    h, w = int(shape[0]), int(shape[1])
    gen = as_rng(rng)
    if depth == "uniform":
        return np.full((h, w), d_max, dtype=np.float32)
    if depth == "radial":
        require(len(center) == 2, op, f"center must be (row, col) fractions, got {center}")
        require(slope >= 0, op, f"slope must be >= 0, got {slope}")
        scale = _EMS_REF_WIDTH / w
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
        r = np.hypot(yy - center[0] * (h - 1), xx - center[1] * (w - 1)) * scale
        d = d_max - slope * r
    elif depth == "ramp":
        require(0 <= horizon < 1, op, f"horizon must be in [0, 1), got {horizon}")
        rows = np.arange(h, dtype=np.float64)
        h0 = horizon * (h - 1)
        frac = np.clip((rows - h0) / max(h - 1 - h0, 1e-9), 0.0, 1.0)
        d = np.repeat((d_max - (d_max - near) * frac)[:, None], w, axis=1)
    else:  # random
        require(smoothness > 0, op, f"smoothness must be > 0, got {smoothness}")
        field = smooth_field(gen.standard_normal((h, w)), smoothness * min(h, w))
        lo, hi = float(field.min()), float(field.max())
        field = (field - lo) / (hi - lo) if hi > lo else np.zeros_like(field)
        d = near + (d_max - near) * field
    return np.clip(d, 0.0, d_max).astype(np.float32)


def haze(
    img: np.ndarray,
    rng: RngLike,
    *,
    beta: float = 0.08,
    airlight: Union[float, str] = "mean",
    depth: str = "radial",
    d_max: float = 17.0,
    near: float = 2.0,
    horizon: float = 0.35,
    center: Sequence[float] = _EMS_CENTER,
    slope: float = 0.04,
    smoothness: float = 0.2,
    depth_map: Optional[np.ndarray] = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Haze by the atmospheric scattering model ``I = J·t + A·(1 - t)``, ``t = exp(-beta·d)``.

    ``J`` is the clean image, ``A`` the atmospheric light and ``d`` a depth proxy
    (:func:`haze_depth`, or ``depth_map``). The model is Koschmieder's / McCartney's, as used by
    Text-IF's EMS haze (``A = 0.8``, radial depth, β up to 0.12; XunpengYi/EMS
    ``main_vis_haze.m``) and TG-ECNet's DeMMI-RF (Sun et al., ICML 2025, App. A.1, eqs. 7–8),
    which sets the atmospheric light to the mean of the clean image "to avoid the image being
    too bright" (``airlight="mean"``). Reading of eq. 8 used here (``tg-ecnet.md`` §1.2 [R]):
    the mean is taken per colour channel, which explains the "slight color distortions" the
    paper reports; ``"mean-gray"`` uses one scalar mean instead.

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` float image in ``[0, 1]`` (the clean ``J``).
        rng: Generator or int seed (used by ``depth="random"``).
        beta: Scattering coefficient per depth unit, ``>= 0`` (EMS: 0.04–0.12).
        airlight: ``A``: a number in ``[0, 1]``, ``"mean"`` (per-channel mean of ``J``) or
            ``"mean-gray"`` (mean over all pixels and channels).
        depth: Depth proxy, one of :data:`DEPTH_MODELS` (ignored when ``depth_map`` is given).
        d_max, near, horizon, center, slope, smoothness: Depth-proxy parameters, see
            :func:`haze_depth`.
        depth_map: Optional ``(H, W)`` array of non-negative depths in the same units, e.g. from
            a depth sensor or a monocular depth model.

    Returns:
        ``(out, params_used)``; ``out`` float32, same shape, in ``[0, 1]``; ``params_used``
        holds the numeric airlight actually applied and the transmission range.
    """
    x = check_image(img, "haze")
    beta = float(beta)
    require(math.isfinite(beta) and beta >= 0, "haze", f"beta must be >= 0, got {beta}")
    h, w = x.shape[:2]
    used: dict[str, Any] = {"beta": beta}
    if depth_map is not None:
        d = np.asarray(depth_map, dtype=np.float32)
        if d.shape != (h, w):
            raise ShapeError(f"haze: depth_map must have shape {(h, w)}, got {d.shape}")
        if not np.all(np.isfinite(d)) or float(d.min()) < 0:
            raise InputError("haze: depth_map must be finite and >= 0")
        used["depth"] = "given"
    else:
        d = haze_depth(
            (h, w), rng, depth=depth, d_max=float(d_max), near=float(near), horizon=float(horizon),
            center=tuple(float(c) for c in center), slope=float(slope), smoothness=float(smoothness),
        )
        used.update({"depth": depth, "d_max": float(d_max)})
        if depth in ("ramp", "random"):
            used["near"] = float(near)
        if depth == "ramp":
            used["horizon"] = float(horizon)
        if depth == "radial":
            used.update({"center": [float(c) for c in center], "slope": float(slope)})
        if depth == "random":
            used["smoothness"] = float(smoothness)
    if isinstance(airlight, str):
        require(airlight in ("mean", "mean-gray"), "haze",
                f"airlight must be a number, 'mean' or 'mean-gray', got {airlight!r}")
        if airlight == "mean" and x.ndim == 3:
            a = x.reshape(-1, 3).mean(axis=0, dtype=np.float64).astype(np.float32)
            used["airlight"] = [float(v) for v in a]
        else:
            a = np.float32(x.mean(dtype=np.float64))
            used["airlight"] = float(a)
        used["airlight_mode"] = airlight
    else:
        a_val = float(airlight)
        require(0.0 <= a_val <= 1.0, "haze", f"airlight must be in [0, 1], got {a_val}")
        a = np.float32(a_val)
        used["airlight"] = a_val
    t = np.exp(-beta * d).astype(np.float32)
    if x.ndim == 3:
        t = t[:, :, None]
    out = x * t + a * (1.0 - t)
    used["t_min"] = float(t.min())
    used["t_mean"] = float(t.mean())
    return finish(out), used


def _peak_normalised(kernel: np.ndarray) -> np.ndarray:
    return kernel / kernel.max()


def rain(
    img: np.ndarray,
    rng: RngLike,
    *,
    density: float = 0.004,
    length: float = 25.0,
    angle: float = 10.0,
    width: float = 0.7,
    weight: float = 0.6,
    brightness: float = 0.9,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Rain streaks: sparse random seeds motion-blurred into a streak layer, alpha-blended.

    Follows the construction of Text-IF's EMS rain script (XunpengYi/EMS ``main_vis_rain.py``:
    thresholded uniform noise, blurred by a rotated line kernel and a small Gaussian, blended
    with weight 0.1), re-implemented as an alpha composite: a fraction ``density`` of pixels
    become seeds with random strength in ``[0.5, 1]``; the seed image is convolved with a line
    kernel of ``length`` px at ``angle`` degrees from vertical (positive: the top of each streak
    leans right) widened by a Gaussian of ``width`` px, normalised to a peak of 1, giving the
    streak layer ``S`` in ``[0, 1]``; then ``out = img·(1 - weight·S) + weight·S·brightness``.
    AMG-Fuse's AWMM-100k rain is rendered from real video masks (``lure-and-amg-fuse.md`` B.1),
    which cannot be reproduced; this operator is the synthetic stand-in.

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` float image in ``[0, 1]``.
        rng: Generator or int seed.
        density: Fraction of pixels that start a streak, in ``[0, 1]`` (EMS: ≈ 0.02 with
            heavy overlap).
        length: Streak length in pixels, ``>= 1``.
        angle: Streak tilt from vertical in degrees.
        width: Gaussian std (px) of the streak cross-section, ``>= 0``.
        weight: Streak opacity, in ``[0, 1]``.
        brightness: Streak intensity, in ``[0, 1]``.

    Returns:
        ``(out, params_used)``; ``out`` float32, same shape, in ``[0, 1]``.
    """
    x = check_image(img, "rain")
    density, length, angle = float(density), float(length), float(angle)
    width, weight, brightness = float(width), float(weight), float(brightness)
    require(0 <= density <= 1, "rain", f"density must be in [0, 1], got {density}")
    require(math.isfinite(length) and length >= 1, "rain", f"length must be >= 1, got {length}")
    require(width >= 0, "rain", f"width must be >= 0, got {width}")
    require(0 <= weight <= 1, "rain", f"weight must be in [0, 1], got {weight}")
    require(0 <= brightness <= 1, "rain", f"brightness must be in [0, 1], got {brightness}")
    gen = as_rng(rng)
    h, w = x.shape[:2]
    u = gen.random((h, w))
    strength = gen.uniform(0.5, 1.0, size=(h, w))
    seeds = np.where(u < density, strength, 0.0).astype(np.float32)
    kernel = combine_kernels(motion_kernel(length, 90.0 - angle), gaussian_kernel(width))
    layer = np.clip(convolve(seeds, _peak_normalised(kernel)), 0.0, 1.0)
    s = layer[:, :, None] if x.ndim == 3 else layer
    out = x * (1.0 - weight * s) + (weight * brightness) * s
    used = {"density": density, "length": length, "angle": angle, "width": width, "weight": weight,
            "brightness": brightness}
    return finish(out), used


def snow(
    img: np.ndarray,
    rng: RngLike,
    *,
    density: float = 4.0,
    size: float = 1.5,
    layers: int = 3,
    angle: float = 15.0,
    streak: float = 2.0,
    opacity: float = 0.9,
    veil: float = 0.15,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Snow: several layers of soft flakes of growing size (near flakes larger and fewer) plus a light veil.

    Layer ``k = 0 .. layers-1`` has flakes of radius ``size·2^k`` px, ``density / 4^k`` flakes
    per 1000 px (so each layer covers about the same area), random positions and strengths in
    ``[0.6, 1]``, each a Gaussian blob smeared along the fall direction (``angle`` degrees from
    vertical) by ``streak·2^k`` px. The layers are combined by screen blending into a mask
    ``M``; then ``out = img·(1 - opacity·M) + opacity·M`` (white flakes) and a veil
    ``out = out·(1 - veil) + veil·0.9`` adds the milky low-contrast look of falling snow.
    AMG-Fuse's AWMM-100k snow comes from real video masks (``lure-and-amg-fuse.md`` B.1) and
    cannot be reproduced; this is the synthetic stand-in, in the spirit of layered snow
    renderers (e.g. Snow100K, Liu et al., TIP 2018).

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` float image in ``[0, 1]``.
        rng: Generator or int seed.
        density: Flakes per 1000 pixels in the finest layer, ``>= 0``.
        size: Flake radius (px) in the finest layer, ``> 0``.
        layers: Number of flake layers, integer in ``[1, 5]``.
        angle: Fall direction, degrees from vertical.
        streak: Motion smear length (px) of the finest layer, ``>= 0``.
        opacity: Flake opacity, in ``[0, 1]``.
        veil: Strength of the white veil, in ``[0, 1]``.

    Returns:
        ``(out, params_used)``; ``out`` float32, same shape, in ``[0, 1]``.
    """
    x = check_image(img, "snow")
    density, size, angle, streak = float(density), float(size), float(angle), float(streak)
    opacity, veil = float(opacity), float(veil)
    require(float(layers) == int(layers) and 1 <= int(layers) <= 5, "snow",
            f"layers must be an integer in [1, 5], got {layers}")
    layers = int(layers)
    require(math.isfinite(density) and density >= 0, "snow", f"density must be >= 0, got {density}")
    require(math.isfinite(size) and size > 0, "snow", f"size must be > 0, got {size}")
    require(streak >= 0, "snow", f"streak must be >= 0, got {streak}")
    require(0 <= opacity <= 1, "snow", f"opacity must be in [0, 1], got {opacity}")
    require(0 <= veil <= 1, "snow", f"veil must be in [0, 1], got {veil}")
    gen = as_rng(rng)
    h, w = x.shape[:2]
    clear = np.ones((h, w), dtype=np.float32)  # product of (1 - layer) = 1 - screen blend
    for k in range(layers):
        radius = size * 2.0**k
        count = int(gen.poisson(density * h * w / 1000.0 / 4.0**k))
        impulses = np.zeros((h, w), dtype=np.float32)
        if count:
            rows = gen.integers(0, h, size=count)
            cols = gen.integers(0, w, size=count)
            np.maximum.at(impulses, (rows, cols), gen.uniform(0.6, 1.0, size=count).astype(np.float32))
        blob = gaussian_kernel(radius / 2.0, truncate=3.0)
        kernel = combine_kernels(blob, motion_kernel(streak * 2.0**k, 90.0 - angle))
        layer = np.clip(convolve(impulses, _peak_normalised(kernel)), 0.0, 1.0)
        clear *= 1.0 - layer
    mask = 1.0 - clear
    m = mask[:, :, None] if x.ndim == 3 else mask
    out = x * (1.0 - opacity * m) + opacity * m
    out = out * (1.0 - veil) + veil * 0.9
    used = {
        "density": density, "size": size, "layers": layers, "angle": angle,
        "streak": streak, "opacity": opacity, "veil": veil,
    }
    return finish(out.astype(np.float32)), used
