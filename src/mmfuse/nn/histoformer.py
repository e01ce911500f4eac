"""Histogram transformer block (HTB) with dynamic-range histogram self-attention (DHSA).

Sun, Ren, Gao, Xu, Fu, "Restoring Images in Adverse Weather Conditions via Histogram
Transformer", ECCV 2024 (Histoformer). AMG-Fuse runs HTBs on its fused stream; its code pairs
DHSA with a dual 3x3/5x5 depthwise feed-forward network (:class:`DualDWFeedForward`) instead of
Histoformer's DGFF, and :class:`HistogramTransformerBlock` follows AMG-Fuse.

DHSA (:class:`HistogramSelfAttention`), for ``x (B, C, H, W)`` and ``h`` heads:

1. the first ``C/2`` channels are sorted along ``H`` and then along ``W`` (pixels of similar
   intensity are brought together), the rest is kept;
2. ``Conv1x1(C -> 5C)`` + depthwise 3x3 give ``q1, k1, q2, k2, v``;
3. every channel of ``v`` is sorted over ``H*W``; ``q1, k1, q2, k2`` are gathered in that order;
4. the sorted sequence (zero-padded to a multiple of ``h``) is split into ``h`` bins, either
   contiguous ("box": bins of similar intensity) for ``(q1, k1)`` or interleaved ("frequency")
   for ``(q2, k2)``; each (channel, bin) is a row, and channel-style attention over rows (L2
   normalised, learnable temperature, ``softmax_1 = exp / (1 + sum exp)``) is applied per head;
5. both results are scattered back to pixel order, multiplied, projected by a 1x1 conv, and the
   sorting of the first ``C/2`` channels is undone.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mmfuse.errors import InputError
from mmfuse.nn._checks import check_feature_map
from mmfuse.nn.norm import LayerNorm2d, LayerNormType

__all__ = ["softmax_one", "HistogramSelfAttention", "DualDWFeedForward", "HistogramTransformerBlock"]


def softmax_one(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``exp(x_i) / (1 + sum_j exp(x_j))`` along ``dim``, evaluated stably.

    The extra ``1`` lets every weight go to zero ("attention to nothing").
    """
    m = x.amax(dim=dim, keepdim=True).clamp_min(0.0)
    e = torch.exp(x - m)
    return e / (e.sum(dim=dim, keepdim=True) + torch.exp(-m))


class HistogramSelfAttention(nn.Module):
    """Dynamic-range histogram self-attention (DHSA), see the module docstring.

    Args:
        dim: channels ``C`` (even).
        num_heads: heads, also the number of histogram bins; must divide ``C``.
        bias: conv biases.

    Shape:
        ``(B, C, H, W)`` -> ``(B, C, H, W)``; any ``H, W``.
    """

    def __init__(self, dim: int, num_heads: int, bias: bool = False) -> None:
        super().__init__()
        if dim % num_heads or dim % 2:
            raise InputError(f"HistogramSelfAttention: dim {dim} must be even and divisible by num_heads {num_heads}")
        self.dim, self.num_heads = dim, num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.qkv = nn.Conv2d(dim, 5 * dim, 1, bias=bias)
        self.qkv_dwconv = nn.Conv2d(5 * dim, 5 * dim, 3, padding=1, groups=5 * dim, bias=bias)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=bias)

    def _binned_attention(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, box: bool) -> torch.Tensor:
        """Attention over (channel, bin) rows of sorted sequences ``(B, C, N)`` -> ``(B, C, N)``."""
        b, c, n = q.shape
        bins, heads = self.num_heads, self.num_heads
        pad = (-n) % bins
        if pad:
            q, k, v = (F.pad(t, (0, pad)) for t in (q, k, v))
        length = (n + pad) // bins

        def rows(t: torch.Tensor) -> torch.Tensor:
            t = t.reshape(b, heads, c // heads, n + pad)
            if box:  # contiguous bins: position = bin * length + j
                t = t.reshape(b, heads, c // heads, bins, length)
            else:  # interleaved bins: position = j * bins + bin
                t = t.reshape(b, heads, c // heads, length, bins).transpose(-2, -1)
            return t.reshape(b, heads, (c // heads) * bins, length)

        qr, kr, vr = F.normalize(rows(q), dim=-1), F.normalize(rows(k), dim=-1), rows(v)
        out = softmax_one((qr @ kr.transpose(-2, -1)) * self.temperature, dim=-1) @ vr
        out = out.reshape(b, heads, c // heads, bins, length)
        if not box:
            out = out.transpose(-2, -1)
        return out.reshape(b, c, n + pad)[..., :n]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_feature_map(x, "HistogramSelfAttention", self.dim)
        b, c, h, w = x.shape
        half = c // 2
        sorted_h, idx_h = x[:, :half].sort(dim=-2)
        sorted_hw, idx_w = sorted_h.sort(dim=-1)
        x = torch.cat([sorted_hw, x[:, half:]], dim=1)
        q1, k1, q2, k2, v = self.qkv_dwconv(self.qkv(x)).chunk(5, dim=1)
        v, idx = v.reshape(b, c, h * w).sort(dim=-1)

        def order(t: torch.Tensor) -> torch.Tensor:
            return torch.gather(t.reshape(b, c, h * w), 2, idx)

        out1 = self._binned_attention(order(q1), order(k1), v, box=True)
        out2 = self._binned_attention(order(q2), order(k2), v, box=False)
        unsort = torch.zeros_like(out1)
        out1 = unsort.scatter(2, idx, out1)
        out2 = unsort.scatter(2, idx, out2)
        out = self.project_out((out1 * out2).reshape(b, c, h, w))
        first = out[:, :half]
        first = torch.zeros_like(first).scatter(-1, idx_w, first)
        first = torch.zeros_like(first).scatter(-2, idx_h, first)
        return torch.cat([first, out[:, half:]], dim=1)


class DualDWFeedForward(nn.Module):
    """AMG-Fuse's feed-forward network with parallel 3x3 and 5x5 depthwise branches.

    ``z = Conv1x1(C -> 2h)``; ``a = ReLU(DW3x3(z))``, ``b = ReLU(DW5x5(z))``, each split in
    halves; ``x1 = ReLU(GConv3x3([a1, b1]))``, ``x2 = ReLU(GConv5x5([a2, b2]))`` (``2h -> h``,
    ``h`` groups); ``Conv1x1([x1, x2]) -> C``, with ``h = int(C * ffn_expansion_factor)``.

    Args:
        dim: channels ``C``.
        ffn_expansion_factor: expansion (2.66).
        bias: conv biases.

    Shape:
        ``(B, C, H, W)`` -> ``(B, C, H, W)``.
    """

    def __init__(self, dim: int, ffn_expansion_factor: float = 2.66, bias: bool = False) -> None:
        super().__init__()
        hidden = int(dim * ffn_expansion_factor)
        if hidden < 1:
            raise InputError(f"DualDWFeedForward: dim {dim} x {ffn_expansion_factor} gives no hidden channel")
        self.dim = dim
        self.project_in = nn.Conv2d(dim, 2 * hidden, 1, bias=bias)
        self.dwconv3x3 = nn.Conv2d(2 * hidden, 2 * hidden, 3, padding=1, groups=2 * hidden, bias=bias)
        self.dwconv5x5 = nn.Conv2d(2 * hidden, 2 * hidden, 5, padding=2, groups=2 * hidden, bias=bias)
        self.dwconv3x3_1 = nn.Conv2d(2 * hidden, hidden, 3, padding=1, groups=hidden, bias=bias)
        self.dwconv5x5_1 = nn.Conv2d(2 * hidden, hidden, 5, padding=2, groups=hidden, bias=bias)
        self.project_out = nn.Conv2d(2 * hidden, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_feature_map(x, "DualDWFeedForward", self.dim)
        z = self.project_in(x)
        a1, a2 = torch.relu(self.dwconv3x3(z)).chunk(2, dim=1)
        b1, b2 = torch.relu(self.dwconv5x5(z)).chunk(2, dim=1)
        x1 = torch.relu(self.dwconv3x3_1(torch.cat([a1, b1], dim=1)))
        x2 = torch.relu(self.dwconv5x5_1(torch.cat([a2, b2], dim=1)))
        return self.project_out(torch.cat([x1, x2], dim=1))


class HistogramTransformerBlock(nn.Module):
    """HTB as in AMG-Fuse: ``x += DHSA(LN(x))``; ``x += DualDWFeedForward(LN(x))``.

    Args:
        dim: channels ``C`` (even).
        num_heads: DHSA heads/bins (AMG-Fuse: 2, 4, 6, 8 per level; 1, 2, 2, 4 for Tiny).
        ffn_expansion_factor: FFN expansion (2.66).
        bias: conv biases.
        norm_type: LayerNorm variant.

    Shape:
        ``(B, C, H, W)`` -> ``(B, C, H, W)``.
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
        self.attn = HistogramSelfAttention(dim, num_heads, bias)
        self.norm2 = LayerNorm2d(dim, norm_type)
        self.ffn = DualDWFeedForward(dim, ffn_expansion_factor, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))
