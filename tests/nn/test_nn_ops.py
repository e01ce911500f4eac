"""Tests of mmfuse.nn.ops: Sobel gradients, YCbCr, padding, windows, DenseFuse rules."""
from __future__ import annotations

import math

import pytest
import torch

from mmfuse.errors import InputError, ShapeError
from mmfuse.nn import ops


def ramp(h: int = 5, w: int = 6, step: float = 1.0) -> torch.Tensor:
    """Image whose value is ``step * column``."""
    return (torch.arange(w, dtype=torch.float32) * step).expand(h, w).reshape(1, 1, h, w).clone()


def test_sobel_on_horizontal_ramp_matches_hand_values() -> None:
    gx, gy = ops.sobel_gradients(ramp())
    # interior: (1 + 2 + 1) * (x[j+1] - x[j-1]) = 4 * 2 = 8; replicated borders: 4 * 1 = 4
    assert torch.allclose(gx[..., 1:-1], torch.full_like(gx[..., 1:-1], 8.0))
    assert torch.allclose(gx[..., 0], torch.full_like(gx[..., 0], 4.0))
    assert torch.allclose(gx[..., -1], torch.full_like(gx[..., -1], 4.0))
    assert torch.allclose(gy, torch.zeros_like(gy))


def test_sobel_zero_border_creates_edges_at_image_border() -> None:
    x = torch.ones(1, 1, 4, 4)
    gx, _ = ops.sobel_gradients(x, border="constant")
    assert gx[0, 0, 1, 0] == 4.0 and gx[0, 0, 1, -1] == -4.0  # zero padding outside
    gx_rep, _ = ops.sobel_gradients(x, border="replicate")
    assert torch.count_nonzero(gx_rep) == 0


def test_gradient_magnitude_modes_on_diagonal_ramp() -> None:
    i = torch.arange(6, dtype=torch.float32)
    x = (i[:, None] + i[None, :]).reshape(1, 1, 6, 6)
    inner = (slice(None), slice(None), slice(1, -1), slice(1, -1))
    assert torch.allclose(ops.gradient_magnitude(x, "abs_sum")[inner], torch.tensor(16.0))
    assert torch.allclose(ops.gradient_magnitude(x, "magnitude")[inner], torch.tensor(math.sqrt(128.0)), atol=1e-5)
    with pytest.raises(InputError, match="gradient mode"):
        ops.gradient_magnitude(x, "l2")  # type: ignore[arg-type]


def test_ycbcr_bt601_full_range_values_and_round_trip() -> None:
    rgb = torch.tensor([[1.0, 0.0, 0.0], [0.2, 0.5, 0.9]]).T.reshape(1, 3, 1, 2)
    ycc = ops.rgb_to_ycbcr(rgb)
    for j in range(2):
        r, g, b = rgb[0, :, 0, j].tolist()
        y = 0.299 * r + 0.587 * g + 0.114 * b
        expected = torch.tensor([y, (b - y) * 0.564 + 0.5, (r - y) * 0.713 + 0.5])
        assert torch.allclose(ycc[0, :, 0, j], expected, atol=2e-4)
    assert torch.allclose(ops.ycbcr_to_rgb(ycc), rgb, atol=1e-5)


def test_luminance_gray_passthrough_rgb_weights_and_bad_channels() -> None:
    gray = torch.rand(2, 1, 3, 3)
    assert ops.luminance(gray) is gray
    red = torch.zeros(1, 3, 2, 2)
    red[:, 0] = 1.0
    assert torch.allclose(ops.luminance(red), torch.full((1, 1, 2, 2), 0.299), atol=1e-6)
    with pytest.raises(ShapeError, match="1 or 3 channels"):
        ops.luminance(torch.rand(1, 2, 3, 3))
    with pytest.raises(ShapeError, match=r"\(B, C, H, W\)"):
        ops.luminance(torch.rand(3, 3))


@pytest.mark.parametrize("size", [(7, 5), (8, 8), (1, 2)])
def test_pad_to_multiple_and_crop_round_trip(size: tuple[int, int]) -> None:
    x = torch.rand(2, 3, *size)
    padded, orig = ops.pad_to_multiple(x, 4)
    assert padded.shape[-2] % 4 == 0 and padded.shape[-1] % 4 == 0
    assert orig == size
    assert torch.equal(ops.crop_to(padded, orig), x)
    with pytest.raises(InputError):
        ops.pad_to_multiple(x, 0)
    with pytest.raises(ShapeError):
        ops.crop_to(x, (size[0] + 1, size[1]))


def test_window_partition_round_trip_and_order() -> None:
    x = torch.arange(2 * 4 * 6 * 3, dtype=torch.float32).reshape(2, 4, 6, 3)
    win = ops.window_partition(x, 2)
    assert win.shape == (2 * 2 * 3, 4, 3)
    assert torch.equal(win[1, 0], x[0, 0, 2])  # second window of the first row starts at column 2
    assert torch.equal(ops.window_reverse(win, 2, 4, 6), x)
    with pytest.raises(ShapeError, match="multiple of window"):
        ops.window_partition(x, 4)


def test_l1_norm_fusion_rule_weights_by_activity() -> None:
    a = torch.ones(1, 2, 4, 4)  # activity 2
    b = torch.full((1, 2, 4, 4), 3.0)  # activity 6 -> weights 0.25 / 0.75
    assert torch.allclose(ops.l1_norm_fusion_rule(a, b), torch.full_like(a, 0.25 * 1 + 0.75 * 3))
    z = torch.zeros_like(a)
    assert torch.allclose(ops.l1_norm_fusion_rule(z, b), b, atol=1e-6)
    assert torch.equal(ops.addition_fusion_rule(a, b), a + b)
    with pytest.raises(ShapeError):
        ops.l1_norm_fusion_rule(a, torch.ones(1, 3, 4, 4))
