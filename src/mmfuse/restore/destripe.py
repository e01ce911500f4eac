"""Infrared stripe (fixed-pattern column noise) removal.

Two classical filters:

* :func:`destripe_columns` (default): column offsets estimated from the median of horizontal
  differences, i.e. the constant-statistics assumption of scene-based non-uniformity
  correction (every column sees the same scene statistics) applied within one image.
* :func:`destripe_wavelet_fft`: Münch et al.'s combined wavelet–Fourier filter.

References:
    J. G. Harris, Y.-M. Chiang, "Nonuniformity correction of infrared image sequences using the
    constant-statistics constraint", IEEE TIP 8(8):1148–1151, 1999.
    B. Münch, P. Trtik, F. Marone, M. Stampanoni, "Stripe and ring artifact removal with
    combined wavelet–Fourier filtering", Optics Express 17(10):8567–8591, 2009,
    doi:10.1364/OE.17.008567.
"""
from __future__ import annotations

import numpy as np
import pywt

from mmfuse.restore._common import check_image, finish

__all__ = ["destripe_columns", "destripe_wavelet_fft", "stripe_amplitude", "stripe_noise_floor", "stripe_profile", "stripe_profile_and_floor"]


def destripe_columns(img: np.ndarray, *, smooth: int = 15) -> np.ndarray:
    """Remove column offsets estimated from the median of horizontal differences.

    Under a column-offset model ``I(y, x) = J(y, x) + c(x)``, the difference of neighbouring
    columns is ``J(y, x+1) − J(y, x) + c(x+1) − c(x)``; its median over the rows estimates
    ``c(x+1) − c(x)`` when the scene's horizontal gradients have zero median (the
    constant-statistics assumption of Harris & Chiang, 1999, applied along the rows of a single
    image). The cumulative sum gives the offset profile up to slowly varying terms, which are
    scene content; subtracting a ``smooth``-wide moving median keeps only the stripe part,
    which is then removed from every row.

    Chosen over :func:`destripe_wavelet_fft` as the default because it leaves clean images
    almost untouched: on 6 RoadScene *train* IR images with EMS-style stripes (column std
    U(3, 8), pixel std U(3, 5), 0–255 scale) it gains +3.5 dB (wavelet–FFT: +2.8 dB), and on
    the clean images its change is at the 52 dB PSNR level (wavelet–FFT: 47 dB).

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` float image in ``[0, 1]`` (colour: the same offsets
            are estimated per channel).
        smooth: width (columns) of the moving median separating stripes from scene content.

    Returns:
        Destriped image, float32 in ``[0, 1]``, same shape.
    """
    x = check_image(img, "destripe")
    if x.ndim == 3:
        return np.stack([destripe_columns(x[..., c], smooth=smooth) for c in range(3)], axis=-1)
    return finish(x - stripe_profile(x, smooth=smooth)[None, :])


def stripe_profile(x: np.ndarray, *, smooth: int = 15) -> np.ndarray:
    """Column offsets ``(W,)`` (float64) of an ``(H, W)`` image that :func:`destripe_columns` removes."""
    return _profile(x, smooth)[0]


def stripe_profile_and_floor(x: np.ndarray, *, smooth: int = 15) -> tuple[np.ndarray, float]:
    """:func:`stripe_profile` of an ``(H, W)`` image and its :func:`stripe_noise_floor`, computed
    together (they share the medians of the horizontal differences)."""
    profile, d, med = _profile(x, smooth)
    return profile, (0.0 if d is None else _noise_floor(d, med, smooth))


def _profile(x: np.ndarray, smooth: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Column-offset profile ``(W,)`` plus the horizontal differences ``(H, W-1)`` and their
    per-column medians it was integrated from (``None`` for images under 3 columns: zero profile)."""
    from scipy.ndimage import median_filter

    if x.shape[1] < 3:
        return np.zeros(x.shape[1]), None, None
    d = np.diff(x.astype(np.float64), axis=1)
    med = np.median(d, axis=0)
    profile = np.concatenate([[0.0], np.cumsum(med)])
    profile -= median_filter(profile, size=min(smooth, x.shape[1]), mode="reflect")
    return profile, d, med


def _damp_columns(band: np.ndarray, sigma: float) -> np.ndarray:
    """Suppress the along-column DC part of a detail band: FFT over rows, multiply by ``1 − exp(−k²/2σ²)``."""
    spec = np.fft.fft(band, axis=0)
    k = np.fft.fftfreq(band.shape[0]) * band.shape[0]  # integer frequency index, 0 first
    damp = 1.0 - np.exp(-(k * k) / (2.0 * sigma * sigma))
    return np.real(np.fft.ifft(spec * damp[:, None], axis=0))


def destripe_wavelet_fft(
    img: np.ndarray,
    *,
    levels: int = 3,
    wavelet: str = "db8",
    sigma: float = 1.0,
) -> np.ndarray:
    """Remove vertical stripes (column-constant offsets) with Münch et al.'s wavelet–FFT filter.

    A stripe that is constant down a column lives in the *vertical* detail sub-bands of a 2-D
    wavelet decomposition (high-pass across columns, low-pass down them) and, inside those
    bands, at the zero frequency of a Fourier transform taken down each column. Each vertical
    detail band of a ``levels``-level decomposition (PyWavelets ``wavedec2``, symmetric
    extension) is Fourier transformed along the rows axis, multiplied by the Gaussian notch
    ``1 − exp(−k² / 2σ²)`` (``k`` the integer frequency index) and transformed back; the
    image is then reconstructed. Horizontal detail and the approximation are untouched, so
    horizontal edges are kept; long vertical edges lose a little of their along-column
    constant part, which is why ``σ`` is small.

    Args:
        img: ``(H, W)`` (or ``(H, W, 3)``, filtered per channel) float image in ``[0, 1]``.
        levels: decomposition depth (reduced automatically for small images).
        wavelet: PyWavelets wavelet name (Münch et al. use long Daubechies wavelets).
        sigma: width of the Gaussian notch, in frequency-index units.

    Returns:
        Destriped image, float32 in ``[0, 1]``, same shape.
    """
    x = check_image(img, "destripe")
    if x.ndim == 3:
        return np.stack([destripe_wavelet_fft(x[..., c], levels=levels, wavelet=wavelet, sigma=sigma) for c in range(3)], axis=-1)
    w = pywt.Wavelet(wavelet)
    n = max(1, min(int(levels), pywt.dwt_max_level(min(x.shape), w.dec_len)))
    coeffs = pywt.wavedec2(x.astype(np.float64), w, mode="symmetric", level=n)
    out = [coeffs[0]]
    for ch, cv, cd in coeffs[1:]:
        out.append((ch, _damp_columns(cv, sigma), cd))
    rec = pywt.waverec2(out, w, mode="symmetric")[: x.shape[0], : x.shape[1]]
    return finish(rec)


def stripe_amplitude(img: np.ndarray, *, smooth: int = 15, noise_corrected: bool = False) -> float:
    """Std of the column-offset profile that :func:`destripe_columns` would remove (``[0, 1]`` scale).

    Used to decide blindly whether an infrared image is striped: on 60 clean RoadScene *train*
    IR images it ranges 0.03–2.9/255 (median 0.7/255; a few frames carry real sensor stripes),
    with EMS-style stripes of column std 3/255 it is ≥ 2.9/255. White noise raises it too (the
    profile is estimated from noisy rows): on a 302-row image about 1.2 / 2.1 / 2.6 / 3.5 (/255)
    at noise σ = 5 / 15 / 25 / 50; ``noise_corrected`` removes that part in quadrature,
    ``sqrt(max(m² − f², 0))`` with ``f`` = :func:`stripe_noise_floor`.

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` float image in ``[0, 1]`` (colour is averaged).
        smooth: see :func:`destripe_columns`.
        noise_corrected: subtract the profile's noise floor.
    """
    x = check_image(img, "stripe_amplitude")
    g = x.mean(axis=2) if x.ndim == 3 else x
    if not noise_corrected:
        return float(np.std(stripe_profile(g, smooth=smooth)))
    profile, f = stripe_profile_and_floor(g, smooth=smooth)
    m = float(np.std(profile))
    return float(np.sqrt(max(m * m - f * f, 0.0)))


_FLOOR_GAIN = 1.17  # calibration of stripe_noise_floor on white Gaussian noise (see its docstring)


def stripe_noise_floor(img: np.ndarray, *, smooth: int = 15) -> float:
    """Std that the column-offset profile (:func:`stripe_profile`) of ``img`` shows without stripes,
    from the row-to-row variation of its horizontal differences alone (``[0, 1]`` scale).

    The profile integrates, column pair by column pair, the median over the ``H`` rows of the
    horizontal differences. For differences of spread ``σ_j`` (robust: 1.4826 × their median
    absolute deviation) that median has the standard error ``s_j = sqrt(π/2)·σ_j/√H`` (the
    asymptotic efficiency of the sample median for Gaussian data). Without stripes the
    integrated medians behave like the noise of per-column means: a column term of variance
    ``t_j² = s_j²/2`` (neighbouring differences share a column, so the integral telescopes
    instead of wandering, up to the part by which medians of differences are not differences
    of medians). The floor is the rms std of 16 such column terms, high-passed as
    :func:`stripe_profile` does (fixed seed: deterministic), times a gain of 1.17 that accounts
    for that non-linear part: measured as the mean ratio of the actual profile std to the
    uncalibrated floor on white Gaussian noise (float images of 160×160, 302×400 and 480×640
    px: 1.15, 1.21, 1.15). 8-bit rounding of weakly noisy images adds a quantisation part it
    does not count.

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` float image in ``[0, 1]`` (colour is averaged).
        smooth: see :func:`destripe_columns`.
    """
    x = check_image(img, "stripe_noise_floor")
    return stripe_profile_and_floor(x.mean(axis=2) if x.ndim == 3 else x, smooth=smooth)[1]


def _noise_floor(d: np.ndarray, med: np.ndarray, smooth: int, draws: int = 16) -> float:
    """:func:`stripe_noise_floor` from the ``(H, W − 1)`` horizontal differences and their medians over the rows."""
    from scipy.ndimage import median_filter

    spread = 1.4826 * np.median(np.abs(d - med), axis=0)
    s = np.sqrt(np.pi / 2.0) * spread / np.sqrt(d.shape[0])
    col = np.sqrt(np.concatenate([s[:1] ** 2, (s[:-1] ** 2 + s[1:] ** 2) / 2, s[-1:] ** 2]) / 2)  # per column: s² = 2 t²
    prof = np.random.default_rng(0).standard_normal((draws, col.size)) * col
    prof -= median_filter(prof, size=(1, min(smooth, d.shape[1] + 1)), mode="reflect")
    return _FLOOR_GAIN * float(np.sqrt(np.mean(prof.var(axis=1))))
