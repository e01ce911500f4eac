"""Small convolutional blocks.

* :class:`ResidualBlock`: ``x + Conv3x3(ReLU(Conv3x3(x)))``, optionally followed by a ReLU. It is
  the residual stream block (RSB) of AMG-Fuse's visible and infrared streams (with the final
  ReLU) and, followed by a sigmoid, its mask refiner ("Multi-modality image fusion under adverse
  weather: mask-guided feature restoration and interaction"; authors' code ``ResBlock``). The
  block design is He et al., "Deep Residual Learning for Image Recognition", CVPR 2016.
"""
from __future__ import annotations

import torch
from torch import nn

from mmfuse.nn._checks import check_feature_map

__all__ = ["ResidualBlock"]


class ResidualBlock(nn.Module):
    """``y = x + Conv3x3(ReLU(Conv3x3(x)))``; ``ReLU(y)`` if ``final_relu``.

    Args:
        channels: ``C``.
        final_relu: apply a ReLU after the residual addition.
        bias: conv biases.

    Shape:
        ``(B, C, H, W)`` -> ``(B, C, H, W)``.
    """

    def __init__(self, channels: int, final_relu: bool = False, bias: bool = True) -> None:
        super().__init__()
        self.channels, self.final_relu = channels, final_relu
        self.block = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=bias),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1, bias=bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_feature_map(x, "ResidualBlock", self.channels)
        y = x + self.block(x)
        return torch.relu(y) if self.final_relu else y
