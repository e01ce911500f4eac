"""Restormer building blocks.

Zamir, Arora, Khan, Hayat, Khan, Yang, "Restormer: Efficient Transformer for High-Resolution
Image Restoration", CVPR 2022 (arXiv:2111.09881). The same blocks are the backbone of PromptIR
and TG-ECNet (U-shaped Restormer), the fused stream of AMG-Fuse, and the TDAS critic of
AMG-Fuse; LURE uses GDFN as the FFN of its text-guided blocks.

* :class:`MDTA`: multi-Dconv head transposed attention (channel attention, linear in ``H*W``).
* :class:`GDFN`: gated-Dconv feed-forward network, ``GELU(x1) * x2`` gating.
* :class:`TransformerBlock`: ``x + MDTA(LN(x))`` then ``x + GDFN(LN(x))``.
* :class:`OverlapPatchEmbed`: 3x3 convolution stem.
* :class:`Downsample` / :class:`Upsample`: 3x3 conv + pixel-unshuffle / pixel-shuffle by 2.

Submodule and parameter names follow the official Restormer code (``attn.qkv``,
``attn.qkv_dwconv``, ``attn.project_out``, ``attn.temperature``, ``ffn.project_in``,
``ffn.dwconv``, ``ffn.project_out``, ``body.0``), except that a LayerNorm's parameters are
``norm1.weight`` where Restormer has ``norm1.body.weight``; :func:`remap_restormer_state_dict`
converts an official state dict.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from mmfuse.errors import InputError
from mmfuse.nn._checks import check_divisible, check_feature_map
from mmfuse.nn.attention import channel_attention
from mmfuse.nn.norm import LayerNorm2d, LayerNormType

__all__ = [
    "MDTA",
    "GDFN",
    "TransformerBlock",
    "OverlapPatchEmbed",
    "Downsample",
    "Upsample",
    "remap_restormer_state_dict",
]


class MDTA(nn.Module):
    """Multi-Dconv head transposed attention (Restormer Sec. 3.1).

    ``qkv = DW3x3(Conv1x1(x))`` (``C -> 3C``), per head ``softmax(norm(q) norm(k)^T * tau) v``
    over a ``C/h x C/h`` channel map, then a 1x1 projection. ``tau`` is a learnable per-head
    temperature initialised to 1.

    Args:
        dim: channels ``C``.
        num_heads: heads ``h``; must divide ``dim``.
        bias: biases of the convolutions (Restormer/PromptIR/TG-ECNet: ``False``).

    Shape:
        ``(B, C, H, W)`` -> ``(B, C, H, W)``; any ``H, W >= 1``.
    """

    def __init__(self, dim: int, num_heads: int, bias: bool = False) -> None:
        super().__init__()
        if dim % num_heads:
            raise InputError(f"MDTA: num_heads {num_heads} must divide dim {dim}")
        self.dim, self.num_heads = dim, num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.qkv = nn.Conv2d(dim, 3 * dim, 1, bias=bias)
        self.qkv_dwconv = nn.Conv2d(3 * dim, 3 * dim, 3, padding=1, groups=3 * dim, bias=bias)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_feature_map(x, "MDTA", self.dim)
        q, k, v = self.qkv_dwconv(self.qkv(x)).chunk(3, dim=1)
        return self.project_out(channel_attention(q, k, v, self.num_heads, self.temperature))


class GDFN(nn.Module):
    """Gated-Dconv feed-forward network (Restormer Sec. 3.2).

    ``hidden = int(C * ffn_expansion_factor)``; ``Conv1x1(C -> 2 hidden)``, depthwise 3x3 on
    ``2 hidden`` channels, split into ``x1, x2``, ``GELU(x1) * x2``, ``Conv1x1(hidden -> C)``.

    Args:
        dim: channels ``C``.
        ffn_expansion_factor: Restormer/PromptIR/TG-ECNet use ``2.66``.
        bias: biases of the convolutions.

    Shape:
        ``(B, C, H, W)`` -> ``(B, C, H, W)``.
    """

    def __init__(self, dim: int, ffn_expansion_factor: float = 2.66, bias: bool = False) -> None:
        super().__init__()
        hidden = int(dim * ffn_expansion_factor)
        if hidden < 1:
            raise InputError(f"GDFN: dim {dim} x ffn_expansion_factor {ffn_expansion_factor} gives no hidden channel")
        self.dim, self.hidden = dim, hidden
        self.project_in = nn.Conv2d(dim, 2 * hidden, 1, bias=bias)
        self.dwconv = nn.Conv2d(2 * hidden, 2 * hidden, 3, padding=1, groups=2 * hidden, bias=bias)
        self.project_out = nn.Conv2d(hidden, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_feature_map(x, "GDFN", self.dim)
        x1, x2 = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(x1) * x2)


class TransformerBlock(nn.Module):
    """Restormer transformer block: ``x += MDTA(LN(x))``, then ``x += GDFN(LN(x))``.

    Args:
        dim: channels ``C``.
        num_heads: MDTA heads; must divide ``dim``.
        ffn_expansion_factor: GDFN expansion (``2.66``).
        bias: conv biases (``False`` in Restormer).
        norm_type: ``"with_bias"`` (Restormer default, TG-ECNet) or ``"bias_free"``.

    Shape:
        ``(B, C, H, W)`` -> ``(B, C, H, W)``; any ``H, W``.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        ffn_expansion_factor: float = 2.66,
        bias: bool = False,
        norm_type: LayerNormType = "with_bias",
    ) -> None:
        super().__init__()
        self.norm1 = LayerNorm2d(dim, norm_type)
        self.attn = MDTA(dim, num_heads, bias)
        self.norm2 = LayerNorm2d(dim, norm_type)
        self.ffn = GDFN(dim, ffn_expansion_factor, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class OverlapPatchEmbed(nn.Module):
    """Overlapped patch embedding: a 3x3, stride-1, padding-1 convolution (Restormer stem).

    Args:
        in_channels: image channels (``1`` for TG-ECNet's gray inputs, ``3`` for RGB).
        embed_dim: output channels.
        bias: conv bias (Restormer: ``False``).

    Shape:
        ``(B, C_in, H, W)`` -> ``(B, embed_dim, H, W)``.
    """

    def __init__(self, in_channels: int = 3, embed_dim: int = 48, bias: bool = False) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.proj = nn.Conv2d(in_channels, embed_dim, 3, padding=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_feature_map(x, "OverlapPatchEmbed", self.in_channels)
        return self.proj(x)


class Downsample(nn.Module):
    """Halve the resolution, double the channels: ``Conv3x3(C -> C/2)`` + ``PixelUnshuffle(2)``.

    Args:
        n_feat: input channels ``C`` (even).

    Shape:
        ``(B, C, H, W)`` -> ``(B, 2C, H/2, W/2)``; ``H`` and ``W`` must be even (pad with
        :func:`mmfuse.nn.ops.pad_to_multiple` before the network).
    """

    def __init__(self, n_feat: int) -> None:
        super().__init__()
        if n_feat % 2:
            raise InputError(f"Downsample: n_feat must be even, got {n_feat}")
        self.n_feat = n_feat
        self.body = nn.Sequential(nn.Conv2d(n_feat, n_feat // 2, 3, padding=1, bias=False), nn.PixelUnshuffle(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_feature_map(x, "Downsample", self.n_feat)
        check_divisible(x, 2, "Downsample")
        return self.body(x)


class Upsample(nn.Module):
    """Double the resolution, halve the channels: ``Conv3x3(C -> 2C)`` + ``PixelShuffle(2)``.

    Args:
        n_feat: input channels ``C`` (even).

    Shape:
        ``(B, C, H, W)`` -> ``(B, C/2, 2H, 2W)``; any ``H, W``.
    """

    def __init__(self, n_feat: int) -> None:
        super().__init__()
        if n_feat % 2:
            raise InputError(f"Upsample: n_feat must be even, got {n_feat}")
        self.n_feat = n_feat
        self.body = nn.Sequential(nn.Conv2d(n_feat, n_feat * 2, 3, padding=1, bias=False), nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_feature_map(x, "Upsample", self.n_feat)
        return self.body(x)


_NORM_BODY = re.compile(r"((?:^|\.)norm[^.]*)\.body\.")


def remap_restormer_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename the LayerNorm keys of an official Restormer/PromptIR state dict to mmfuse names.

    ``...norm1.body.weight`` becomes ``...norm1.weight`` (likewise ``norm2`` and ``bias``);
    every other key is kept. Loading the tensors (``safetensors`` or
    ``torch.load(..., weights_only=True)``) is the caller's job.

    Args:
        state_dict: mapping from parameter name to tensor.

    Returns:
        a new dict with renamed keys.
    """
    return {_NORM_BODY.sub(r"\1.", key): value for key, value in state_dict.items()}
