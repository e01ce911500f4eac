"""Tests of the attention modules and the cross-modal fusion blocks."""
from __future__ import annotations

import math

import pytest
import torch

from mmfuse.errors import InputError, ShapeError
from mmfuse.nn import (
    ChannelCrossAttention,
    CrossAttentionBlock,
    MaskGuidedCrossAttention,
    MaskGuidedFusion,
    SpatialCrossAttention,
    TextGuidedBlock,
    modality_mask,
    spatial_attention,
)


def naive_spatial(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int) -> torch.Tensor:
    b, c, h, w = q.shape
    d = c // heads
    out = torch.empty_like(q)
    for bi in range(b):
        for hd in range(heads):
            sl = slice(hd * d, (hd + 1) * d)
            qq, kk, vv = (t[bi, sl].reshape(d, -1).T for t in (q, k, v))
            a = torch.softmax(qq @ kk.T / math.sqrt(d), dim=1)
            out[bi, sl] = (a @ vv).T.reshape(d, h, w)
    return out


def test_spatial_attention_full_and_windowed_against_naive() -> None:
    q, k, v = (torch.randn(2, 4, 4, 6) for _ in range(3))
    full = spatial_attention(q, k, v, 2)
    assert torch.allclose(full, naive_spatial(q, k, v, 2), atol=1e-5)
    # a window larger than the map, with padding masked out, is global attention
    assert torch.allclose(spatial_attention(q, k, v, 2, window_size=8), full, atol=1e-5)
    win = spatial_attention(q, k, v, 2, window_size=2)
    sl = (slice(None), slice(None), slice(2, 4), slice(4, 6))  # one 2x2 window
    assert torch.allclose(win[sl], naive_spatial(q[sl], k[sl], v[sl], 2), atol=1e-5)
    # odd size: the padded window at the border only attends to real pixels
    q5, k5, v5 = (t[..., :3, :5] for t in (q, k, v))
    corner = (slice(None), slice(None), slice(2, 3), slice(4, 5))
    ref = naive_spatial(q5[corner], k5[corner], v5[corner], 2)
    assert torch.allclose(spatial_attention(q5, k5, v5, 2, window_size=2)[corner], ref, atol=1e-5)
    with pytest.raises(InputError, match="window_size"):
        spatial_attention(q, k, v, 2, window_size=0)


def test_channel_cross_attention_self_and_cross(grads) -> None:
    attn = ChannelCrossAttention(8, 2, kv_dim=4)
    x, y = torch.rand(2, 8, 5, 3), torch.rand(2, 4, 5, 3)
    out = attn(x, y)
    assert out.shape == x.shape
    grads(attn, (out * torch.randn_like(out)).sum())
    self_attn = ChannelCrossAttention(8, 2)
    assert torch.equal(self_attn(x), self_attn(x, x))
    with pytest.raises(ShapeError, match="same batch size"):
        attn(x, torch.rand(2, 4, 5, 4))
    with pytest.raises(ShapeError, match="4 channels"):
        attn(x, x)


@pytest.mark.parametrize("window", [None, 4])
def test_spatial_cross_attention_shapes_grads(window, grads) -> None:
    attn = SpatialCrossAttention(8, 2, kv_dim=6, window_size=window)
    x, y = torch.rand(2, 8, 7, 5), torch.rand(2, 6, 7, 5)
    out = attn(x, y)
    assert out.shape == x.shape and torch.isfinite(out).all()
    grads(attn, (out * torch.randn_like(out)).sum())


@pytest.mark.parametrize("kind", ["channel", "spatial"])
def test_cross_attention_block(kind, grads) -> None:
    block = CrossAttentionBlock(8, 2, kv_dim=4, attention=kind, window_size=4 if kind == "spatial" else None)
    x, y = torch.rand(2, 8, 9, 6), torch.rand(2, 4, 9, 6)
    out = block(x, y)
    assert out.shape == x.shape
    grads(block, (out * torch.randn_like(out)).sum())
    with pytest.raises(InputError, match="attention"):
        CrossAttentionBlock(8, 2, attention="global")  # type: ignore[arg-type]


def test_text_guided_block(grads) -> None:
    block = TextGuidedBlock(8, cond_dim=5, num_heads=4)
    x, c = torch.rand(2, 8, 6, 7), torch.randn(2, 5)
    out = block(x, c)
    assert out.shape == x.shape
    assert not torch.allclose(out, block(x, torch.randn(2, 5)))  # the text changes the result
    grads(block, (out * torch.randn_like(out)).sum())
    with pytest.raises(ShapeError, match="cond"):
        block(x, torch.randn(2, 4))


def test_modality_mask_hand_values_and_zero_denominator() -> None:
    f, vi, ir = (torch.full((1, 1, 1, 1), v) for v in (0.6, 0.8, 0.2))
    # M = (0.6 - 0.2) / (0.8 - 0.2 + 0.6) = 1/3
    assert modality_mask(f, vi, ir, sharpness=0).item() == pytest.approx(1 / 3, abs=1e-6)
    assert modality_mask(f, vi, ir).item() == pytest.approx(1 / (1 + math.exp(5 * (0.5 - 1 / 3))), abs=1e-6)
    # fused = ir and vi = 0: the denominator vanishes; values and gradients stay finite
    f0 = torch.zeros(1, 1, 2, 2, requires_grad=True)
    m = modality_mask(f0, torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2))
    m.sum().backward()
    assert torch.isfinite(m).all() and torch.isfinite(f0.grad).all()
    assert (modality_mask(torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4), torch.rand(2, 1, 4, 4)) <= 1).all()


def test_mask_guided_cross_attention_uses_mask(grads) -> None:
    mcca = MaskGuidedCrossAttention(8, 2)
    vi, ir, fu = (torch.rand(2, 8, 5, 6) for _ in range(3))
    ones = torch.ones(2, 1, 5, 6)
    d_vi, d_ir, d_f = mcca(vi, ir, fu, ones * 0.7)
    assert d_vi.shape == d_ir.shape == d_f.shape == vi.shape
    a = mcca(vi, ir, fu, ones)[2]
    b = mcca(vi, ir, fu, 0 * ones)[2]
    assert not torch.allclose(a, b)
    grads(mcca, (d_vi + d_ir + d_f * torch.randn_like(d_f)).square().sum())
    with pytest.raises(InputError, match="must divide"):
        MaskGuidedCrossAttention(6, 4)


def test_mask_guided_fusion_step(grads) -> None:
    step = MaskGuidedFusion(4, 2)
    vi, ir, fu = (torch.randn(1, 4, 6, 5) for _ in range(3))
    fu = ir - vi  # vanishing mask denominator everywhere
    out_vi, out_ir, out_f, mask = step(vi, ir, fu)
    assert out_vi.shape == out_f.shape == mask.shape == vi.shape
    assert ((mask > 0) & (mask < 1)).all()
    grads(step, (out_vi + out_ir + out_f).square().sum())
