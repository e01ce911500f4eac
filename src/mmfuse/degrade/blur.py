"""Optical and resampling operators: defocus, Gaussian and motion blur, down-sampling, JPEG.

Signature and conventions as in :mod:`mmfuse.degrade.noise`: ``op(img, rng, **params) ->
(out, params_used)`` on float images in ``[0, 1]`` of shape ``(H, W)`` or ``(H, W, 3)``; the
output is float32, same shape, clipped to ``[0, 1]``. The deterministic operators accept ``rng``
only for the common interface. Filtering uses OpenCV with the ``BORDER_REFLECT_101`` border
(:mod:`mmfuse.degrade.kernels`).
"""
from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from mmfuse.degrade._common import RngLike, as_rng, check_image, finish, require
from mmfuse.degrade.kernels import convolve, disk_kernel, gaussian_kernel, motion_kernel

__all__ = ["defocus_blur", "gaussian_blur", "motion_blur", "downsample", "jpeg"]

_INTERP = {"area": cv2.INTER_AREA, "cubic": cv2.INTER_CUBIC, "linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST}


def defocus_blur(img: np.ndarray, rng: RngLike, *, radius: float = 3.0) -> tuple[np.ndarray, dict[str, Any]]:
    """Defocus (out-of-focus) blur with an anti-aliased disk kernel (:func:`~mmfuse.degrade.kernels.disk_kernel`).

    TG-ECNet's DeMMI-RF has a "DefocusBlur" setting whose kernel and radius are not stated
    (Sun et al., ICML 2025, §4.1; ``tg-ecnet.md`` §1.2); the disk kernel with radius 2–5 px is
    the reading recommended in ``tg-ecnet.md`` §7.4.

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` float image in ``[0, 1]``.
        rng: Unused (the blur is deterministic); generator or int seed.
        radius: Disk radius in pixels, ``>= 0``.

    Returns:
        ``(out, {"radius": radius})``; ``out`` float32, same shape, in ``[0, 1]``.
    """
    x = check_image(img, "defocus_blur")
    as_rng(rng)
    radius = float(radius)
    require(math.isfinite(radius) and radius >= 0, "defocus_blur", f"radius must be >= 0, got {radius}")
    return finish(convolve(x, disk_kernel(radius))), {"radius": radius}


def gaussian_blur(img: np.ndarray, rng: RngLike, *, sigma: float = 1.5) -> tuple[np.ndarray, dict[str, Any]]:
    """Isotropic Gaussian blur (kernel truncated at 3σ, :func:`~mmfuse.degrade.kernels.gaussian_kernel`).

    The isotropic Gaussian kernel is the blur of the classical SR degradation model; DRMF draws
    σ from U(0.2, 4) px for training and uses 2.6 px at test time (Linfeng-Tang/DRMF
    ``utils/IR_degraded.py``), Text-IF's EMS blur uses σ = 1 before bicubic resampling.

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` float image in ``[0, 1]``.
        rng: Unused; generator or int seed.
        sigma: Standard deviation in pixels, ``>= 0``.

    Returns:
        ``(out, {"sigma": sigma})``; ``out`` float32, same shape, in ``[0, 1]``.
    """
    x = check_image(img, "gaussian_blur")
    as_rng(rng)
    sigma = float(sigma)
    require(math.isfinite(sigma) and sigma >= 0, "gaussian_blur", f"sigma must be >= 0, got {sigma}")
    return finish(convolve(x, gaussian_kernel(sigma))), {"sigma": sigma}


def motion_blur(
    img: np.ndarray, rng: RngLike, *, length: float = 15.0, angle: float = 0.0
) -> tuple[np.ndarray, dict[str, Any]]:
    """Linear (camera or object) motion blur with a line kernel (:func:`~mmfuse.degrade.kernels.motion_kernel`).

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` float image in ``[0, 1]``.
        rng: Unused; generator or int seed.
        length: Blur length in pixels, ``>= 0``.
        angle: Motion direction in degrees, counter-clockwise from the x axis.

    Returns:
        ``(out, {"length": ..., "angle": ...})``; ``out`` float32, same shape, in ``[0, 1]``.
    """
    x = check_image(img, "motion_blur")
    as_rng(rng)
    length, angle = float(length), float(angle)
    return finish(convolve(x, motion_kernel(length, angle))), {"length": length, "angle": angle}


def downsample(
    img: np.ndarray,
    rng: RngLike,
    *,
    factor: int = 4,
    prefilter_sigma: float = 0.0,
    down: str = "area",
    up: str = "cubic",
) -> tuple[np.ndarray, dict[str, Any]]:
    """Resolution loss for super-resolution tasks: optional Gaussian blur, ×``factor`` down-sampling, back up.

    The image is blurred with a Gaussian of ``prefilter_sigma`` px (0 = none), resized to
    ``(round(H/factor), round(W/factor))`` (at least 1 px) with ``down`` interpolation, then
    resized back to ``(H, W)`` with ``up`` interpolation, so input and output sizes match as in
    LURE's SR×4/×8 tasks ("following InstructIR"; ``lure-and-amg-fuse.md`` A.1 reads it as
    bicubic down and up). Text-IF's EMS "blur" applies σ = 1 px Gaussian blur then bicubic
    ×2/×4 down and up (XunpengYi/EMS ``main_vis_blur.py``); DRMF's infrared SR degradation uses an
    isotropic Gaussian (σ 2.6 px at test) then bicubic ×4 (Linfeng-Tang/DRMF ``utils/IR_degraded.py``).

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` float image in ``[0, 1]``.
        rng: Unused; generator or int seed.
        factor: Integer scale factor, ``>= 1`` (2, 4, 8 in the presets).
        prefilter_sigma: Gaussian blur before down-sampling, in pixels of the input, ``>= 0``.
        down: OpenCV interpolation for down-sampling: ``"area"`` (box average, anti-aliased),
            ``"cubic"`` (bicubic, ``a = -0.75``, not anti-aliased), ``"linear"`` or ``"nearest"``.
        up: Interpolation for up-sampling back to ``(H, W)``; same choices.

    Returns:
        ``(out, params_used)``; ``out`` float32, same shape, clipped to ``[0, 1]`` (bicubic
        overshoot is clipped).
    """
    x = check_image(img, "downsample")
    as_rng(rng)
    require(float(factor) == int(factor) and int(factor) >= 1, "downsample",
            f"factor must be an integer >= 1, got {factor}")
    factor = int(factor)
    prefilter_sigma = float(prefilter_sigma)
    require(prefilter_sigma >= 0, "downsample", f"prefilter_sigma must be >= 0, got {prefilter_sigma}")
    require(down in _INTERP, "downsample", f"down must be one of {sorted(_INTERP)}, got {down!r}")
    require(up in _INTERP, "downsample", f"up must be one of {sorted(_INTERP)}, got {up!r}")
    h, w = x.shape[:2]
    if prefilter_sigma > 0:
        x = convolve(x, gaussian_kernel(prefilter_sigma))
    small_size = (max(1, int(round(w / factor))), max(1, int(round(h / factor))))
    small = cv2.resize(x, small_size, interpolation=_INTERP[down])
    out = cv2.resize(small, (w, h), interpolation=_INTERP[up])
    used = {"factor": factor, "prefilter_sigma": prefilter_sigma, "down": down, "up": up}
    return finish(out), used


def jpeg(img: np.ndarray, rng: RngLike, *, quality: int = 30) -> tuple[np.ndarray, dict[str, Any]]:
    """JPEG compression artefacts: encode at ``quality`` with OpenCV (libjpeg), decode.

    The image is first quantised to 8 bits with round-half-to-even (``np.rint(x · 255)``).
    RGB images are encoded as colour JPEG (4:2:0 chroma subsampling, libjpeg's default), gray
    images as gray JPEG. The codec is deterministic, so equal inputs give equal outputs.

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` float image in ``[0, 1]``.
        rng: Unused; generator or int seed.
        quality: JPEG quality, integer in ``[1, 100]``.

    Returns:
        ``(out, {"quality": quality})``; ``out`` float32, same shape, values ``k/255``.
    """
    x = check_image(img, "jpeg")
    as_rng(rng)
    require(float(quality) == int(quality) and 1 <= int(quality) <= 100, "jpeg",
            f"quality must be an integer in [1, 100], got {quality}")
    quality = int(quality)
    u8 = np.rint(x * 255.0).astype(np.uint8)
    if x.ndim == 3:
        u8 = cv2.cvtColor(u8, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", u8, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - libjpeg failure is not a user error
        raise RuntimeError("jpeg: OpenCV failed to encode the image")
    dec = cv2.imdecode(buf, cv2.IMREAD_COLOR if x.ndim == 3 else cv2.IMREAD_GRAYSCALE)
    if x.ndim == 3:
        dec = cv2.cvtColor(dec, cv2.COLOR_BGR2RGB)
    return finish(dec.astype(np.float32) / np.float32(255.0)), {"quality": quality}
