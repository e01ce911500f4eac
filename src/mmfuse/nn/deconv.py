"""Differentiable Wiener–Hunt deconvolution with a disk (defocus) PSF, per image.

The filter is the Laplacian-regularised Wiener–Hunt filter (Hunt 1971; the filter of
``skimage.restoration.wiener`` and of the classical cascade's :func:`mmfuse.restore.deblur_wiener`):

``X̂ = conj(H) / (|H|² + λ |L|²) · Y``,

with ``H`` the transfer function of the PSF, ``L`` that of the discrete Laplacian and ``λ`` the
regularisation weight. Here it runs in torch (gradients flow to the image and to ``λ``), on
reflect-padded images (limits wrap-around ringing), one radius per image. Putting a
deconvolution with a known (here: estimated) kernel in front of a learnt correction is the idea of
Dong et al., "Deep Wiener Deconvolution: Wiener Meets Deep Learning for Image Deblurring",
NeurIPS 2020.

:func:`tv_deconvolution` is the total-variation alternative (a Laplacian prior on the
gradients instead of a Gaussian one), solved by half-quadratic splitting as in Krishnan & Fergus
(exponent 1).

References:
    B. R. Hunt, "A matrix theory proof of the discrete convolution theorem", IEEE Trans. Audio
    Electroacoust. 19(4), 1971.
    D. Krishnan, R. Fergus, "Fast Image Deconvolution using Hyper-Laplacian Priors", NIPS 2009.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from mmfuse.errors import InputError
from mmfuse.nn._checks import check_feature_map

__all__ = ["transfer_function", "wiener_hunt", "disk_wiener", "tv_deconvolution", "disk_tv"]

_LAPLACIAN = ((0.0, -1.0, 0.0), (-1.0, 4.0, -1.0), (0.0, -1.0, 0.0))


def transfer_function(kernel: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Real-FFT transfer function of a centred ``(kh, kw)`` kernel on an ``(H, W)`` grid.

    The kernel is zero-padded to ``shape`` and rolled so that its centre sits at the origin (no
    phase shift), as ``skimage.restoration.uft.ir2tf`` does.

    Returns:
        ``(H, W // 2 + 1)`` complex tensor.
    """
    kh, kw = kernel.shape
    if kh > shape[0] or kw > shape[1]:
        raise InputError(f"transfer_function: kernel {tuple(kernel.shape)} larger than the grid {shape}")
    grid = kernel.new_zeros(shape)
    grid[:kh, :kw] = kernel
    grid = torch.roll(grid, shifts=(-(kh // 2), -(kw // 2)), dims=(0, 1))
    return torch.fft.rfft2(grid)


def wiener_hunt(x: torch.Tensor, psf: torch.Tensor, balance: torch.Tensor | float, pad: int | None = None) -> torch.Tensor:
    """Wiener–Hunt deconvolution of every channel of ``x`` with one PSF.

    Args:
        x: ``(B, C, H, W)`` float image(s).
        psf: ``(k, k)`` kernel summing to 1 (odd ``k``).
        balance: regularisation weight ``λ``: a scalar or a 0-d tensor, or ``n`` values (a
            sequence or 1-d tensor) for a bank of deconvolutions that share one FFT of ``x``;
            may require grad.
        pad: reflect padding on each side before the FFT (default ``2k + 4``, clipped to what
            reflect padding allows).

    Returns:
        ``(B, C, H, W)`` deconvolved image (not clipped); with ``n`` balances ``(B, n·C, H, W)``,
        channel ``j·C + c`` = channel ``c`` deconvolved with the ``j``-th balance.
    """
    check_feature_map(x, "wiener_hunt")
    h, w = x.shape[-2:]
    k = psf.shape[-1]
    p = min(2 * k + 4 if pad is None else int(pad), h - 1, w - 1)
    xp = F.pad(x, (p, p, p, p), mode="reflect") if p > 0 else x
    shape = (xp.shape[-2], xp.shape[-1])
    tf = transfer_function(psf.to(x.dtype), shape)
    reg = transfer_function(torch.tensor(_LAPLACIAN, dtype=x.dtype, device=x.device), shape)
    lam = torch.as_tensor(balance, dtype=x.dtype, device=x.device)
    if lam.ndim > 1 or lam.numel() == 0:
        raise InputError(f"wiener_hunt: balance must be a scalar or 1-d, got shape {tuple(lam.shape)}")
    filt = tf.conj() / (tf.abs() ** 2 + lam.reshape(-1, 1, 1) * reg.abs() ** 2)  # (n, H', W'/2 + 1)
    out = torch.fft.irfft2(filt[:, None, None] * torch.fft.rfft2(xp)[None], s=shape)[..., p : p + h, p : p + w]
    if lam.ndim == 0:
        return out[0]
    return out.transpose(0, 1).reshape(x.shape[0], -1, h, w)


def disk_wiener(x: torch.Tensor, radii: Sequence[float], balance: torch.Tensor | float) -> torch.Tensor:
    """Deconvolve each image of a batch with a disk PSF of its own radius.

    Args:
        x: ``(B, C, H, W)``.
        radii: ``B`` disk radii in pixels (``> 0``; see :func:`mmfuse.restore.disk_psf`).
        balance: Wiener–Hunt regularisation ``λ``, or ``n`` values (see :func:`wiener_hunt`).

    Returns:
        ``(B, C, H, W)``; with ``n`` balances ``(B, n·C, H, W)``.
    """
    psfs = _disk_psfs(x, radii, "disk_wiener")
    return torch.cat([wiener_hunt(x[i : i + 1], psf, balance) for i, psf in enumerate(psfs)], 0)


def _disk_psfs(x: torch.Tensor, radii: Sequence[float], name: str) -> list[torch.Tensor]:
    """One disk PSF per image of ``x`` (``B`` radii in pixels, each ``> 0``), as tensors of its
    dtype and device; the numpy PSF is the classical cascade's (:func:`mmfuse.restore.disk_psf`)."""
    from mmfuse.restore.deblur import disk_psf

    if len(radii) != x.shape[0]:
        raise InputError(f"{name}: {len(radii)} radii for a batch of {x.shape[0]}")
    if not all(math.isfinite(r) and r > 0 for r in radii):
        raise InputError(f"{name}: radii must be > 0, got {list(radii)}")
    return [torch.from_numpy(disk_psf(float(r))).to(device=x.device, dtype=x.dtype) for r in radii]


_DX = ((1.0, -1.0),)
_DY = ((1.0,), (-1.0,))


def tv_deconvolution(
    x: torch.Tensor, psf: torch.Tensor, lam: torch.Tensor | float, *, inner: int = 3, steps: int = 6, pad: int | None = None
) -> torch.Tensor:
    """Total-variation deconvolution of ``x`` with one PSF, or one PSF per image.

    Minimises ``½‖k ∗ u − x‖² + λ (‖∂ₓu‖₁ + ‖∂ᵧu‖₁)`` by half-quadratic splitting (Krishnan &
    Fergus, NIPS 2009, with exponent 1): auxiliary gradients ``w`` tied to ``∇u`` by a penalty
    ``β/2 ‖∇u − w‖²``; the ``w``-step soft-thresholds ``∇u`` at ``λ/β``, the ``u``-step is
    exact in the Fourier domain; ``β`` starts at ``λ`` and grows ×2√2 for ``steps`` rounds of
    ``inner`` iterations (their schedule, 1 → 256 for the weight of the data term). Gradients flow
    through every iteration (to ``x`` and ``λ``).

    Args:
        x: ``(B, C, H, W)`` float image(s).
        psf: ``(k, k)`` kernel summing to 1, or ``(B, k, k)``: one per image (odd ``k``; smaller
            kernels zero-padded around their centre).
        lam: TV weight ``λ`` (on the ``[0, 1]`` scale; ≈ 5e-4 for 8-bit images blurred by a
            2-5 px disk).
        inner, steps: iterations per penalty weight and number of weights.
        pad: reflect padding on each side (default ``2k + 4``, clipped to what reflect allows).

    Returns:
        ``(B, C, H, W)`` deconvolved image (not clipped).
    """
    check_feature_map(x, "tv_deconvolution")
    if psf.ndim == 3 and psf.shape[0] != x.shape[0]:
        raise InputError(f"tv_deconvolution: {psf.shape[0]} kernels for a batch of {x.shape[0]}")
    h, w = x.shape[-2:]
    k = psf.shape[-1]
    p = min(2 * k + 4 if pad is None else int(pad), h - 1, w - 1)
    xp = F.pad(x, (p, p, p, p), mode="reflect") if p > 0 else x
    shape = (xp.shape[-2], xp.shape[-1])
    kernels = psf.to(x.dtype).reshape(-1, k, k)
    tf = torch.stack([transfer_function(q, shape) for q in kernels])[:, None]  # (1|B, 1, H', W'/2 + 1)
    dx = transfer_function(torch.tensor(_DX, dtype=x.dtype, device=x.device), shape)
    dy = transfer_function(torch.tensor(_DY, dtype=x.dtype, device=x.device), shape)
    lam_t = torch.as_tensor(lam, dtype=x.dtype, device=x.device)
    kty = tf.conj() * torch.fft.rfft2(xp)
    kk, dd = tf.abs() ** 2, dx.abs() ** 2 + dy.abs() ** 2
    u, beta = xp, lam_t
    for _ in range(steps):
        for _ in range(inner):
            # circular forward differences (the operators whose transfer functions are dx, dy) and
            # their adjoints in the image domain: two FFTs per iteration instead of six
            gx, gy = u.roll(-1, -1) - u, u.roll(-1, -2) - u
            t = lam_t / beta
            wx = torch.sign(gx) * torch.relu(gx.abs() - t)
            wy = torch.sign(gy) * torch.relu(gy.abs() - t)
            div = wx.roll(1, -1) - wx + wy.roll(1, -2) - wy
            u = torch.fft.irfft2((kty + beta * torch.fft.rfft2(div)) / (kk + beta * dd), s=shape)
        beta = beta * (2.0 * math.sqrt(2.0))
    return u[..., p : p + h, p : p + w]


def disk_tv(x: torch.Tensor, radii: Sequence[float], lam: torch.Tensor | float, **kwargs: int) -> torch.Tensor:
    """:func:`tv_deconvolution` of each image of a batch with a disk PSF of its own radius
    (``B`` radii in pixels, ``> 0``), all images in one pass; ``kwargs`` go to
    :func:`tv_deconvolution`."""
    psfs = _disk_psfs(x, radii, "disk_tv")
    k = max(q.shape[0] for q in psfs)
    stack = x.new_zeros(len(psfs), k, k)
    for i, q in enumerate(psfs):  # smaller disks zero-padded around their centre
        o = (k - q.shape[0]) // 2
        stack[i, o : o + q.shape[0], o : o + q.shape[0]] = q
    return tv_deconvolution(x, stack, lam, **kwargs)
