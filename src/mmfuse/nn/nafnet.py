"""NAFNet building blocks.

Chen, Chu, Zhang, Sun, "Simple Baselines for Image Restoration", ECCV 2022 (arXiv:2204.04676).
LURE builds its image encoder (BaseBlock, BottleNeck) and decoder from NAFBlocks.

* :class:`SimpleGate`: split the channels in two halves and multiply them (replaces GELU).
* :class:`SimplifiedChannelAttention`: ``x * Conv1x1(GAP(x))`` (SCA, no non-linearity).
* :class:`NAFBlock`: LN -> 1x1 -> depthwise 3x3 -> SimpleGate -> SCA -> 1x1, residual scaled by
  ``beta``; LN -> 1x1 -> SimpleGate -> 1x1, residual scaled by ``gamma``. ``beta`` and ``gamma``
  start at zero, so the block starts as the identity.

Parameter names follow the official NAFNet code (``norm1``, ``conv1`` ... ``conv5``,
``sca.1``, ``beta``, ``gamma``), so an official state dict loads with ``strict=True``.
"""
from __future__ import annotations

import torch
from torch import nn

from mmfuse.errors import InputError, ShapeError
from mmfuse.nn._checks import check_feature_map
from mmfuse.nn.norm import LayerNorm2d

__all__ = ["SimpleGate", "SimplifiedChannelAttention", "NAFBlock"]


class SimpleGate(nn.Module):
    """``x1 * x2`` where ``(x1, x2)`` are the two channel halves of the input.

    Shape:
        ``(B, 2C, H, W)`` -> ``(B, C, H, W)``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_feature_map(x, "SimpleGate")
        if x.shape[1] % 2:
            raise ShapeError(f"SimpleGate: channel count must be even, got shape {tuple(x.shape)}")
        x1, x2 = x.chunk(2, dim=1)
        return x1 * x2


class SimplifiedChannelAttention(nn.Sequential):
    """Simplified channel attention: ``x * Conv1x1(AdaptiveAvgPool(x))``.

    Args:
        channels: ``C``.

    Shape:
        ``(B, C, H, W)`` -> ``(B, C, H, W)``.
    """

    def __init__(self, channels: int) -> None:
        super().__init__(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, channels, 1, bias=True))
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        check_feature_map(x, "SimplifiedChannelAttention", self.channels)
        return x * super().forward(x)


class NAFBlock(nn.Module):
    """Nonlinear-activation-free block (NAFNet Fig. 3c).

    Args:
        channels: ``C``.
        dw_expand: expansion of the depthwise branch (NAFNet: 2).
        ffn_expand: expansion of the feed-forward branch (NAFNet: 2).
        drop_out_rate: dropout after each branch (NAFNet: 0).
        eps: LayerNorm epsilon (NAFNet: ``1e-6``).

    Shape:
        ``(B, C, H, W)`` -> ``(B, C, H, W)``; any ``H, W``.
    """

    def __init__(
        self,
        channels: int,
        dw_expand: int = 2,
        ffn_expand: int = 2,
        drop_out_rate: float = 0.0,
        eps: float = 1e-6,
    ) -> None:
        super().__init__()
        dw = channels * dw_expand
        ffn = channels * ffn_expand
        if dw % 2 or ffn % 2:
            raise InputError(f"NAFBlock: channels x expansions must be even, got {dw} and {ffn}")
        self.channels = channels
        self.norm1 = LayerNorm2d(channels, "with_bias", eps)
        self.conv1 = nn.Conv2d(channels, dw, 1)
        self.conv2 = nn.Conv2d(dw, dw, 3, padding=1, groups=dw)
        self.sg = SimpleGate()
        self.sca = SimplifiedChannelAttention(dw // 2)
        self.conv3 = nn.Conv2d(dw // 2, channels, 1)
        self.norm2 = LayerNorm2d(channels, "with_bias", eps)
        self.conv4 = nn.Conv2d(channels, ffn, 1)
        self.conv5 = nn.Conv2d(ffn // 2, channels, 1)
        self.dropout1 = nn.Dropout(drop_out_rate) if drop_out_rate > 0 else nn.Identity()
        self.dropout2 = nn.Dropout(drop_out_rate) if drop_out_rate > 0 else nn.Identity()
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_feature_map(x, "NAFBlock", self.channels)
        h = self.sca(self.sg(self.conv2(self.conv1(self.norm1(x)))))
        y = x + self.dropout1(self.conv3(h)) * self.beta
        h = self.conv5(self.sg(self.conv4(self.norm2(y))))
        return y + self.dropout2(h) * self.gamma
