"""Tests of the NAFNet blocks and the residual conv block."""
from __future__ import annotations

import pytest
import torch

from mmfuse.errors import ShapeError
from mmfuse.nn import NAFBlock, ResidualBlock, SimpleGate, SimplifiedChannelAttention


def test_simple_gate_multiplies_halves() -> None:
    x = torch.arange(8.0).reshape(1, 4, 1, 2)
    y = SimpleGate()(x)
    assert torch.equal(y, x[:, :2] * x[:, 2:])
    with pytest.raises(ShapeError, match="even"):
        SimpleGate()(torch.rand(1, 3, 2, 2))


def test_sca_is_x_times_conv_of_global_mean() -> None:
    sca = SimplifiedChannelAttention(3)
    x = torch.rand(2, 3, 5, 4)
    conv = sca[1]
    expected = x * conv(x.mean(dim=(-2, -1), keepdim=True))
    assert torch.allclose(sca(x), expected, atol=1e-6)


@pytest.mark.parametrize("size", [(11, 7), (4, 4)])
def test_nafblock_identity_at_init_then_all_grads(size, grads) -> None:
    block = NAFBlock(8)
    x = torch.rand(2, 8, *size)
    assert torch.equal(block(x), x)  # beta = gamma = 0
    with torch.no_grad():
        block.beta.normal_()
        block.gamma.normal_()
    y = block(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    grads(block, (y * torch.randn_like(y)).sum())


def test_nafblock_parameter_names_follow_nafnet() -> None:
    names = {n.rsplit(".", 1)[0] for n, _ in NAFBlock(4).named_parameters()}
    assert names >= {"norm1", "conv1", "conv2", "sca.1", "conv3", "norm2", "conv4", "conv5"}
    assert "beta" in dict(NAFBlock(4).named_parameters())


def test_residual_block_identity_when_last_conv_is_zero(grads) -> None:
    block = ResidualBlock(4)
    x = torch.randn(1, 4, 5, 6)
    with torch.no_grad():
        block.block[2].weight.zero_()
        block.block[2].bias.zero_()
    assert torch.equal(block(x), x)
    relu_block = ResidualBlock(4, final_relu=True)
    y = relu_block(x)
    assert (y >= 0).all()
    grads(relu_block, y.sum())
