"""Cross-modal blocks: cross-attention blocks, text-guided attention, mask-guided interaction.

* :class:`CrossAttentionBlock`: pre-norm transformer block whose attention takes queries from
  one modality and keys/values from the other (channel/MDTA-style or spatial), followed by a
  GDFN. LURE's fusion module F applies such blocks at every latent scale (Ma et al., "Learning a
  Unified Degradation-aware Representation Model for Multi-modal Image Fusion"; the direction,
  heads and FFN are not stated in the paper; this is the spec's reading: MDTA-style, GDFN).
* :class:`TextGuidedBlock`: LURE's text-guided attention (TGA) block: the query is built from
  the normalised features weighted channel-wise by ``sigmoid(Linear(text))``; keys and values
  from the features; then GDFN. (Reading of LURE Sec. 3.3.1 / Fig. 4b.)
* :func:`modality_mask`: AMG-Fuse Eq. 5 mask ``M = (F - IR) / (VI - IR + F)``, clamped to
  ``[0, 1]`` and sharpened by ``sigmoid(s (M - 0.5))`` (the authors' code, ``s = 5``).
* :class:`MaskGuidedCrossAttention`: AMG-Fuse's mask-guided cross-modal cross-attention
  (MCCA): queries from ``VI * m`` and ``IR * (1 - m)``, keys/values from the fused stream,
  channel attention, an SE gate weighting the two outputs for the fused update.
* :class:`MaskGuidedFusion`: one AMG-Fuse interaction step: mask (Eq. 5) -> learned refinement
  (residual block + sigmoid) -> MCCA -> residual updates of the three streams.

AMG-Fuse: "Multi-modality image fusion under adverse weather: mask-guided feature restoration
and interaction" (anonymous submission; code ixilai/AMG-Fuse), Sec. 3.2.
"""
from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from mmfuse.errors import InputError, ShapeError
from mmfuse.nn._checks import check_feature_map, check_same_spatial
from mmfuse.nn.attention import ChannelCrossAttention, SpatialCrossAttention, channel_attention
from mmfuse.nn.conv import ResidualBlock
from mmfuse.nn.norm import LayerNorm2d, LayerNormType
from mmfuse.nn.restormer import GDFN

__all__ = [
    "CrossAttentionBlock",
    "TextGuidedBlock",
    "modality_mask",
    "MaskGuidedCrossAttention",
    "MaskGuidedFusion",
]


class CrossAttentionBlock(nn.Module):
    """``x += Attn(LN(x), LN(y))``; ``x += GDFN(LN(x))``.

    Args:
        dim: channels of ``x`` (and of the output).
        num_heads: attention heads; must divide ``dim``.
        kv_dim: channels of ``y`` (default ``dim``).
        attention: ``"channel"`` (MDTA-style, linear in ``H*W``) or ``"spatial"`` (pixel
            tokens; set ``window_size`` for large maps).
        window_size: window of the spatial attention (``None`` = global).
        ffn_expansion_factor: GDFN expansion.
        bias: conv biases.
        norm_type: LayerNorm variant.

    Shape:
        ``x (B, C, H, W)``, ``y (B, C_kv, H, W)`` -> ``(B, C, H, W)``.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        kv_dim: int | None = None,
        attention: Literal["channel", "spatial"] = "channel",
        window_size: int | None = None,
        ffn_expansion_factor: float = 2.66,
        bias: bool = False,
        norm_type: LayerNormType = "with_bias",
    ) -> None:
        super().__init__()
        kv_dim = dim if kv_dim is None else kv_dim
        self.norm_q = LayerNorm2d(dim, norm_type)
        self.norm_kv = LayerNorm2d(kv_dim, norm_type)
        if attention == "channel":
            self.attn: nn.Module = ChannelCrossAttention(dim, num_heads, kv_dim, bias)
        elif attention == "spatial":
            self.attn = SpatialCrossAttention(dim, num_heads, kv_dim, window_size, bias=True)
        else:
            raise InputError(f"CrossAttentionBlock: attention {attention!r} is unknown; valid: 'channel', 'spatial'")
        self.norm2 = LayerNorm2d(dim, norm_type)
        self.ffn = GDFN(dim, ffn_expansion_factor, bias)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm_q(x), self.norm_kv(y))
        return x + self.ffn(self.norm2(x))


class TextGuidedBlock(nn.Module):
    """Text-guided attention block (LURE TGA, reading of the spec).

    ``X^ = LN(X)``, ``w = sigmoid(Linear(c))`` (``B x C``), ``q`` from ``w * X^``, ``k, v`` from
    ``X^`` (MDTA projections and channel attention), ``X += proj(attn)``, then
    ``X += GDFN(LN(X))``.

    Args:
        dim: channels ``C``.
        cond_dim: size of the conditioning (text) vector.
        num_heads: heads (LURE: 4); must divide ``dim``.
        ffn_expansion_factor: GDFN expansion.
        bias: conv biases.
        norm_type: LayerNorm variant.

    Shape:
        ``x (B, C, H, W)``, ``cond (B, cond_dim)`` -> ``(B, C, H, W)``.
    """

    def __init__(
        self,
        dim: int,
        cond_dim: int,
        num_heads: int = 4,
        ffn_expansion_factor: float = 2.66,
        bias: bool = False,
        norm_type: LayerNormType = "with_bias",
    ) -> None:
        super().__init__()
        self.cond_dim = cond_dim
        self.norm1 = LayerNorm2d(dim, norm_type)
        self.cond_proj = nn.Linear(cond_dim, dim)
        self.attn = ChannelCrossAttention(dim, num_heads, bias=bias)
        self.norm2 = LayerNorm2d(dim, norm_type)
        self.ffn = GDFN(dim, ffn_expansion_factor, bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        if cond.ndim != 2 or cond.shape[0] != x.shape[0] or cond.shape[1] != self.cond_dim:
            raise ShapeError(
                f"TextGuidedBlock: cond must have shape ({x.shape[0]}, {self.cond_dim}), got {tuple(cond.shape)}"
            )
        h = self.norm1(x)
        w = torch.sigmoid(self.cond_proj(cond))[:, :, None, None]
        x = x + self.attn(w * h, h)
        return x + self.ffn(self.norm2(x))


def modality_mask(
    fused: torch.Tensor, vi: torch.Tensor, ir: torch.Tensor, sharpness: float = 5.0, eps: float = 1e-3
) -> torch.Tensor:
    """AMG-Fuse modality-allocation mask (Eq. 5), clamped and sharpened as the authors' code.

    ``M = clamp((F - IR) / (VI - IR + F), 0, 1)``, then ``sigmoid(sharpness * (M - 0.5))``
    (``sharpness = 0`` skips the sigmoid and returns the clamped ratio). Denominators with
    ``|d| < eps`` are pushed to ``+-eps`` (sign kept, 0 -> ``+eps``); the code adds ``1e-8``
    instead, which lets the gradient reach ``1e8`` where the denominator vanishes.

    Args:
        fused: fused image or features ``(B, C, H, W)``.
        vi: visible, same shape (or broadcastable).
        ir: infrared, same shape (or broadcastable, e.g. 1 channel against 3).
        sharpness: slope of the final sigmoid.
        eps: smallest denominator magnitude.

    Returns:
        ``(B, C, H, W)`` mask in ``[0, 1]`` (``M`` weights ``VI``, ``1 - M`` weights ``IR``).
    """
    den = vi - ir + fused
    den = torch.where(den >= 0, den.clamp_min(eps), den.clamp_max(-eps))
    m = ((fused - ir) / den).clamp(0.0, 1.0)
    return torch.sigmoid(sharpness * (m - 0.5)) if sharpness else m


class MaskGuidedCrossAttention(nn.Module):
    """AMG-Fuse MCCA: mask-weighted queries of both modalities attend to the fused stream.

    ``q_vi = DW(Conv1x1(VI * m))``, ``q_ir = DW(Conv1x1(IR * (1 - m)))``,
    ``(k, v) = split(DW(Conv1x1(F)))``; ``O_vi``, ``O_ir`` by channel attention (shared
    temperature); ``(a_vi, a_ir) = SE([O_vi, O_ir])``; returns the projected updates
    ``(P_vi(O_vi), P_ir(O_ir), P_f(a_vi O_vi + a_ir O_ir))``. Names follow the authors' code.

    Args:
        dim: channels ``C`` of the three streams.
        num_heads: heads; must divide ``dim``.
        bias: conv biases (code: ``False``).
        se_reduction: SE bottleneck ``max(1, C // se_reduction)`` (code: 16).

    Shape:
        ``vi, ir, fused (B, C, H, W)``, ``mask (B, C or 1, H, W)`` -> three ``(B, C, H, W)``.
    """

    def __init__(self, dim: int, num_heads: int, bias: bool = False, se_reduction: int = 16) -> None:
        super().__init__()
        if dim % num_heads:
            raise InputError(f"MaskGuidedCrossAttention: num_heads {num_heads} must divide dim {dim}")
        self.dim, self.num_heads = dim, num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.q_vi = nn.Conv2d(dim, dim, 1, bias=bias)
        self.q_dwconv_vi = nn.Conv2d(dim, dim, 3, padding=1, groups=dim, bias=bias)
        self.q_ir = nn.Conv2d(dim, dim, 1, bias=bias)
        self.q_dwconv_ir = nn.Conv2d(dim, dim, 3, padding=1, groups=dim, bias=bias)
        self.kv = nn.Conv2d(dim, 2 * dim, 1, bias=bias)
        self.kv_dwconv = nn.Conv2d(2 * dim, 2 * dim, 3, padding=1, groups=2 * dim, bias=bias)
        self.project_out_vi = nn.Conv2d(dim, dim, 1, bias=bias)
        self.project_out_ir = nn.Conv2d(dim, dim, 1, bias=bias)
        self.project_out_f = nn.Conv2d(dim, dim, 1, bias=bias)
        hidden = max(1, dim // se_reduction)
        self.se = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(2 * dim, hidden, 1, bias=False),
            nn.ReLU(),
            nn.Conv2d(hidden, 2, 1, bias=False),
            nn.Sigmoid(),
        )

    def forward(
        self, vi: torch.Tensor, ir: torch.Tensor, fused: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        for name, t in (("vi", vi), ("ir", ir), ("fused", fused)):
            check_feature_map(t, "MaskGuidedCrossAttention", self.dim, name)
            check_same_spatial(vi, t, "MaskGuidedCrossAttention", ("vi", name))
        check_feature_map(mask, "MaskGuidedCrossAttention", name="mask")
        q_vi = self.q_dwconv_vi(self.q_vi(vi * mask))
        q_ir = self.q_dwconv_ir(self.q_ir(ir * (1 - mask)))
        k, v = self.kv_dwconv(self.kv(fused)).chunk(2, dim=1)
        out_vi = channel_attention(q_vi, k, v, self.num_heads, self.temperature)
        out_ir = channel_attention(q_ir, k, v, self.num_heads, self.temperature)
        alpha = self.se(torch.cat([out_vi, out_ir], dim=1))
        fused_update = alpha[:, 0:1] * out_vi + alpha[:, 1:2] * out_ir
        return self.project_out_vi(out_vi), self.project_out_ir(out_ir), self.project_out_f(fused_update)


class MaskGuidedFusion(nn.Module):
    """One AMG-Fuse interaction step on the VI, IR and fused streams.

    ``m = sigmoid(ResidualBlock(modality_mask(F, VI, IR)))``; ``(d_vi, d_ir, d_f) = MCCA(VI, IR,
    F, m)``; returns ``(VI + d_vi, IR + d_ir, F + d_f, m)``.

    Args:
        dim: channels ``C`` of the three streams.
        num_heads: MCCA heads.
        bias: MCCA conv biases.
        sharpness: mask sigmoid slope (code: 5).
        eps: mask denominator floor, see :func:`modality_mask`.

    Shape:
        three ``(B, C, H, W)`` -> three ``(B, C, H, W)`` and the mask ``(B, C, H, W)``.
    """

    def __init__(self, dim: int, num_heads: int, bias: bool = False, sharpness: float = 5.0, eps: float = 1e-3) -> None:
        super().__init__()
        self.sharpness, self.eps = sharpness, eps
        self.mask_refiner = nn.Sequential(ResidualBlock(dim), nn.Sigmoid())
        self.attention = MaskGuidedCrossAttention(dim, num_heads, bias)

    def forward(
        self, vi: torch.Tensor, ir: torch.Tensor, fused: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        mask = self.mask_refiner(modality_mask(fused, vi, ir, self.sharpness, self.eps))
        d_vi, d_ir, d_f = self.attention(vi, ir, fused, mask)
        return vi + d_vi, ir + d_ir, fused + d_f, mask
