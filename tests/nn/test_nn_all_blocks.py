"""Every module exported by mmfuse.nn: odd-size forward, finite output, gradients reach every
parameter. A newly exported block without an entry here makes the coverage test fail."""
from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

import mmfuse.nn as N

X = (2, 8, 11, 7)  # odd height and width


def fmap(c: int = 8, h: int = 11, w: int = 7) -> torch.Tensor:
    return torch.randn(2, c, h, w)


def first(out: object) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, N.MoEOutput):
        return out.output + out.loss
    if isinstance(out, N.GateOutput):
        return out.gates + out.load.sum()
    if isinstance(out, tuple):
        return sum(first(o).sum() for o in out if isinstance(o, (torch.Tensor, N.MoEOutput)))  # type: ignore[return-value]
    raise TypeError(type(out))


# name -> (factory, call, parameters that may have no gradient in this single call)
CASES: dict[str, tuple[Callable[[], nn.Module], Callable[[nn.Module], object], tuple[str, ...]]] = {
    "LayerNorm2d": (lambda: N.LayerNorm2d(8), lambda m: m(fmap()), ()),
    "MDTA": (lambda: N.MDTA(8, 2), lambda m: m(fmap()), ()),
    "GDFN": (lambda: N.GDFN(8), lambda m: m(fmap()), ()),
    "TransformerBlock": (lambda: N.TransformerBlock(8, 2, norm_type="bias_free"), lambda m: m(fmap()), ()),
    "OverlapPatchEmbed": (lambda: N.OverlapPatchEmbed(3, 8), lambda m: m(fmap(3)), ()),
    "Downsample": (lambda: N.Downsample(8), lambda m: m(fmap(8, 10, 6)), ()),
    "Upsample": (lambda: N.Upsample(8), lambda m: m(fmap()), ()),
    "SimpleGate": (N.SimpleGate, lambda m: m(fmap()), ()),
    "SimplifiedChannelAttention": (lambda: N.SimplifiedChannelAttention(8), lambda m: m(fmap()), ()),
    "NAFBlock": (lambda: N.NAFBlock(8), lambda m: m(fmap()), ("norm1.weight", "norm1.bias", "conv1.weight",
                 "conv1.bias", "conv2.weight", "conv2.bias", "sca.1.weight", "sca.1.bias", "conv3.weight",
                 "conv3.bias", "norm2.weight", "norm2.bias", "conv4.weight", "conv4.bias", "conv5.weight",
                 "conv5.bias")),  # zero-initialised beta/gamma: inner gradients are exactly 0 at init
    "NoisyTopKGate": (lambda: N.NoisyTopKGate(8, 4, 2), lambda m: m(torch.randn(30, 8)), ()),
    "MoE": (lambda: N.MoE(lambda i: N.Mlp(8, 16), k=4, num_experts=4, gate_dim=8), lambda m: m(fmap()), ()),
    "PromptGenBlock": (lambda: N.PromptGenBlock(4, 3, 5, 8), lambda m: m(fmap()), ()),
    "TaskPrompt": (lambda: N.TaskPrompt(8, 8, 4, 4, 6), lambda m: m(fmap(8, 11, 10)), ()),
    "ChannelCrossAttention": (lambda: N.ChannelCrossAttention(8, 2, kv_dim=3), lambda m: m(fmap(), fmap(3)), ()),
    "SpatialCrossAttention": (lambda: N.SpatialCrossAttention(8, 2, window_size=4), lambda m: m(fmap(), fmap()), ()),
    "CrossAttentionBlock": (lambda: N.CrossAttentionBlock(8, 2), lambda m: m(fmap(), fmap()), ()),
    "TextGuidedBlock": (lambda: N.TextGuidedBlock(8, 5, 4), lambda m: m(fmap(), torch.randn(2, 5)), ()),
    "MaskGuidedCrossAttention": (lambda: N.MaskGuidedCrossAttention(8, 2),
                                 lambda m: m(fmap(), fmap(), fmap(), torch.rand(2, 8, 11, 7)), ()),
    "MaskGuidedFusion": (lambda: N.MaskGuidedFusion(8, 2), lambda m: m(fmap(), fmap(), fmap()), ()),
    "HistogramSelfAttention": (lambda: N.HistogramSelfAttention(8, 2), lambda m: m(fmap()), ()),
    "DualDWFeedForward": (lambda: N.DualDWFeedForward(8), lambda m: m(fmap()), ()),
    "HistogramTransformerBlock": (lambda: N.HistogramTransformerBlock(8, 2), lambda m: m(fmap()), ()),
    "ResidualBlock": (lambda: N.ResidualBlock(8, final_relu=True), lambda m: m(fmap()), ()),
    "BottleneckAdapter": (lambda: N.BottleneckAdapter(8, 2), lambda m: m(torch.randn(2, 5, 8)), ()),
    "ConvAdapter": (lambda: N.ConvAdapter(8, 2), lambda m: m(fmap()), ()),
    "PatchEmbed": (lambda: N.PatchEmbed(4, 3, 8), lambda m: m(torch.randn(2, 3, 12, 8))[0], ()),
    "Mlp": (lambda: N.Mlp(8, 16, 4), lambda m: m(torch.randn(2, 5, 8)), ()),
    "Attention": (lambda: N.Attention(8, 2), lambda m: m(torch.randn(2, 6, 8), grid=(2, 3), window_size=1), ()),
    "RelativePositionBias": (lambda: N.RelativePositionBias(3, 2), lambda m: m(), ()),
    "Block": (lambda: N.Block(8, 2), lambda m: m(torch.randn(2, 7, 8)), ()),
    "MaskedAutoencoderViT": (
        lambda: N.MaskedAutoencoderViT(img_size=16, patch_size=4, embed_dim=8, depth=1, num_heads=2,
                                       decoder_embed_dim=8, decoder_depth=1, decoder_num_heads=2),
        lambda m: m(torch.rand(2, 3, 12, 20), mask_ratio=0.5)[0], ()),
}


def test_every_exported_module_is_covered() -> None:
    exported = {name for name in N.__all__ if isinstance(getattr(N, name), type) and issubclass(getattr(N, name), nn.Module)}
    assert exported == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_block_forward_backward(name: str) -> None:
    factory, call, may_be_zero = CASES[name]
    module = factory().train()
    out = first(call(module))
    assert torch.isfinite(out).all(), name
    if not list(module.parameters()):  # SimpleGate
        return
    (out * torch.randn_like(out)).sum().backward() if out.ndim else out.backward()
    for pname, p in module.named_parameters():
        assert p.grad is not None, f"{name}.{pname}: no gradient"
        assert torch.isfinite(p.grad).all(), f"{name}.{pname}: non-finite gradient"
        if pname not in may_be_zero:
            assert p.grad.abs().sum() > 0, f"{name}.{pname}: zero gradient"
