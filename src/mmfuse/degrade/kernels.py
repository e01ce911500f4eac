"""Blur kernels (each sums to 1) and the one convolution routine every operator uses.

All kernels are ``float64`` arrays of odd size ``(K, K)`` centred on the middle pixel and
normalised to sum exactly to 1 (up to float64 rounding), so blurring preserves the mean
brightness of flat regions.

Border handling, everywhere in :mod:`mmfuse.degrade`: OpenCV ``BORDER_REFLECT_101``
(``gfedcb|abcdefgh|gfedcba``), i.e. mirror without repeating the edge pixel; this is OpenCV's
default and avoids dark or bright frames around blurred images.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from mmfuse.degrade._common import require

__all__ = ["BORDER", "disk_kernel", "gaussian_kernel", "motion_kernel", "combine_kernels", "convolve", "smooth_field"]

#: Border mode used by every filter in :mod:`mmfuse.degrade`.
BORDER = cv2.BORDER_REFLECT_101

# Sub-pixel samples per pixel side used to anti-alias the disk and line kernels.
_SUPERSAMPLE = 8


def disk_kernel(radius: float) -> np.ndarray:
    """Pillbox (uniform disk) kernel: the standard model of an out-of-focus lens.

    Each kernel pixel holds the fraction of its area covered by the disk of the given radius
    (estimated with 8×8 sub-pixel samples), so non-integer radii give smoothly growing kernels.
    The disk PSF is the geometric-optics defocus model (e.g. Hopkins 1955; used for defocus in
    DeblurGAN-style and TG-ECNet-style benchmarks; the kernel TG-ECNet used is not stated, see
    ``tg-ecnet.md`` §7.4).

    Args:
        radius: Disk radius in pixels, ``>= 0``. ``0`` gives the identity kernel ``[[1]]``.

    Returns:
        ``(2·ceil(radius)+1, 2·ceil(radius)+1)`` float64 kernel summing to 1.
    """
    require(math.isfinite(radius) and radius >= 0, "disk_kernel", f"radius must be >= 0, got {radius}")
    half = int(math.ceil(radius))
    if half == 0 or radius < 0.5:
        return np.ones((1, 1), dtype=np.float64)
    size = 2 * half + 1
    sub = (np.arange(size * _SUPERSAMPLE) + 0.5) / _SUPERSAMPLE - half - 0.5
    yy, xx = np.meshgrid(sub, sub, indexing="ij")
    inside = (xx**2 + yy**2 <= radius**2).astype(np.float64)
    kernel = inside.reshape(size, _SUPERSAMPLE, size, _SUPERSAMPLE).mean(axis=(1, 3))
    return kernel / kernel.sum()


def gaussian_kernel(sigma: float, *, truncate: float = 3.0) -> np.ndarray:
    """Isotropic 2-D Gaussian kernel (OpenCV ``getGaussianKernel`` outer product).

    Args:
        sigma: Standard deviation in pixels, ``>= 0``. ``0`` gives ``[[1]]``.
        truncate: Half-size of the kernel in units of ``sigma`` (size ``2·ceil(truncate·σ)+1``).

    Returns:
        Square float64 kernel of odd size summing to 1.
    """
    require(math.isfinite(sigma) and sigma >= 0, "gaussian_kernel", f"sigma must be >= 0, got {sigma}")
    if sigma == 0:
        return np.ones((1, 1), dtype=np.float64)
    size = 2 * int(math.ceil(truncate * sigma)) + 1
    k1 = cv2.getGaussianKernel(size, sigma, ktype=cv2.CV_64F)
    kernel = k1 @ k1.T
    return kernel / kernel.sum()


def motion_kernel(length: float, angle: float) -> np.ndarray:
    """Linear motion-blur kernel: a centred line segment, anti-aliased, summing to 1.

    The segment has the given length and direction; it is rasterised by splatting densely
    spaced points along it bilinearly, so fractional lengths and any angle are supported. The
    kernel is point-symmetric, hence correlation and convolution agree.

    Args:
        length: Segment length in pixels, ``>= 0`` (``<= 1`` gives a near-identity kernel).
        angle: Direction in degrees, counter-clockwise from the image x axis (0 = horizontal
            motion, 90 = vertical).

    Returns:
        Square float64 kernel of odd size summing to 1.
    """
    require(math.isfinite(length) and length >= 0, "motion_kernel", f"length must be >= 0, got {length}")
    require(math.isfinite(angle), "motion_kernel", f"angle must be finite, got {angle}")
    half = int(math.ceil(length / 2.0)) + 1
    size = 2 * half + 1
    kernel = np.zeros((size, size), dtype=np.float64)
    n = max(2, int(math.ceil(length * _SUPERSAMPLE)) + 1)
    t = np.linspace(-length / 2.0, length / 2.0, n)
    theta = math.radians(angle)
    x = half + t * math.cos(theta)
    y = half - t * math.sin(theta)  # image rows grow downwards
    x0 = np.floor(x).astype(int)
    y0 = np.floor(y).astype(int)
    fx = x - x0
    fy = y - y0
    for dy, dx, w in (
        (0, 0, (1 - fy) * (1 - fx)),
        (0, 1, (1 - fy) * fx),
        (1, 0, fy * (1 - fx)),
        (1, 1, fy * fx),
    ):
        np.add.at(kernel, (y0 + dy, x0 + dx), w)
    # Symmetrise exactly (rounding of the sample positions can break it by ~1e-16).
    kernel = 0.5 * (kernel + kernel[::-1, ::-1])
    return kernel / kernel.sum()


def convolve(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve every channel of ``img`` with ``kernel`` (true convolution, reflect-101 border).

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` float32 image.
        kernel: 2-D kernel (odd size).

    Returns:
        float32 array of the same shape (not clipped).
    """
    if kernel.shape == (1, 1):
        return img.astype(np.float32, copy=True) * np.float32(kernel[0, 0])
    flipped = np.ascontiguousarray(kernel[::-1, ::-1], dtype=np.float32)
    return cv2.filter2D(img, cv2.CV_32F, flipped, borderType=BORDER)


def combine_kernels(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Full 2-D convolution of two odd-sized kernels (the kernel of blurring by ``a`` then ``b``).

    Args:
        a: ``(Ka, Ka')`` kernel, odd sizes.
        b: ``(Kb, Kb')`` kernel, odd sizes.

    Returns:
        float64 kernel of shape ``(Ka + Kb - 1, Ka' + Kb' - 1)``; its sum is ``a.sum() · b.sum()``.
    """
    ph, pw = b.shape[0] // 2, b.shape[1] // 2
    padded = np.pad(np.asarray(a, dtype=np.float64), ((ph, ph), (pw, pw)))
    flipped = np.ascontiguousarray(np.asarray(b, dtype=np.float64)[::-1, ::-1])
    return cv2.filter2D(padded, cv2.CV_64F, flipped, borderType=cv2.BORDER_CONSTANT)


def smooth_field(noise: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-filter a white-noise field (``BORDER_REFLECT_101``, kernel ±4σ): a smooth random field.

    Args:
        noise: ``(H, W)`` float64 white noise.
        sigma: Filter standard deviation in pixels, ``> 0``.

    Returns:
        ``(H, W)`` float64 field.
    """
    return cv2.GaussianBlur(np.asarray(noise, dtype=np.float64), (0, 0), sigmaX=float(sigma), borderType=BORDER)
