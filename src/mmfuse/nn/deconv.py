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

References:
    B. R. Hunt, "A matrix theory proof of the discrete convolution theorem", IEEE Trans. Audio
    Electroacoust. 19(4), 1971.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from mmfuse.errors import InputError
from mmfuse.nn._checks import check_feature_map

__all__ = ["transfer_function", "wiener_hunt", "disk_wiener"]

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
    from mmfuse.restore.deblur import disk_psf  # numpy PSF shared with the classical cascade

    if len(radii) != x.shape[0]:
        raise InputError(f"disk_wiener: {len(radii)} radii for a batch of {x.shape[0]}")
    outs = []
    for i, r in enumerate(radii):
        if not (math.isfinite(r) and r > 0):
            raise InputError(f"disk_wiener: radius must be > 0, got {r}")
        psf = torch.from_numpy(disk_psf(float(r))).to(device=x.device, dtype=x.dtype)
        outs.append(wiener_hunt(x[i : i + 1], psf, balance))
    return torch.cat(outs, 0)
