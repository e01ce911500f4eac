"""Tests of the prompt blocks (PromptIR, TG-ECNet TaskPrompt) and the adapters."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mmfuse.errors import InputError, ShapeError
from mmfuse.nn import BottleneckAdapter, ConvAdapter, MoE, PromptGenBlock, TaskPrompt


@pytest.mark.parametrize("size", [(11, 7), (4, 4)])
def test_prompt_gen_block_shapes_and_grads(size, grads) -> None:
    block = PromptGenBlock(prompt_dim=8, prompt_len=3, prompt_size=5, lin_dim=16)
    x = torch.rand(2, 16, *size)
    p = block(x)
    assert p.shape == (2, 8, *size) and torch.isfinite(p).all()
    grads(block, (p * torch.randn_like(p)).sum())


def test_prompt_gen_block_is_softmax_mixture_of_components() -> None:
    block = PromptGenBlock(prompt_dim=2, prompt_len=3, prompt_size=4, lin_dim=5)
    x = torch.rand(1, 5, 6, 6)
    w = torch.softmax(block.linear_layer(x.mean(dim=(-2, -1))), dim=1)[0]
    mix = sum(w[i] * block.prompt_param[0, i] for i in range(3))
    expected = block.conv3x3(F.interpolate(mix[None], size=(6, 6), mode="bilinear", align_corners=False))
    assert torch.allclose(block(x), expected, atol=1e-6)
    with torch.no_grad():  # identical components: the output no longer depends on the input
        block.prompt_param.copy_(block.prompt_param[:, :1].expand_as(block.prompt_param))
    assert torch.allclose(block(x), block(torch.rand(1, 5, 6, 6)), atol=1e-6)


def test_task_prompt_dictionary_and_sizes(grads) -> None:
    tp = TaskPrompt(in_channels=1, hidden=8, cond_dim=4, num_atoms=6, atom_dim=10)
    x = torch.rand(3, 1, 9, 13)  # smallest height the two stride-3 convs accept
    prompt, coeffs = tp(x, return_coefficients=True)
    assert prompt.shape == (3, 10) and coeffs.shape == (3, 6)
    assert torch.allclose(coeffs.sum(1), torch.ones(3)) and (coeffs >= 0).all()
    assert torch.allclose(prompt, F.gelu(coeffs @ tp.dictionary), atol=1e-6)
    assert torch.equal(tp(x), prompt)
    grads(tp, tp(torch.rand(2, 1, 20, 17)).square().sum())
    with pytest.raises(ShapeError, match="at least 9x9"):
        tp(torch.rand(1, 1, 8, 20))
    assert TaskPrompt(in_channels=6, hidden=8, cond_dim=4, num_atoms=4, atom_dim=8)(torch.rand(1, 6, 12, 12)).shape == (1, 8)


def test_bottleneck_adapter_shapes_residual_and_zero_init(grads) -> None:
    ad = BottleneckAdapter(16, 2, out_dim=8)
    assert ad(torch.rand(5, 16)).shape == (5, 8)
    assert ad(torch.rand(2, 7, 16)).shape == (2, 7, 8)
    grads(ad, ad(torch.rand(4, 16)).sum())
    ident = BottleneckAdapter(16, 4, residual=True, zero_init=True, activation="gelu")
    x = torch.rand(3, 16)
    assert torch.equal(ident(x), x)
    scaled = BottleneckAdapter(4, 2, scale=0.1, activation="none")
    ref = scaled.up(scaled.down(x[:, :4])) * 0.1
    assert torch.allclose(scaled(x[:, :4]), ref)
    with pytest.raises(InputError, match="residual"):
        BottleneckAdapter(4, 2, out_dim=3, residual=True)
    with pytest.raises(ShapeError, match="last axis"):
        ad(torch.rand(3, 5))
    with pytest.raises(InputError, match="activation"):
        BottleneckAdapter(4, 2, activation="tanh")  # type: ignore[arg-type]


def test_conv_adapter_and_tc_moa_mixture_of_adapters(grads) -> None:
    conv = ConvAdapter(16, 4)
    x = torch.rand(2, 16, 5, 7)
    assert conv(x).shape == x.shape
    assert all(m.bias is None for m in conv.body if isinstance(m, torch.nn.Conv2d))
    grads(conv, conv(x).square().sum())
    # TC-MoA: 4 shared adapters (C/4 -> C/32 -> C/4), 3 task routers, top-2, noise eps 0.1
    c = 64
    moa = MoE(lambda i: BottleneckAdapter(c // 4, c // 32), k=2, num_experts=4, gate_dim=c // 4,
              num_routers=3, noise_epsilon=0.1).train()
    phi = torch.randn(2, 12, c // 4)
    out = moa(phi, router=1)
    assert out.output.shape == phi.shape
    half = c // 8
    prompt_x = torch.sigmoid(out.output[..., :half].mean(-1))
    prompt_y = torch.sigmoid(out.output[..., half:].mean(-1))
    assert prompt_x.shape == (2, 12) and ((prompt_y > 0) & (prompt_y < 1)).all()
