"""Modules equal their functional core; CompositeLoss weights, options and errors."""
from __future__ import annotations

import pytest
import torch

from mmfuse.errors import ConfigError, InputError
from mmfuse.losses import (
    LOSS_TERMS,
    ColorLoss,
    CompositeLoss,
    CosineAlignmentLoss,
    FusionLoss,
    GradientLoss,
    IntensityLoss,
    LoadBalancingLoss,
    PromptRegularizer,
    RestorationLoss,
    SSIMLoss,
)
from mmfuse.losses import functional as LF
from mmfuse.nn import MoE, Mlp


@pytest.fixture
def triplet() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return torch.rand(2, 1, 16, 16), torch.rand(2, 1, 16, 16), torch.rand(2, 3, 16, 16)


def test_modules_equal_functional(triplet) -> None:
    f, ir, vis = triplet
    mask = (torch.rand(2, 1, 16, 16) > 0.5).float()
    pred, target = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    z, zr = torch.randn(2, 8, 4, 4), torch.randn(2, 8, 4, 4)
    px, py = torch.rand(2, 10), torch.rand(2, 10)
    imp, load = torch.tensor([3.0, 1.0, 2.0]), torch.tensor([2.0, 2.0, 2.0])
    pairs = [
        (IntensityLoss()(f, ir, vis), LF.intensity_loss(f, ir, vis)),
        (IntensityLoss()(f, ir, vis, mask), LF.intensity_loss(f, ir, vis, mask)),
        (IntensityLoss("mean")(f, ir, vis), LF.intensity_mean_loss(f, ir, vis)),
        (GradientLoss("magnitude", "constant")(f, ir, vis), LF.gradient_loss(f, ir, vis, "magnitude", "constant")),
        (SSIMLoss(7, 0.3)(f, ir, vis), LF.fusion_ssim_loss(f, ir, vis, 7, 0.3)),
        (ColorLoss()(pred, vis), LF.color_loss(pred, vis)),
        (RestorationLoss(5.0, True, 0.01)(pred, target), LF.restoration_loss(pred, target, 5.0, True, 0.01)),
        (CosineAlignmentLoss(True)(z, zr), LF.cosine_alignment_loss(z, zr, True)),
        (PromptRegularizer("mse")(px, py), LF.prompt_regularizer(px, py, "mse")),
        (LoadBalancingLoss()(imp, load), LF.load_balancing_loss(imp, load)),
    ]
    for i, (module_value, functional_value) in enumerate(pairs):
        assert torch.equal(module_value, functional_value), i
    with pytest.raises(InputError, match="target"):
        IntensityLoss("min")  # type: ignore[arg-type]


def test_composite_total_is_weighted_sum_of_reported_terms(triplet) -> None:
    f, ir, vis = triplet
    f.requires_grad_(True)
    weights = {"intensity": 1.0, "gradient": 10.0, "ssim": 0.5, "l1_vis": 1.0, "l1_ir": 1.0, "load": 0.1}
    loss = CompositeLoss(weights, options={"gradient": {"mode": "magnitude"}, "ssim": {"window_size": 7}})
    moe_losses = [torch.tensor(0.3), torch.tensor(0.2)]
    terms = loss(fused=f, ir=ir, vis=vis, load_loss=moe_losses)
    assert set(terms) == set(weights) | {"total"}
    assert terms["gradient"] == LF.gradient_loss(f, ir, vis, mode="magnitude")
    assert terms["ssim"] == LF.fusion_ssim_loss(f, ir, vis, window_size=7)
    assert terms["l1_vis"] == LF.luminance_l1_loss(f, vis)
    assert terms["load"].item() == pytest.approx(0.5)
    expected = sum(w * terms[k] for k, w in weights.items())
    assert torch.allclose(terms["total"], expected)
    terms["total"].backward()
    assert f.grad is not None and torch.isfinite(f.grad).all()
    assert loss.terms == list(weights) and loss.required_inputs() == {"fused", "ir", "vis", "load_loss"}


def test_composite_tg_ecnet_and_lure_style_terms() -> None:
    # TG-ECNet stage 1: L1 + 10 grad + 0.1 load (the MoE returns its load loss)
    moe = MoE(lambda i: Mlp(4, 8), k=2, num_experts=3, gate_dim=4).train()
    pred, target = torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8)
    out = moe(torch.randn(1, 4, 8, 8))
    stage1 = CompositeLoss({"restoration": 1.0, "restoration_gradient": 10.0, "load": 0.1})
    t = stage1(pred=pred, target=target, load_loss=out.loss)
    ref = LF.restoration_loss(pred, target, gradient_weight=10.0) + 0.1 * out.loss
    assert torch.allclose(t["total"], ref)
    # LURE stage 1 terms
    z = [torch.randn(2, 4, 4, 4), torch.randn(2, 8, 2, 2)]
    lure = FusionLoss({"restoration": 1.0, "alignment": 0.5, "prompt": 0.0})
    assert set(lure(pred=pred, target=target, latent=z, latent_ref=z)) == {"restoration", "alignment", "total"}
    # mask-weighted intensity only when a mask is given
    inten = CompositeLoss({"intensity": 1.0})
    f, ir, vis = torch.rand(3, 1, 1, 4, 4).unbind(0)
    m = torch.zeros(1, 1, 4, 4)
    assert torch.equal(inten(fused=f, ir=ir, vis=vis, mask=m)["total"], LF.intensity_loss(f, ir, vis, m))
    assert torch.equal(inten(fused=f, ir=ir, vis=vis)["total"], LF.intensity_loss(f, ir, vis))


def test_composite_config_errors_name_the_key_and_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"'gradiant' is unknown; valid: .*gradient.*intensity"):
        CompositeLoss({"gradiant": 1.0})
    with pytest.raises(ConfigError, match=r"gradient\.modee is unknown; valid: border, mode"):
        CompositeLoss({"gradient": 1.0}, options={"gradient": {"modee": "abs_sum"}})
    with pytest.raises(ConfigError, match="color.window_size is unknown; valid: none"):
        CompositeLoss({"color": 1.0}, options={"color": {"window_size": 3}})
    with pytest.raises(ConfigError, match="which has no weight"):
        CompositeLoss({"intensity": 1.0}, options={"ssim": {"window_size": 7}})
    with pytest.raises(ConfigError, match="unknown term 'sim'"):
        CompositeLoss({"intensity": 1.0}, options={"sim": {}})
    for bad in (-1.0, float("nan"), "1", True, None):
        with pytest.raises(ConfigError, match="finite number"):
            CompositeLoss({"intensity": bad})  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match="no loss term"):
        CompositeLoss({"intensity": 0.0})
    with pytest.raises(ConfigError, match="mapping"):
        CompositeLoss([("intensity", 1.0)])  # type: ignore[arg-type]


def test_composite_missing_input_names_term_and_input() -> None:
    loss = CompositeLoss({"intensity": 1.0, "color": 0.5})
    f = torch.rand(1, 3, 4, 4)
    with pytest.raises(InputError, match="'intensity' needs input 'ir'"):
        loss(fused=f, vis=f)
    with pytest.raises(InputError, match="empty sequence"):
        CompositeLoss({"load": 1.0})(load_loss=[])


def test_every_term_is_documented_and_callable() -> None:
    f, ir = torch.rand(1, 3, 12, 12), torch.rand(1, 3, 12, 12)
    inputs = {
        "fused": f, "ir": ir, "vis": torch.rand(1, 3, 12, 12), "mask": torch.ones(1, 1, 12, 12),
        "pred": f, "target": ir, "latent": f, "latent_ref": ir, "prompt_x": f, "prompt_y": ir,
        "load_loss": torch.tensor(0.1),
    }
    loss = CompositeLoss({name: 1.0 for name in LOSS_TERMS})
    terms = loss(**inputs)
    assert set(terms) == set(LOSS_TERMS) | {"total"}
    assert all(torch.isfinite(v) and v.ndim == 0 for v in terms.values())
    assert all(term.description for term in LOSS_TERMS.values())
