"""Attention between feature maps: channel-wise ("transposed") and spatial (full or windowed).

Functional core:

* :func:`channel_attention`: multi-head attention whose map is ``C/h x C/h`` per head, with
  L2-normalised queries and keys and a learnable temperature (Restormer's MDTA, Zamir et al.,
  "Restormer: Efficient Transformer for High-Resolution Image Restoration", CVPR 2022, Sec. 3.1).
  Its cost is linear in ``H * W``, which makes it the only practical global attention at full
  resolution on a CPU.
* :func:`spatial_attention`: scaled dot-product attention over pixels (tokens), optionally
  inside non-overlapping windows (Liu et al., "Swin Transformer", ICCV 2021).

Modules:

* :class:`ChannelCrossAttention`: queries from one map, keys and values from another, each
  through a 1x1 conv and a 3x3 depthwise conv (MDTA projections). With ``y = x`` it is MDTA
  self-attention. Used for LURE's cross-modal fusion and text-guided attention and AMG-Fuse's
  mask-guided cross-attention (see :mod:`mmfuse.nn.fusion`).
* :class:`SpatialCrossAttention`: token attention between two maps (or self-attention), full or
  windowed.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mmfuse.errors import InputError, ShapeError
from mmfuse.nn._checks import check_feature_map, check_same_spatial
from mmfuse.nn.ops import pad_to_multiple, window_partition, window_reverse

__all__ = ["channel_attention", "spatial_attention", "ChannelCrossAttention", "SpatialCrossAttention"]


def channel_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, num_heads: int, temperature: torch.Tensor
) -> torch.Tensor:
    """Multi-head channel ("transposed") attention of MDTA.

    Per head, with ``q, k, v`` reshaped to ``(C/h, H*W)``: ``q`` and ``k`` are L2-normalised along
    ``H*W``, ``A = softmax(q k^T * tau)`` is a ``C/h x C/h`` map and the output is ``A v``.

    Args:
        q: queries ``(B, C, H, W)``.
        k: keys ``(B, C, H, W)``.
        v: values ``(B, C, H, W)``.
        num_heads: ``h``; must divide ``C``.
        temperature: ``tau``, shape ``(h, 1, 1)`` (one per head).

    Returns:
        ``(B, C, H, W)``.

    Raises:
        ShapeError: if the shapes differ or ``h`` does not divide ``C``.
    """
    if q.shape != k.shape or q.shape != v.shape:
        raise ShapeError(
            f"channel_attention: q {tuple(q.shape)}, k {tuple(k.shape)} and v {tuple(v.shape)} must have equal shapes"
        )
    b, c, h, w = q.shape
    if c % num_heads:
        raise ShapeError(f"channel_attention: {num_heads} heads do not divide {c} channels")
    q = F.normalize(q.reshape(b, num_heads, c // num_heads, h * w), dim=-1)
    k = F.normalize(k.reshape(b, num_heads, c // num_heads, h * w), dim=-1)
    v = v.reshape(b, num_heads, c // num_heads, h * w)
    attn = torch.softmax((q @ k.transpose(-2, -1)) * temperature, dim=-1)
    return (attn @ v).reshape(b, c, h, w)


def spatial_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    num_heads: int,
    window_size: int | None = None,
) -> torch.Tensor:
    """Multi-head scaled dot-product attention over the pixels of feature maps.

    Args:
        q: queries ``(B, C, H, W)``.
        k: keys ``(B, C, H, W)``.
        v: values ``(B, C, H, W)``.
        num_heads: number of heads; must divide ``C``.
        window_size: ``None`` for full attention over all ``H*W`` pixels (memory
            ``O((H W)^2)``), or the side of non-overlapping windows; the maps are
            zero-padded to a multiple of the window (padded pixels are masked out as keys) and
            cropped back.

    Returns:
        ``(B, C, H, W)``.
    """
    if q.shape != k.shape or q.shape != v.shape:
        raise ShapeError(
            f"spatial_attention: q {tuple(q.shape)}, k {tuple(k.shape)} and v {tuple(v.shape)} must have equal shapes"
        )
    b, c, h, w = q.shape
    if c % num_heads:
        raise ShapeError(f"spatial_attention: {num_heads} heads do not divide {c} channels")
    d = c // num_heads
    if window_size is None:
        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(b, num_heads, d, h * w).transpose(-2, -1)

        out = F.scaled_dot_product_attention(heads(q), heads(k), heads(v))
        return out.transpose(-2, -1).reshape(b, c, h, w)
    if window_size < 1:
        raise InputError(f"spatial_attention: window_size must be >= 1, got {window_size}")
    qkv = torch.cat([q, k, v], dim=1)
    qkv, (h0, w0) = pad_to_multiple(qkv, window_size, mode="constant")
    hp, wp = qkv.shape[-2:]
    win = window_partition(qkv.permute(0, 2, 3, 1), window_size)  # (B*nW, ws*ws, 3C)
    n = win.shape[1]
    mask = None
    if (hp, wp) != (h0, w0):  # padded pixels must not act as keys
        valid = torch.zeros(1, hp, wp, 1, dtype=torch.bool, device=q.device)
        valid[:, :h0, :w0] = True
        keys = window_partition(valid, window_size)[..., 0]  # (nW, ws*ws)
        mask = keys.repeat(b, 1)[:, None, None, :]  # (B*nW, 1, 1, ws*ws)

    def heads_w(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(-1, n, num_heads, d).transpose(1, 2)

    qw, kw, vw = win.split(c, dim=-1)
    out = F.scaled_dot_product_attention(heads_w(qw), heads_w(kw), heads_w(vw), attn_mask=mask)
    out = out.transpose(1, 2).reshape(-1, n, c)
    out = window_reverse(out, window_size, hp, wp).permute(0, 3, 1, 2)
    return out[..., :h0, :w0].contiguous()


class ChannelCrossAttention(nn.Module):
    """MDTA-style channel attention with queries from ``x`` and keys/values from ``y``.

    ``q = DW3x3(Conv1x1(x))``, ``(k, v) = split(DW3x3(Conv1x1(y)))``, attention as
    :func:`channel_attention`, then a 1x1 output projection. With ``y`` omitted it is Restormer's
    MDTA self-attention (with separate q and kv projections).

    Args:
        dim: channels ``C`` of ``x`` and of the output.
        num_heads: heads; must divide ``dim``.
        kv_dim: channels of ``y`` (default ``dim``).
        bias: use biases in the convolutions (Restormer: ``False``).

    Shape:
        ``x (B, C, H, W)``, ``y (B, C_kv, H, W)`` -> ``(B, C, H, W)``.
    """

    def __init__(self, dim: int, num_heads: int, kv_dim: int | None = None, bias: bool = False) -> None:
        super().__init__()
        if dim % num_heads:
            raise InputError(f"ChannelCrossAttention: num_heads {num_heads} must divide dim {dim}")
        kv_dim = dim if kv_dim is None else kv_dim
        self.dim, self.kv_dim, self.num_heads = dim, kv_dim, num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.q = nn.Conv2d(dim, dim, 1, bias=bias)
        self.q_dwconv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim, bias=bias)
        self.kv = nn.Conv2d(kv_dim, 2 * dim, 1, bias=bias)
        self.kv_dwconv = nn.Conv2d(2 * dim, 2 * dim, 3, padding=1, groups=2 * dim, bias=bias)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Attend from ``x`` to ``y`` (or to ``x`` itself when ``y`` is ``None``)."""
        y = x if y is None else y
        check_feature_map(x, "ChannelCrossAttention", self.dim, "x")
        check_feature_map(y, "ChannelCrossAttention", self.kv_dim, "y")
        check_same_spatial(x, y, "ChannelCrossAttention")
        q = self.q_dwconv(self.q(x))
        k, v = self.kv_dwconv(self.kv(y)).chunk(2, dim=1)
        return self.project_out(channel_attention(q, k, v, self.num_heads, self.temperature))


class SpatialCrossAttention(nn.Module):
    """Multi-head pixel (token) attention from ``x`` to ``y``, full or windowed.

    ``q = Conv1x1(x)``, ``(k, v) = split(Conv1x1(y))``, :func:`spatial_attention`, then a 1x1
    projection. Full attention costs ``O((H W)^2)`` memory; use ``window_size`` (e.g. 8) above a
    few thousand pixels.

    Args:
        dim: channels ``C`` of ``x`` and of the output.
        num_heads: heads; must divide ``dim``.
        kv_dim: channels of ``y`` (default ``dim``).
        window_size: ``None`` (global) or the window side; any ``H, W`` is accepted (padding).
        bias: biases of the projections.

    Shape:
        ``x (B, C, H, W)``, ``y (B, C_kv, H, W)`` -> ``(B, C, H, W)``.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        kv_dim: int | None = None,
        window_size: int | None = None,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise InputError(f"SpatialCrossAttention: num_heads {num_heads} must divide dim {dim}")
        kv_dim = dim if kv_dim is None else kv_dim
        self.dim, self.kv_dim, self.num_heads, self.window_size = dim, kv_dim, num_heads, window_size
        self.q = nn.Conv2d(dim, dim, 1, bias=bias)
        self.kv = nn.Conv2d(kv_dim, 2 * dim, 1, bias=bias)
        self.proj = nn.Conv2d(dim, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Attend from ``x`` to ``y`` (or to ``x`` itself when ``y`` is ``None``)."""
        y = x if y is None else y
        check_feature_map(x, "SpatialCrossAttention", self.dim, "x")
        check_feature_map(y, "SpatialCrossAttention", self.kv_dim, "y")
        check_same_spatial(x, y, "SpatialCrossAttention")
        k, v = self.kv(y).chunk(2, dim=1)
        return self.proj(spatial_attention(self.q(x), k, v, self.num_heads, self.window_size))
