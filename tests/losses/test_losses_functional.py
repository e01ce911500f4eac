"""Hand-computed values of the functional losses on tiny tensors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mmfuse.errors import InputError, ShapeError
from mmfuse.losses import functional as LF


def img(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)[None, None]


F = img([[0.0, 1.0], [0.5, 0.5]])
IR = img([[1.0, 0.0], [0.2, 0.9]])
VIS = img([[0.5, 0.5], [0.4, 0.1]])


def test_intensity_max_and_masked_values() -> None:
    # max(VIS, IR) = [[1, .5], [.4, .9]] -> |F - max| = [1, .5, .1, .4]
    assert LF.intensity_loss(F, IR, VIS).item() == pytest.approx(0.5)
    # mask 1 -> max target, mask 0 -> mean target: [1, |1 - .25|, .1, |.5 - .5|]
    mask = img([[1.0, 0.0], [1.0, 0.0]])
    assert LF.intensity_loss(F, IR, VIS, mask).item() == pytest.approx((1 + 0.75 + 0.1 + 0.0) / 4)
    assert LF.intensity_loss(F, IR, VIS, torch.ones_like(F)).item() == pytest.approx(0.5)
    assert LF.intensity_loss(F, IR, VIS, reduction="none").shape == (1, 1, 2, 2)
    assert LF.intensity_loss(F, IR, VIS, reduction="sum").item() == pytest.approx(2.0)
    # mean target: (VIS + IR)/2 = [.75, .25, .3, .5]
    assert LF.intensity_mean_loss(F, IR, VIS).item() == pytest.approx((0.75 + 0.75 + 0.2 + 0.0) / 4)


def test_intensity_uses_luminance_of_rgb_visible() -> None:
    red = torch.zeros(1, 3, 2, 2)
    red[:, 0] = 1.0  # Y = 0.299
    zero = torch.zeros(1, 1, 2, 2)
    assert LF.intensity_loss(zero, zero, red).item() == pytest.approx(0.299, abs=1e-5)
    assert LF.luminance_l1_loss(zero, red).item() == pytest.approx(0.299, abs=1e-5)
    with pytest.raises(ShapeError, match="same batch size"):
        LF.intensity_loss(zero, zero, torch.zeros(1, 1, 3, 2))
    with pytest.raises(InputError, match="reduction"):
        LF.intensity_loss(F, IR, VIS, reduction="max")  # type: ignore[arg-type]


def ramp(step: float, h: int = 4, w: int = 4) -> torch.Tensor:
    return (torch.arange(w, dtype=torch.float32) * step).expand(h, w).reshape(1, 1, h, w).clone()


def test_gradient_loss_hand_value_and_modes() -> None:
    vis = ramp(0.1)  # Sobel x: 0.8 inside, 0.4 on the replicated border columns; y: 0
    zero = torch.zeros_like(vis)
    assert LF.gradient_loss(zero, zero, vis).item() == pytest.approx((0.4 + 0.8 + 0.8 + 0.4) / 4, abs=1e-6)
    # magnitude mode: sqrt(gx^2 + gy^2 + 1e-6), so a flat image has strength 1e-3
    mag = (2 * (0.16 + 1e-6) ** 0.5 + 2 * (0.64 + 1e-6) ** 0.5) / 4 - 1e-3
    assert LF.gradient_loss(zero, zero, vis, mode="magnitude").item() == pytest.approx(mag, abs=1e-6)
    assert LF.gradient_loss(vis, zero, vis).item() == pytest.approx(0.0, abs=1e-7)
    # the target is the max of the sources' gradients: a weaker source changes nothing
    assert LF.gradient_loss(zero, ramp(0.05), vis).item() == pytest.approx(0.6, abs=1e-6)
    # per-axis maximum (Text-IF): VIS only has x-gradients, IR only y-gradients, so the two
    # axes add up (0.6 + 0.6), while the max of |gx| + |gy| is (4 x 0.4 + 12 x 0.8) / 16 = 0.7
    ir_y = vis.transpose(-2, -1).contiguous()
    assert LF.gradient_loss(zero, ir_y, vis, mode="per_axis").item() == pytest.approx(1.2, abs=1e-6)
    assert LF.gradient_loss(zero, ir_y, vis, mode="abs_sum").item() == pytest.approx(0.7, abs=1e-6)
    with pytest.raises(InputError, match="per_axis"):
        LF.gradient_loss(zero, ir_y, vis, mode="l2")  # type: ignore[arg-type]
    # one-sided floor: only edges weaker than the stronger source count
    assert LF.gradient_loss(zero, zero, vis, side="under").item() == pytest.approx(0.6, abs=1e-6)
    assert LF.gradient_loss(2 * vis, zero, vis, side="under").item() == 0.0
    assert LF.gradient_loss(2 * vis, zero, vis).item() == pytest.approx(0.6, abs=1e-6)
    assert LF.gradient_loss(zero, ir_y, vis, mode="per_axis", side="under").item() == pytest.approx(1.2, abs=1e-6)
    assert LF.gradient_loss(2 * vis + ir_y, ir_y, vis, mode="per_axis", side="under").item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(InputError, match="side"):
        LF.gradient_loss(zero, zero, vis, side="over")  # type: ignore[arg-type]
    # zero padding makes the border of a flat image an edge
    assert LF.gradient_loss(zero, zero, torch.ones_like(vis), border="constant").item() > 0


def test_signed_gradient_and_loss() -> None:
    x = ramp(1.0, 5, 5)
    s = LF.signed_gradient(x)
    # interior: K_x (0.2 + 1 + 0.2) * (x[j+1] - x[j-1]) = 1.4 * 2; K_y sees a constant column
    assert torch.allclose(s[..., 1:-1, 1:-1], torch.full((1, 1, 3, 3), 2.8))
    rgb = x.expand(1, 3, 5, 5)
    assert torch.allclose(LF.signed_gradient(rgb), 3 * s)  # summed over the channels
    zero = torch.zeros_like(x)
    assert LF.signed_max_gradient_loss(x, zero, x).item() == 0.0
    assert LF.signed_max_gradient_loss(zero, zero, x).item() == pytest.approx(s.abs().mean().item())
    # the target keeps the sign of the stronger source
    assert LF.signed_max_gradient_loss(-x, zero, -x).item() == 0.0
    with pytest.raises(ShapeError, match="channel counts"):
        LF.signed_max_gradient_loss(rgb, x, rgb)


def test_correlation_loss_matches_numpy_and_ignores_gain() -> None:
    """1 - mean of Pearson's r with each source (numpy's corrcoef per batch element); gain and
    offset of the fused image do not change it; the exact average of two anti-correlated sources
    is flat and scores 1 - 0 with the epsilon guarding the zero variance."""
    g = torch.Generator().manual_seed(0)
    ir, vis, f = (torch.rand(2, 1, 12, 10, generator=g, dtype=torch.float64) for _ in range(3))
    ref = np.mean(
        [1 - 0.5 * (np.corrcoef(f[b].ravel(), vis[b].ravel())[0, 1] + np.corrcoef(f[b].ravel(), ir[b].ravel())[0, 1]) for b in range(2)]
    )
    assert LF.correlation_loss(f, ir, vis).item() == pytest.approx(ref, abs=1e-7)
    assert LF.correlation_loss(3 * f + 0.2, ir, vis).item() == pytest.approx(ref, abs=1e-7)
    assert LF.correlation_loss(vis, vis, vis).item() == pytest.approx(0.0, abs=1e-6)
    assert LF.correlation_loss(0.5 * (vis + (1 - vis)), 1 - vis, vis).item() == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ShapeError):
        LF.correlation_loss(f, ir[..., :8], vis)


def test_ssim_constant_images_hand_value() -> None:
    # flat images: sigma = 0, SSIM = (2 a b + C1) / (a^2 + b^2 + C1); float64 avoids the float32
    # rounding of E[x^2] - mu^2, which is visible against C2 = 9e-4
    a = torch.full((1, 1, 16, 16), 0.2, dtype=torch.float64)
    b = torch.full((1, 1, 16, 16), 0.6, dtype=torch.float64)
    c1 = 0.01**2
    expected = 1 - (2 * 0.2 * 0.6 + c1) / (0.2**2 + 0.6**2 + c1)
    assert LF.ssim_loss(a, b).item() == pytest.approx(expected, abs=1e-8)
    assert LF.ssim_loss(a.float(), b.float()).item() == pytest.approx(expected, abs=2e-4)
    x = torch.rand(2, 1, 16, 16)
    assert LF.ssim_loss(x, x).item() == pytest.approx(0.0, abs=1e-5)
    # two sources: weighted mean of the two single-source losses
    assert LF.fusion_ssim_loss(a, b, a, vis_weight=0.25).item() == pytest.approx(0.75 * expected, abs=1e-5)
    with pytest.raises(ShapeError, match="too small"):
        LF.ssim_loss(torch.rand(1, 1, 4, 4), torch.rand(1, 1, 4, 4))
    with pytest.raises(InputError, match="odd"):
        LF.ssim_loss(x, x, window_size=4)


def test_fusion_ssim_loss_with_tang_range_matches_the_tang_metric(ivif_dir) -> None:
    # data_range 1/255 is the differentiable form of the `tang` profile's SSIM (MATLAB ssim on
    # 0-255 doubles, dynamic range 1); with data range 1 the stabilisers lift flat regions
    from mmfuse.io import read_image
    from mmfuse.metrics import evaluate

    name = "FLIR_04593.jpg"
    ir = read_image(ivif_dir / "ir" / name, "gray")
    vis = read_image(ivif_dir / "vi" / name, "gray")
    fused = np.rint((0.6 * ir + 0.4 * vis) * 255).astype(np.uint8)
    metric = evaluate(fused, ir, vis, profile="tang", metrics=["SSIM"])["SSIM"]

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[None, None]

    f, i, v = t(fused / 255.0), t(ir), t(vis)
    assert 1 - LF.fusion_ssim_loss(f, i, v, data_range=1 / 255).item() == pytest.approx(metric, abs=2e-3)
    assert 1 - LF.fusion_ssim_loss(f, i, v).item() > metric + 0.05
    with pytest.raises(InputError, match="data_range"):
        LF.ssim_loss(f, i, data_range=0.0)


def test_color_loss_hand_value() -> None:
    vis = torch.zeros(1, 3, 2, 2)
    vis[:, 0] = 1.0  # red: Y .299, Cb (0 - .299) .564 + .5, Cr (1 - .299) .713 + .5
    fused = torch.zeros(1, 3, 2, 2)
    fused[:, 2] = 1.0  # blue: Y .114, Cb (1 - .114) .564 + .5, Cr (0 - .114) .713 + .5
    cb = abs((1 - 0.114) * 0.564 - (0 - 0.299) * 0.564)
    cr = abs((0 - 0.114) * 0.713 - (1 - 0.299) * 0.713)
    assert LF.color_loss(fused, vis).item() == pytest.approx(cb + cr, abs=1e-3)
    gray = torch.rand(1, 1, 2, 2).expand(1, 3, 2, 2)
    assert LF.color_loss(gray, torch.full((1, 3, 2, 2), 0.3)).item() == pytest.approx(0.0, abs=1e-5)
    with pytest.raises(ShapeError, match="3 channels"):
        LF.color_loss(torch.rand(1, 1, 2, 2), vis)


def test_restoration_terms() -> None:
    t = torch.rand(2, 1, 6, 6)
    assert LF.charbonnier_loss(t, t, eps=1e-3).item() == pytest.approx(1e-3)
    assert LF.charbonnier_loss(t + 3.0, t, eps=4.0).item() == pytest.approx(5.0, rel=1e-6)
    shifted = t + 0.25  # constant shift: pixel error .25, no gradient error
    assert LF.restoration_loss(shifted, t, gradient_weight=10.0).item() == pytest.approx(0.25, abs=1e-5)
    assert LF.gradient_l1_loss(shifted, t).item() == pytest.approx(0.0, abs=1e-6)
    r = ramp(0.1)
    assert LF.restoration_loss(torch.zeros_like(r), r, gradient_weight=2.0).item() == pytest.approx(
        r.mean().item() + 2 * 0.6, abs=1e-6
    )
    assert LF.restoration_loss(t + 3.0, t, charbonnier=True, eps=4.0).item() == pytest.approx(5.0, rel=1e-6)
    with pytest.raises(ShapeError):
        LF.restoration_loss(t, t[:, :, :5])


def test_cosine_alignment_values() -> None:
    z = torch.randn(3, 4, 2, 2)
    assert LF.cosine_alignment_loss(z, z).item() == pytest.approx(0.0, abs=1e-6)
    assert LF.cosine_alignment_loss(z, -z).item() == pytest.approx(2.0, abs=1e-6)
    e1 = torch.tensor([[1.0, 0.0]])
    e2 = torch.tensor([[0.0, 3.0]])
    assert LF.cosine_alignment_loss(e1, e2).item() == pytest.approx(1.0)
    multi = LF.cosine_alignment_loss([z, z[:, :2]], [z, -z[:, :2]])  # scales averaged: (0 + 2) / 2
    assert multi.item() == pytest.approx(1.0, abs=1e-6)
    ref = z.clone().requires_grad_(True)
    zz = torch.randn_like(z, requires_grad=True)
    LF.cosine_alignment_loss(zz, ref, detach_ref=True).backward()
    assert ref.grad is None and zz.grad is not None
    with pytest.raises(ShapeError, match="latents"):
        LF.cosine_alignment_loss([z], [z, z])


def test_prompt_regularizer_values() -> None:
    px, py = torch.full((2, 5), 0.3), torch.full((2, 5), 0.5)
    assert LF.prompt_regularizer(px, py).item() == pytest.approx(0.2)
    assert LF.prompt_regularizer(px, py, mode="mse").item() == pytest.approx(0.04)
    assert LF.prompt_regularizer(px, 1 - px).item() == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(InputError, match="mode"):
        LF.prompt_regularizer(px, py, mode="l2")  # type: ignore[arg-type]


def test_patch_max_gradient_target_picks_sharper_source() -> None:
    # a bright 2x2 square in the middle of every 4x4 patch; zeros elsewhere (no border edges)
    squares = torch.zeros(1, 1, 8, 8)
    for r in (1, 5):
        for c in (1, 5):
            squares[..., r : r + 2, c : c + 2] = 1.0
    x = squares.clone()
    x[..., 4:] = 0.0  # in focus on the left only
    y = squares.clone()
    y[..., :4] = 0.0  # in focus on the right only
    target = LF.patch_max_gradient_target(x, y, patch=4)
    assert torch.equal(target, squares)
    assert torch.equal(LF.patch_max_gradient_target(y, x, patch=4), squares)
    # ties go to x; odd sizes with partial patches keep the size
    odd = torch.rand(1, 3, 7, 5)
    assert LF.patch_max_gradient_target(odd, odd.flip(-1), patch=3).shape == odd.shape
    assert torch.equal(LF.patch_max_gradient_target(odd, odd, patch=3), odd)
