"""Float64 finite-difference checks of the hand-written differentiable cores."""
from __future__ import annotations

import torch
from torch.autograd import gradcheck

from mmfuse.nn.attention import channel_attention, spatial_attention
from mmfuse.nn.histoformer import softmax_one
from mmfuse.nn.moe import combine_expert_outputs
from mmfuse.nn.norm import layer_norm_2d


def d(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64, requires_grad=True)


def test_gradcheck_attention_cores() -> None:
    q, k, v = d(1, 4, 3, 2), d(1, 4, 3, 2), d(1, 4, 3, 2)
    temp = torch.tensor([0.7, 1.5], dtype=torch.float64).reshape(2, 1, 1).requires_grad_(True)
    assert gradcheck(lambda a, b, c, t: channel_attention(a, b, c, 2, t), (q, k, v, temp), fast_mode=True)
    q, k, v = d(1, 4, 3, 5), d(1, 4, 3, 5), d(1, 4, 3, 5)
    assert gradcheck(lambda a, b, c: spatial_attention(a, b, c, 2, window_size=2), (q, k, v), fast_mode=True)


def test_gradcheck_norm_softmax_one_and_moe_combine() -> None:
    x, w = d(2, 3, 2, 2), d(3)
    assert gradcheck(lambda a, b: layer_norm_2d(a, b, None), (x, w), fast_mode=True)
    assert gradcheck(lambda a: softmax_one(a), (d(3, 4),), fast_mode=True)
    outs = d(5, 2, 3)
    gates = torch.softmax(torch.randn(5, 2, dtype=torch.float64), dim=1).requires_grad_(True)
    assert gradcheck(lambda o, g: combine_expert_outputs(o, g, "logspace"), (outs, gates), fast_mode=True)
    assert gradcheck(lambda o, g: combine_expert_outputs(o, g, "linear"), (outs, gates), fast_mode=True)
