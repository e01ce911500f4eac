"""Tests of the histogram self-attention (DHSA) and the histogram transformer block."""
from __future__ import annotations

import pytest
import torch

from mmfuse.errors import InputError
from mmfuse.nn import DualDWFeedForward, HistogramSelfAttention, HistogramTransformerBlock
from mmfuse.nn.histoformer import softmax_one


def test_softmax_one_formula_and_stability() -> None:
    x = torch.tensor([[0.5, -1.0, 2.0]])
    assert torch.allclose(softmax_one(x), x.exp() / (x.exp().sum() + 1))
    big = softmax_one(torch.tensor([[1000.0, 999.0]]))
    assert torch.isfinite(big).all() and big.sum() <= 1.0
    assert softmax_one(torch.tensor([[-1000.0, -1000.0]])).sum() < 1e-6  # may attend to nothing


def naive_binned(
    attn: HistogramSelfAttention, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, box: bool
) -> torch.Tensor:
    """Rows built by explicit indexing of the (zero-padded) sorted sequence."""
    b, c, n = q.shape
    bins = heads = attn.num_heads
    pad = (-n) % bins
    q, k, v = (torch.nn.functional.pad(t, (0, pad)) for t in (q, k, v))
    length = (n + pad) // bins
    pos = [[(j + i * length) if box else (j * bins + i) for j in range(length)] for i in range(bins)]
    out = torch.zeros_like(v)
    d = c // heads
    for bi in range(b):
        for hd in range(heads):
            chans = range(hd * d, (hd + 1) * d)
            rows = [(ch, i) for ch in chans for i in range(bins)]
            qr = torch.stack([q[bi, ch, pos[i]] for ch, i in rows])
            kr = torch.stack([k[bi, ch, pos[i]] for ch, i in rows])
            vr = torch.stack([v[bi, ch, pos[i]] for ch, i in rows])
            qr = qr / qr.norm(dim=1, keepdim=True).clamp_min(1e-12)
            kr = kr / kr.norm(dim=1, keepdim=True).clamp_min(1e-12)
            o = softmax_one(qr @ kr.T * attn.temperature[hd]) @ vr
            for r, (ch, i) in enumerate(rows):
                out[bi, ch, pos[i]] = o[r]
    return out[..., :n]


@pytest.mark.parametrize("box", [True, False])
def test_binned_attention_matches_explicit_indexing(box: bool) -> None:
    attn = HistogramSelfAttention(4, 2)
    with torch.no_grad():
        attn.temperature.copy_(torch.tensor([0.7, 1.3]).reshape(2, 1, 1))
    q, k, v = (torch.randn(2, 4, 7) for _ in range(3))  # 7 is not a multiple of 2 bins: padding
    assert torch.allclose(attn._binned_attention(q, k, v, box), naive_binned(attn, q, k, v, box), atol=1e-5)


@pytest.mark.parametrize("size", [(7, 5), (4, 4), (1, 3)])
def test_dhsa_shapes_grads_no_nan(size, grads) -> None:
    attn = HistogramSelfAttention(8, 4)
    x = torch.randn(2, 8, *size)
    y = attn(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    grads(attn, (y * torch.randn_like(y)).sum(), nonzero=size != (1, 3))


def naive_dhsa(attn: HistogramSelfAttention, x: torch.Tensor) -> torch.Tensor:
    """DHSA written with explicit loops for every scatter (un-sorting) step."""
    b, c, h, w = x.shape
    half = c // 2
    s_h, idx_h = x[:, :half].sort(dim=-2)
    s_hw, idx_w = s_h.sort(dim=-1)
    xs = torch.cat([s_hw, x[:, half:]], dim=1)
    q1, k1, q2, k2, v = attn.qkv_dwconv(attn.qkv(xs)).chunk(5, dim=1)
    vs, idx = v.reshape(b, c, -1).sort(dim=-1)

    def gather(t: torch.Tensor) -> torch.Tensor:
        return torch.gather(t.reshape(b, c, -1), 2, idx)

    o1 = naive_binned(attn, gather(q1), gather(k1), vs, True)
    o2 = naive_binned(attn, gather(q2), gather(k2), vs, False)
    u1, u2 = torch.zeros_like(o1), torch.zeros_like(o2)
    for bi in range(b):
        for ch in range(c):
            for j in range(h * w):
                u1[bi, ch, idx[bi, ch, j]] = o1[bi, ch, j]
                u2[bi, ch, idx[bi, ch, j]] = o2[bi, ch, j]
    out = attn.project_out((u1 * u2).reshape(b, c, h, w))
    res = out.clone()
    for bi in range(b):
        for ch in range(half):
            tmp = torch.zeros(h, w)
            for i in range(h):
                for j in range(w):
                    tmp[i, idx_w[bi, ch, i, j]] = out[bi, ch, i, j]
            for i in range(h):
                for j in range(w):
                    res[bi, ch, idx_h[bi, ch, i, j], j] = tmp[i, j]
    return res


def test_dhsa_matches_loop_reference() -> None:
    attn = HistogramSelfAttention(4, 2)
    x = torch.randn(1, 4, 3, 5)
    with torch.no_grad():
        assert torch.allclose(attn(x), naive_dhsa(attn, x), atol=1e-5)
    with pytest.raises(InputError, match="even"):
        HistogramSelfAttention(6, 4)


def test_htb_and_dual_ffn(grads) -> None:
    ffn = DualDWFeedForward(8, 2.66)
    x = torch.rand(2, 8, 6, 5)
    assert ffn(x).shape == x.shape
    block = HistogramTransformerBlock(8, 2)
    y = block(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    grads(block, (y * torch.randn_like(y)).sum())
