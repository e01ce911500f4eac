"""Tests of LayerNorm2d and the Restormer blocks (MDTA, GDFN, TransformerBlock, resampling)."""
from __future__ import annotations

import pytest
import torch

from mmfuse.errors import InputError, ShapeError
from mmfuse.nn import GDFN, MDTA, Downsample, LayerNorm2d, OverlapPatchEmbed, TransformerBlock, Upsample
from mmfuse.nn.attention import channel_attention
from mmfuse.nn.restormer import remap_restormer_state_dict


def test_layer_norm_with_bias_matches_per_pixel_formula() -> None:
    x = torch.randn(2, 5, 3, 4)
    norm = LayerNorm2d(5, "with_bias")
    with torch.no_grad():
        norm.weight.copy_(torch.arange(1.0, 6.0))
        norm.bias.copy_(torch.full((5,), 0.5))
    y = norm(x)
    v = x[1, :, 2, 3]
    expected = (v - v.mean()) / torch.sqrt(v.var(unbiased=False) + 1e-5) * torch.arange(1.0, 6.0) + 0.5
    assert torch.allclose(y[1, :, 2, 3], expected, atol=1e-5)


def test_layer_norm_bias_free_does_not_centre() -> None:
    x = torch.tensor([1.0, 2.0, 3.0]).reshape(1, 3, 1, 1)
    y = LayerNorm2d(3, "bias_free")(x)
    assert torch.allclose(y.flatten(), torch.tensor([1.0, 2.0, 3.0]) / (2.0 / 3.0 + 1e-5) ** 0.5)
    assert LayerNorm2d(3, "bias_free").bias is None
    with pytest.raises(InputError, match="norm_type"):
        LayerNorm2d(3, "batch")  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match="3 channels"):
        LayerNorm2d(3)(torch.rand(1, 4, 2, 2))


def naive_channel_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, temp: torch.Tensor
) -> torch.Tensor:
    b, c, h, w = q.shape
    d = c // heads
    out = torch.empty_like(q)
    for bi in range(b):
        for hd in range(heads):
            sl = slice(hd * d, (hd + 1) * d)
            qq = q[bi, sl].reshape(d, -1)
            kk = k[bi, sl].reshape(d, -1)
            qq = qq / qq.norm(dim=1, keepdim=True)
            kk = kk / kk.norm(dim=1, keepdim=True)
            a = torch.softmax(qq @ kk.T * temp[hd], dim=1)
            out[bi, sl] = (a @ v[bi, sl].reshape(d, -1)).reshape(d, h, w)
    return out


def test_channel_attention_matches_naive_loop_and_is_pixel_equivariant() -> None:
    q, k, v = (torch.randn(2, 8, 5, 3) for _ in range(3))
    temp = torch.tensor([0.5, 2.0]).reshape(2, 1, 1)
    out = channel_attention(q, k, v, 2, temp)
    assert torch.allclose(out, naive_channel_attention(q, k, v, 2, temp.flatten()), atol=1e-5)
    # the H*W axis is contracted: permuting pixels of q, k, v permutes the output pixels alike
    perm = torch.randperm(15)

    def p(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(2, 8, 15)[..., perm].reshape(2, 8, 5, 3)

    assert torch.allclose(channel_attention(p(q), p(k), p(v), 2, temp), p(out), atol=1e-5)
    with pytest.raises(ShapeError, match="do not divide"):
        channel_attention(q, k, v, 3, temp)


@pytest.mark.parametrize("size", [(11, 7), (1, 1), (8, 8)])
@pytest.mark.parametrize("norm_type", ["with_bias", "bias_free"])
def test_transformer_block_shapes_grads_no_nan(size, norm_type, grads) -> None:
    block = TransformerBlock(16, num_heads=2, ffn_expansion_factor=2.66, norm_type=norm_type)
    x = torch.rand(2, 16, *size)
    y = block(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    # H = W = 1: the L2-normalised q, k are +-1 and the attention has no spatial extent, but
    # every parameter still receives a (finite) gradient
    grads(block, (y * torch.randn_like(y)).sum(), nonzero=size != (1, 1))


def test_mdta_and_gdfn_shapes_names_and_errors(grads) -> None:
    attn = MDTA(12, 3)
    ffn = GDFN(12, 2.66)
    x = torch.rand(1, 12, 6, 5)
    assert attn(x).shape == x.shape and ffn(x).shape == x.shape
    assert ffn.hidden == int(12 * 2.66)
    assert {n for n, _ in attn.named_parameters()} == {
        "temperature", "qkv.weight", "qkv_dwconv.weight", "project_out.weight"
    }
    grads(ffn, ffn(x).square().sum())
    with pytest.raises(InputError, match="must divide"):
        MDTA(10, 3)
    with pytest.raises(ShapeError, match="12 channels"):
        attn(torch.rand(1, 8, 4, 4))


def test_downsample_upsample_and_patch_embed(grads) -> None:
    x = torch.rand(2, 16, 8, 6)
    down, up = Downsample(16), Upsample(32)
    d = down(x)
    assert d.shape == (2, 32, 4, 3)
    u = up(d)
    assert u.shape == (2, 16, 8, 6)
    grads(down, d.sum() + 0 * u.sum())
    with pytest.raises(ShapeError, match="multiples of 2"):
        down(torch.rand(1, 16, 7, 6))
    with pytest.raises(InputError, match="even"):
        Downsample(15)
    embed = OverlapPatchEmbed(1, 16)
    assert embed(torch.rand(3, 1, 9, 13)).shape == (3, 16, 9, 13)


def test_remap_official_restormer_names_loads_strictly() -> None:
    block = TransformerBlock(8, 2)
    official = {}
    for key, value in block.state_dict().items():
        official[key.replace("norm1.", "norm1.body.").replace("norm2.", "norm2.body.")] = value.clone()
    assert "norm1.body.weight" in official
    fresh = TransformerBlock(8, 2)
    fresh.load_state_dict(remap_restormer_state_dict(official), strict=True)
    x = torch.rand(1, 8, 4, 4)
    assert torch.equal(fresh(x), block(x))
    # nested names and non-norm "body" keys (Downsample) are kept right
    renamed = remap_restormer_state_dict({"encoder_level1.0.norm2.body.bias": 1, "down1_2.body.0.weight": 2})
    assert renamed == {"encoder_level1.0.norm2.bias": 1, "down1_2.body.0.weight": 2}
