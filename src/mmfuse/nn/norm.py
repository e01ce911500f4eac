"""Per-pixel channel LayerNorm for ``(B, C, H, W)`` feature maps.

Two variants, as in Restormer (Zamir et al., "Restormer: Efficient Transformer for
High-Resolution Image Restoration", CVPR 2022) and reused by PromptIR, TG-ECNet, NAFNet, LURE
and AMG-Fuse:

* with bias: ``y = (x - mean) / sqrt(var + eps) * weight + bias``;
* bias-free: ``y = x / sqrt(var + eps) * weight``: the variance is taken around the mean but
  ``x`` itself is **not** centred (Restormer's ``BiasFree_LayerNorm``).

The statistics are over the channels of each pixel, with the biased (population) variance.
Restormer uses ``eps = 1e-5``; NAFNet's ``LayerNorm2d`` is the with-bias variant with
``eps = 1e-6``.
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from mmfuse.errors import InputError
from mmfuse.nn._checks import check_feature_map

__all__ = ["layer_norm_2d", "LayerNorm2d", "LayerNormType"]

LayerNormType = Literal["with_bias", "bias_free"]


def layer_norm_2d(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, eps: float = 1e-5
) -> torch.Tensor:
    """Channel LayerNorm of each pixel of a feature map (functional core of :class:`LayerNorm2d`).

    Args:
        x: features ``(B, C, H, W)``.
        weight: scale ``(C,)``.
        bias: shift ``(C,)``; ``None`` selects the bias-free variant (no centring, no shift).
        eps: variance stabiliser.

    Returns:
        ``(B, C, H, W)``.
    """
    if bias is not None:
        return F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), weight, bias, eps).permute(0, 3, 1, 2)
    var = x.var(dim=1, keepdim=True, unbiased=False)
    return x * torch.rsqrt(var + eps) * weight.view(1, -1, 1, 1)


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of every pixel of a ``(B, C, H, W)`` map.

    Args:
        num_channels: ``C``.
        norm_type: ``"with_bias"`` (learnable weight and bias) or ``"bias_free"`` (weight only, no
            centring), Restormer's ``LayerNorm_type`` ``'WithBias'`` / ``'BiasFree'``.
        eps: variance stabiliser (Restormer ``1e-5``, NAFNet ``1e-6``).

    Shape:
        input ``(B, C, H, W)`` -> output ``(B, C, H, W)``.
    """

    def __init__(self, num_channels: int, norm_type: LayerNormType = "with_bias", eps: float = 1e-5) -> None:
        super().__init__()
        if norm_type not in ("with_bias", "bias_free"):
            raise InputError(f"LayerNorm2d: norm_type {norm_type!r} is unknown; valid: 'with_bias', 'bias_free'")
        self.num_channels = num_channels
        self.norm_type = norm_type
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels)) if norm_type == "with_bias" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_feature_map(x, "LayerNorm2d", self.num_channels)
        return layer_norm_2d(x, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_channels}, norm_type={self.norm_type!r}, eps={self.eps}"
