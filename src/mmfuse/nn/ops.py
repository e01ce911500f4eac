"""Tensor helpers shared by blocks, models and losses.

All functions are pure (no parameters, no state) and work on ``(B, C, H, W)`` float tensors.

* Sobel gradients (:func:`sobel_gradients`, :func:`gradient_magnitude`) through
  :func:`kornia.filters.filter2d` with the kernels of
  :func:`kornia.filters.get_spatial_gradient_kernel2d`.
* BT.601 full-range colour conversion through :mod:`kornia.color` (``Y = 0.299 R + 0.587 G +
  0.114 B``, ``Cb = (B - Y) * 0.564 + 0.5``, ``Cr = (R - Y) * 0.713 + 0.5``), the same convention
  as :mod:`mmfuse.io`.
* Padding to a multiple of a factor and cropping back (the NAFNet ``check_image_size`` pattern).
* Non-overlapping window partitioning for windowed attention (Liu et al., "Swin Transformer:
  Hierarchical Vision Transformer using Shifted Windows", ICCV 2021).
* The l1-norm and addition fusion rules of DenseFuse (Li and Wu, "DenseFuse: A Fusion Approach
  to Infrared and Visible Images", IEEE TIP 2019), used on latents by LURE.
"""
from __future__ import annotations

from typing import Literal

import kornia
import torch
import torch.nn.functional as F

from mmfuse.errors import InputError, ShapeError
from mmfuse.nn._checks import check_feature_map, check_same_spatial

__all__ = [
    "BorderType",
    "GradientMode",
    "sobel_gradients",
    "gradient_magnitude",
    "rgb_to_ycbcr",
    "ycbcr_to_rgb",
    "luminance",
    "pad_to_multiple",
    "crop_to",
    "window_partition",
    "window_reverse",
    "addition_fusion_rule",
    "l1_norm_fusion_rule",
]

BorderType = Literal["replicate", "constant", "reflect"]
GradientMode = Literal["abs_sum", "magnitude"]


def sobel_gradients(x: torch.Tensor, border: BorderType = "replicate") -> tuple[torch.Tensor, torch.Tensor]:
    """Horizontal and vertical 3x3 Sobel responses of every channel.

    The kernels are the un-normalised Sobel kernels (``[[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]`` and
    its transpose), applied as a correlation.

    Args:
        x: images ``(B, C, H, W)``, any range.
        border: padding of the 1-pixel border: ``"replicate"`` (kornia's default, no artificial
            edge at the image border), ``"constant"`` (zero padding, as ``F.conv2d(..., padding=1)``
            in the fusion papers' code) or ``"reflect"``.

    Returns:
        ``(gx, gy)``, each ``(B, C, H, W)``.

    Raises:
        ShapeError: if ``x`` is not 4-D.
    """
    check_feature_map(x, "sobel_gradients")
    kernels = kornia.filters.get_spatial_gradient_kernel2d("sobel", 1, device=x.device, dtype=x.dtype)
    gx = kornia.filters.filter2d(x, kernels[0:1], border_type=border)
    gy = kornia.filters.filter2d(x, kernels[1:2], border_type=border)
    return gx, gy


def gradient_magnitude(
    x: torch.Tensor, mode: GradientMode = "abs_sum", border: BorderType = "replicate", eps: float = 1e-6
) -> torch.Tensor:
    """Sobel gradient strength of every channel.

    Args:
        x: images ``(B, C, H, W)``.
        mode: ``"abs_sum"`` gives ``|gx| + |gy|`` (the operator of most fusion code, e.g.
            MoE-Fusion's and TG-ECNet's ``Sobelxy``); ``"magnitude"`` gives
            ``sqrt(gx^2 + gy^2 + eps)`` (``eps`` keeps the gradient finite at flat pixels).
        border: border handling, see :func:`sobel_gradients`.
        eps: stabiliser of the square root in ``"magnitude"`` mode.

    Returns:
        ``(B, C, H, W)`` non-negative gradient strength.

    Raises:
        InputError: on an unknown ``mode``.
    """
    gx, gy = sobel_gradients(x, border)
    if mode == "abs_sum":
        return gx.abs() + gy.abs()
    if mode == "magnitude":
        return torch.sqrt(gx * gx + gy * gy + eps)
    raise InputError(f"gradient mode {mode!r} is unknown; valid: 'abs_sum', 'magnitude'")


def rgb_to_ycbcr(x: torch.Tensor) -> torch.Tensor:
    """BT.601 full-range RGB to YCbCr (kornia convention, equal to ``mmfuse.io.rgb_to_ycbcr``).

    Args:
        x: RGB ``(B, 3, H, W)`` in ``[0, 1]``.

    Returns:
        YCbCr ``(B, 3, H, W)``; Y in ``[0, 1]``, Cb and Cr centred on ``0.5``.
    """
    check_feature_map(x, "rgb_to_ycbcr", channels=3)
    return kornia.color.rgb_to_ycbcr(x)


def ycbcr_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_ycbcr` (values are not clipped).

    Args:
        x: YCbCr ``(B, 3, H, W)``.

    Returns:
        RGB ``(B, 3, H, W)``.
    """
    check_feature_map(x, "ycbcr_to_rgb", channels=3)
    return kornia.color.ycbcr_to_rgb(x)


def luminance(x: torch.Tensor) -> torch.Tensor:
    """Luminance of a gray or RGB image batch.

    Args:
        x: ``(B, 1, H, W)`` (returned unchanged) or RGB ``(B, 3, H, W)`` in ``[0, 1]``.

    Returns:
        ``(B, 1, H, W)``: the image itself, or BT.601 ``Y = 0.299 R + 0.587 G + 0.114 B``.

    Raises:
        ShapeError: if the channel count is neither 1 nor 3.
    """
    check_feature_map(x, "luminance")
    if x.shape[1] == 1:
        return x
    if x.shape[1] == 3:
        return kornia.color.rgb_to_grayscale(x)
    raise ShapeError(f"luminance: input must have 1 or 3 channels, got shape {tuple(x.shape)}")


def pad_to_multiple(
    x: torch.Tensor, multiple: int, mode: Literal["reflect", "replicate", "constant"] = "reflect"
) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad the bottom and right of a batch so that ``H`` and ``W`` become multiples of ``multiple``.

    ``"reflect"`` falls back to ``"replicate"`` when the image is too small to reflect.

    Args:
        x: ``(B, C, H, W)``.
        multiple: positive factor, e.g. ``8`` for a U-Net with three pixel-unshuffles.
        mode: padding mode.

    Returns:
        ``(padded, (H, W))``: the padded ``(B, C, H', W')`` tensor and the original size, to pass
        to :func:`crop_to`.

    Raises:
        InputError: if ``multiple < 1``.
    """
    check_feature_map(x, "pad_to_multiple")
    if multiple < 1:
        raise InputError(f"pad_to_multiple: multiple must be >= 1, got {multiple}")
    h, w = int(x.shape[-2]), int(x.shape[-1])
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x, (h, w)
    if mode == "reflect" and (ph >= h or pw >= w):
        mode = "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode), (h, w)


def crop_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Crop the top-left ``size`` of a ``(B, C, H', W')`` batch (undoes :func:`pad_to_multiple`).

    Raises:
        ShapeError: if ``size`` is larger than the tensor.
    """
    h, w = size
    if h > x.shape[-2] or w > x.shape[-1]:
        raise ShapeError(f"crop_to: cannot crop {tuple(x.shape)} to ({h}, {w})")
    return x[..., :h, :w]


def window_partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """Split a channels-last map into non-overlapping square windows.

    Args:
        x: ``(B, H, W, C)`` with ``H`` and ``W`` multiples of ``window``.
        window: window side in tokens.

    Returns:
        ``(B * H/window * W/window, window * window, C)`` in row-major window order.

    Raises:
        ShapeError: if ``H`` or ``W`` is not a multiple of ``window``.
    """
    b, h, w, c = x.shape
    if h % window or w % window:
        raise ShapeError(f"window_partition: grid ({h}, {w}) is not a multiple of window {window}")
    x = x.view(b, h // window, window, w // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window * window, c)


def window_reverse(windows: torch.Tensor, window: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`.

    Args:
        windows: ``(B * H/window * W/window, window * window, C)``.
        window: window side.
        h: grid height ``H``.
        w: grid width ``W``.

    Returns:
        ``(B, H, W, C)``.
    """
    c = windows.shape[-1]
    b = windows.shape[0] // ((h // window) * (w // window))
    x = windows.view(b, h // window, w // window, window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)


def addition_fusion_rule(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """DenseFuse addition rule ``f = a + b`` on feature maps ``(B, C, H, W)`` of equal shape."""
    if a.shape != b.shape:
        raise ShapeError(f"addition_fusion_rule: shapes {tuple(a.shape)} and {tuple(b.shape)} differ")
    return a + b


def l1_norm_fusion_rule(a: torch.Tensor, b: torch.Tensor, radius: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """DenseFuse l1-norm fusion rule on two feature maps.

    Activity ``C_k(x, y) = ||phi_k(x, y)||_1`` over channels, averaged over a ``(2r+1)^2`` window
    (zero-padded, ``count_include_pad=False``), weights ``w_k = C_k / (C_a + C_b)`` and
    ``f = w_a * a + w_b * b`` (Li and Wu, IEEE TIP 2019, Sec. III-B). LURE applies it to its
    per-scale latents as the "prior rule".

    Args:
        a: features ``(B, C, H, W)``.
        b: features of the same shape.
        radius: block-average radius ``r``.
        eps: added to the activity sum, so two all-zero maps give weights 1/2.

    Returns:
        fused features ``(B, C, H, W)``.
    """
    check_feature_map(a, "l1_norm_fusion_rule", name="a")
    check_feature_map(b, "l1_norm_fusion_rule", channels=a.shape[1], name="b")
    check_same_spatial(a, b, "l1_norm_fusion_rule", ("a", "b"))
    k = 2 * radius + 1
    act_a = F.avg_pool2d(a.abs().sum(1, keepdim=True), k, stride=1, padding=radius, count_include_pad=False)
    act_b = F.avg_pool2d(b.abs().sum(1, keepdim=True), k, stride=1, padding=radius, count_include_pad=False)
    total = act_a + act_b + 2 * eps
    return ((act_a + eps) / total) * a + ((act_b + eps) / total) * b
