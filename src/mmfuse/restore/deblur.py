"""Defocus deblurring: Wiener–Hunt deconvolution with a disk PSF of estimated radius.

References:
    N. Wiener, "Extrapolation, Interpolation, and Smoothing of Stationary Time Series", 1949;
    B. R. Hunt, "A matrix theory proof of the discrete convolution theorem", IEEE Trans. Audio
    Electroacoust. 19(4), 1971 (the Laplacian-regularised Wiener–Hunt filter implemented by
    ``skimage.restoration.wiener``).
    M. Cannon, "Blind deconvolution of spatially invariant image blurs with phase", IEEE Trans.
    Acoust., Speech, Signal Process. 24(1):58–63, 1976 (identifying a defocus PSF from the
    zeros of the image spectrum, the idea behind the radius estimate here).
"""
from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from scipy.special import j1
from skimage.restoration import wiener

from mmfuse.restore._common import check_image, finish, luminance
from mmfuse.restore.denoise import estimate_noise_sigma

__all__ = ["disk_psf", "disk_otf_log_power", "estimate_defocus_radius", "deblur_wiener", "RADII", "FLOORS"]

#: Candidate disk radii (pixels) searched by :func:`estimate_defocus_radius`.
RADII: tuple[float, ...] = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0)

#: Candidate relative noise floors of the spectral model (see :func:`estimate_defocus_radius`).
FLOORS: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 3e-2, 1e-1)

#: Wiener–Hunt regularisation ``balance = BALANCE_BASE + BALANCE_PER_SIGMA · σ̂`` (σ̂ the
#: estimated noise std on the ``[0, 1]`` scale), chosen on RoadScene *train* images.
BALANCE_BASE = 0.012
BALANCE_PER_SIGMA = 2.0

_SUPERSAMPLE = 8


def disk_psf(radius: float) -> np.ndarray:
    """Anti-aliased pillbox PSF (geometric-optics defocus): pixel values are the covered area fraction.

    Args:
        radius: disk radius in pixels, ``> 0``.

    Returns:
        ``(2k+1, 2k+1)`` float64 kernel, ``k = ceil(radius)``, summing to 1.
    """
    if not radius > 0:
        raise ValueError(f"disk_psf: radius must be > 0, got {radius}")
    k = int(np.ceil(radius))
    n = (2 * k + 1) * _SUPERSAMPLE
    coords = (np.arange(n) + 0.5) / _SUPERSAMPLE - (k + 0.5)
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    inside = (xx * xx + yy * yy <= radius * radius).astype(np.float64)
    psf = inside.reshape(2 * k + 1, _SUPERSAMPLE, 2 * k + 1, _SUPERSAMPLE).mean(axis=(1, 3))
    return psf / psf.sum()


_SPECTRUM_BINS = 64


def _bin_edges(bins: int = _SPECTRUM_BINS) -> np.ndarray:
    """Radial frequency bins (cycles/pixel) of :func:`_radial_log_spectrum`; the same for every image size."""
    return np.linspace(0.0, 0.5, bins + 1)


def _bin_centres(bins: int = _SPECTRUM_BINS) -> np.ndarray:
    edges = _bin_edges(bins)
    return 0.5 * (edges[1:] + edges[:-1])


def _radial_log_spectrum(x: np.ndarray, bins: int = _SPECTRUM_BINS) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged log power spectrum of a Hann-windowed image: (frequencies, values)."""
    h, w = x.shape
    win = np.outer(np.hanning(h), np.hanning(w))
    spec = np.abs(np.fft.fft2((x - x.mean()) * win)) ** 2
    logp = np.log(spec + 1e-12).ravel()
    fr = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]).ravel()
    edges = _bin_edges(bins)
    idx = np.digitize(fr, edges) - 1
    ok = (idx >= 0) & (idx < bins)
    sums = np.bincount(idx[ok], logp[ok], bins)
    counts = np.maximum(np.bincount(idx[ok], None, bins), 1)
    return _bin_centres(bins), sums / counts


def disk_otf_log_power(freq: np.ndarray, radius: float, floor: float) -> np.ndarray:
    """``log(|H_R(f)|² + floor)`` with the disk OTF ``H_R(f) = 2 J1(2π f R) / (2π f R)``.

    Args:
        freq: radial frequencies in cycles per pixel.
        radius: disk radius in pixels.
        floor: noise floor relative to the signal (flattens the spectral zeros).
    """
    z = 2.0 * np.pi * freq * radius
    safe = np.maximum(z, 1e-9)
    otf = np.where(z > 1e-9, 2.0 * j1(safe) / safe, 1.0)
    return np.log(otf * otf + floor)


def _remove_power_law(freq: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Residual of a least-squares fit ``a + b log f`` (natural images have power-law spectra)."""
    design = np.stack([np.ones_like(freq), np.log(freq)], axis=1)
    coef, *_ = np.linalg.lstsq(design, values, rcond=None)
    return values - design @ coef


def estimate_defocus_radius(
    img: np.ndarray,
    radii: Sequence[float] = RADII,
    *,
    floors: Sequence[float] = FLOORS,
    band: tuple[float, float] = (0.03, 0.48),
) -> float:
    """Estimate the disk-PSF radius by matching the image's spectrum to the disk OTF's zeros.

    A disk PSF of radius ``R`` multiplies the spectrum by ``(2 J1(2π f R) / (2π f R))²``, whose
    zeros (first at ``f ≈ 0.61 / R`` cycles/pixel) show as dips in the radially averaged log
    power spectrum (identification of defocus blur from spectral zeros: Cannon, 1976). The
    spectrum of the luminance, with its power-law trend removed, is correlated with the
    equally detrended model ``log(|H_R|² + c)`` for every candidate radius ``R`` and noise floor
    ``c``; the best-correlated radius wins. On RoadScene *train* images blurred with disk radii
    2–5 px the estimate is exact without noise and within +0.5–1 px with σ = 5/255 noise.

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` float image in ``[0, 1]``.
        radii: candidate radii in pixels.
        floors: candidate noise floors ``c``.
        band: frequency band (cycles/pixel) used for the fit.

    Returns:
        The chosen radius in pixels.
    """
    x = luminance(check_image(img, "estimate_defocus_radius")).astype(np.float64)
    freq, logp = _radial_log_spectrum(x)
    m = (freq > band[0]) & (freq < band[1])
    data = _remove_power_law(freq[m], logp[m])
    models, model_radii = _detrended_models(tuple(float(r) for r in radii), tuple(float(c) for c in floors), band)
    if not len(model_radii):
        return float(radii[0])
    d = data - data.mean()
    scores = models @ d / (np.linalg.norm(models, axis=1) * np.linalg.norm(d) + 1e-300)  # Pearson r (models are zero-mean)
    return float(model_radii[int(np.argmax(scores))])


@functools.lru_cache(maxsize=8)
def _detrended_models(radii: tuple[float, ...], floors: tuple[float, ...], band: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Detrended ``log(|H_R|² + c)`` on the spectrum bins of :func:`_radial_log_spectrum` for every
    (radius, floor), radius-major; constant models are dropped. Returns ``(models (K, n), radii (K,))``."""
    freq = _bin_centres()
    f = freq[(freq > band[0]) & (freq < band[1])]
    rows, rs = [], []
    for r in radii:
        for c in floors:
            model = _remove_power_law(f, disk_otf_log_power(f, r, c))
            if np.std(model) == 0:
                continue
            rows.append(model - model.mean())
            rs.append(r)
    return np.asarray(rows).reshape(len(rows), f.size), np.asarray(rs)


def _balance(img: np.ndarray) -> float:
    """Regularisation weight of the Wiener–Hunt filter, growing with the estimated noise level."""
    sigma = estimate_noise_sigma(img)
    return float(np.clip(BALANCE_BASE + BALANCE_PER_SIGMA * sigma, BALANCE_BASE, 0.3))


def _deconvolve(y: np.ndarray, radius: float, balance: float) -> np.ndarray:
    psf = disk_psf(radius)
    pad = 4 * int(np.ceil(radius)) + 4
    padded = np.pad(y.astype(np.float64), pad, mode="symmetric")
    out = wiener(padded, psf, balance, clip=False)
    return out[pad:-pad, pad:-pad]


def deblur_wiener(img: np.ndarray, *, radius: float | None = None, balance: float | None = None) -> np.ndarray:
    """Remove defocus blur by Wiener–Hunt deconvolution with a disk PSF.

    The radius is estimated with :func:`estimate_defocus_radius` unless given; the
    regularisation weight grows with the estimated noise level (``0.012 + 2σ̂``, σ̂ on the
    ``[0, 1]`` scale, at most 0.3; :data:`BALANCE_BASE`, :data:`BALANCE_PER_SIGMA`). On
    RoadScene *train* images blurred with disk radii 2–5 px this gains ≈ +2.9 dB without noise
    and ≈ +2.3 dB with σ = 4/255 noise (luminance PSNR against the sharp image). The image is symmetric-padded before the
    FFT-based deconvolution to limit wrap-around ringing, and each colour channel is
    deconvolved with the same PSF.

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` float image in ``[0, 1]``.
        radius: disk radius in pixels (``None``: estimated).
        balance: Wiener–Hunt regularisation (``None``: from the noise level).

    Returns:
        Deblurred image, float32 in ``[0, 1]``, same shape.
    """
    x = check_image(img, "deblur")
    r = estimate_defocus_radius(x) if radius is None else float(radius)
    bal = _balance(x) if balance is None else float(balance)
    if x.ndim == 2:
        return finish(_deconvolve(x, r, bal))
    return finish(np.stack([_deconvolve(x[..., c], r, bal) for c in range(3)], axis=-1))
