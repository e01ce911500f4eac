"""MoE-Fusion (mmfuse.models.moefusion): shapes, gating, attention plug-ins, losses, shipped weights, CLI."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mmfuse.errors import InputError, ShapeError
from mmfuse.io import read_image, rgb_to_ycbcr
from mmfuse.models.moefusion import (
    BoxAttention,
    CallableAttention,
    LearnedAttention,
    MoEFusion,
    boxes_to_mask,
    contrast_prior,
    moefusion_losses,
)
from mmfuse.models.registry import bundled_weights_path

ROOT = Path(__file__).resolve().parents[2]

# A tiny configuration: full resolution and 2x pixel-unshuffle variants are both exercised.
TINY = dict(
    stem=4,
    growth=4,
    dense_layers=2,
    local_hidden=2,
    global_widths=[4, 4],
    local_gate_size=[4, 4],
    global_gate_size=[2, 2],
    gate_pool="avg",
    attention_channels=8,
)


pytestmark = pytest.mark.usefixtures("one_thread")


def _pair(b: int = 2, h: int = 23, w: int = 31, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 1, h, w, generator=g), torch.rand(b, 3, h, w, generator=g)


@pytest.mark.parametrize("layout", [dict(unshuffle=1), dict(unshuffle=2), dict(unshuffle=2, shuffle_head=2, residual=True)])
@pytest.mark.parametrize("size", [(23, 31), (16, 16), (9, 40)])
def test_forward_shapes_any_size(layout, size):
    torch.manual_seed(0)
    net = MoEFusion(**TINY, **layout).eval()
    ir, vis = _pair(2, *size)
    with torch.no_grad():
        out = net(ir, vis)
        out_y = net(ir, vis[:, :1])
    assert out["fused"].shape == (2, 1, *size)
    assert out_y["fused"].shape == (2, 1, *size)
    for key in ("att", "att_ir", "att_vis"):
        assert out[key].shape == (2, 1, *size)
        assert float(out[key].min()) >= 0 and float(out[key].max()) <= 1
    for key in ("gates_fg", "gates_bg", "gates_global"):
        assert out[key].shape == (2, 4)
    assert torch.isfinite(out["fused"]).all()


def test_residual_and_linear_head():
    """``residual`` adds (IR + VIS) / 2; the shared shuffle head is linear, so Eq. 4 (a gate-weighted sum) holds."""
    torch.manual_seed(0)
    net = MoEFusion(**TINY, unshuffle=2, shuffle_head=2, residual=True).eval()
    ir, vis = _pair(1, 12, 16)
    with torch.no_grad():
        for p in net.moge.parameters():
            p.zero_()
        assert net.head is not None
        net.head.bias.zero_()
        out = net(ir, vis[:, :1])
    torch.testing.assert_close(out["fused"], (ir + vis[:, :1]) / 2)


def test_bad_inputs():
    net = MoEFusion(**TINY)
    ir, vis = _pair()
    with pytest.raises(ShapeError):
        net(ir[:, :, :10], vis)
    with pytest.raises(ShapeError):
        net(ir[0], vis[0])
    with pytest.raises(InputError, match="even"):
        MoEFusion(**TINY, num_experts=3)
    with pytest.raises(InputError, match="attention"):
        MoEFusion(**TINY, attention="detector")
    with pytest.raises(InputError, match="x2 < x1"):
        boxes_to_mask([[(5, 5, 2, 8)]], (10, 10))


@pytest.mark.parametrize("train", [True, False])
def test_top_k_respected(train):
    torch.manual_seed(1)
    net = MoEFusion(**TINY, top_k=2).train(train)
    ir, vis = _pair(6)
    out = net(ir, vis)
    for key in ("gates_fg", "gates_bg", "gates_global"):
        g = out[key]
        assert ((g > 0).sum(1) == 2).all(), key
        torch.testing.assert_close(g.sum(1), torch.ones(6))


def test_top_1_and_no_noise_switch():
    net = MoEFusion(**TINY, top_k=1, gate_noise=False).train()
    assert net.mole_fg is not None and all(r.w_noise is None for r in net.mole_fg.routers)
    out = net(*_pair(3))
    assert ((out["gates_global"] > 0).sum(1) == 1).all()


def test_local_experts_are_modality_specific():
    """Experts 1..N/2 read only the visible features, N/2+1..N only the infrared ones."""
    net = MoEFusion(**TINY, num_experts=4)
    assert net.mole_fg is not None
    x = torch.rand(2, 2, 4, 8, 8)
    for i, expert in enumerate(net.mole_fg.experts):
        modality = 0 if i < 2 else 1
        assert expert.modality == modality
        y = expert(x)
        x2 = x.clone()
        x2[:, 1 - modality] = torch.rand_like(x2[:, 1 - modality])  # change the other modality only
        torch.testing.assert_close(expert(x2), y)
        x3 = x.clone()
        x3[:, modality] += 1.0
        assert not torch.allclose(expert(x3), y)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    net = MoEFusion(**TINY).train()
    ir, vis = _pair(4, 24, 24)
    batch = {"ir": ir, "vis": vis[:, :1]}
    for _ in range(6):  # routing is per image and sparse: a few noisy steps select every expert
        losses = net.training_losses(batch, net(ir, vis[:, :1]), "fusion", {})
        losses["total"].backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing
    zero = [n for n, p in net.named_parameters() if float(p.grad.abs().sum()) == 0.0]
    assert not zero


@pytest.mark.parametrize("variant", [dict(local="none"), dict(local="att-local"), dict(moge=False), dict(attention="ir-prior"), dict(attention="none")])
def test_ablation_switches(variant):
    net = MoEFusion(**{**TINY, **variant}).train()
    ir, vis = _pair(2, 16, 20)
    out = net(ir, vis)
    assert out["fused"].shape == (2, 1, 16, 20)
    losses = net.training_losses({"ir": ir, "vis": vis}, out, "fusion", {})
    losses["total"].backward()
    if variant.get("local") in ("none", "att-local"):
        assert "gates_fg" not in out and float(out["load_fg"]) == 0.0
    if variant.get("moge") is False:
        assert "gates_global" not in out
    if variant.get("attention") == "none":
        assert float(out["att"].max()) == 0.0
    if variant.get("attention") in ("ir-prior", "none"):
        assert float(losses["attention"]) == 0.0


def test_box_attention_plugin():
    net = MoEFusion(**TINY).eval()
    ir, vis = _pair(2, 20, 30)
    boxes = [[(2, 3, 10, 12)], [(0, 0, 5, 5), (20.5, 10, 40, 40)]]
    expected = torch.zeros(2, 1, 20, 30)
    expected[0, 0, 3:12, 2:10] = 1
    expected[1, 0, 0:5, 0:5] = 1
    expected[1, 0, 10:20, 20:30] = 1  # clipped to the image, fractional x1 rounded outwards
    torch.testing.assert_close(boxes_to_mask(boxes, (20, 30)), expected)
    with torch.no_grad():
        via_kwarg = net(ir, vis, boxes=boxes)
        net.set_attention_source(BoxAttention(boxes))
        via_source = net(ir, vis)
        net.set_attention_source(CallableAttention(lambda a, b: boxes, name="my-detector"))
        via_callable = net(ir, vis)
    for out in (via_kwarg, via_source, via_callable):
        torch.testing.assert_close(out["att"], expected)
    torch.testing.assert_close(via_kwarg["fused"], via_source["fused"])
    assert net.describe(via_callable)["attention"]["source"] == "my-detector"
    # a map-returning callable and an external att tensor
    net.set_attention_source(CallableAttention(lambda a, b: expected))
    torch.testing.assert_close(net(ir, vis)["att"], expected)
    torch.testing.assert_close(net(ir, vis, att=expected)["att"], expected)
    # the attention changes what the foreground / background mixtures see, hence the result
    assert not torch.allclose(net(ir, vis, att=torch.zeros_like(expected))["fused"], via_kwarg["fused"])
    # the trained learned head comes back by name
    net2 = MoEFusion(**TINY).eval()
    learned = net2.attention
    net2.set_attention_source("none")
    assert not any(k.startswith("attention.") for k in net2.state_dict())
    net2.set_attention_source("learned")
    assert net2.attention is learned
    with pytest.raises(InputError, match="box lists"):
        net.set_attention_source(BoxAttention([[]]))
        net(ir, vis)


def test_pixel_loss_uses_box_mask():
    ir = torch.tensor([[0.2, 0.8], [0.6, 0.1]]).view(1, 1, 2, 2)
    vis = torch.tensor([[0.4, 0.2], [0.6, 0.5]]).view(1, 1, 2, 2)
    mask = torch.tensor([[1.0, 1.0], [0.0, 0.0]]).view(1, 1, 2, 2)
    target = torch.where(mask > 0, torch.maximum(ir, vis), (ir + vis) / 2)
    terms = moefusion_losses(target, ir, vis, mask)
    assert float(terms["pixel"]) == pytest.approx(0.0, abs=1e-7)
    off = moefusion_losses(target + 0.1, ir, vis, mask)
    assert float(off["pixel"]) == pytest.approx(0.1, abs=1e-6)
    # gradient loss: max of the source gradients is met by a fused image that equals the sharper source
    flat = torch.full((1, 1, 8, 8), 0.5)
    edge = flat.clone()
    edge[..., 4:] = 0.9
    assert float(moefusion_losses(edge, edge, flat, torch.zeros_like(flat))["gradient"]) == pytest.approx(0.0, abs=1e-7)
    assert float(moefusion_losses(flat, edge, flat, torch.zeros_like(flat))["gradient"]) > 0.05
    # training_losses takes the box mask from the batch (the paper's GT-box pixel loss)
    net = MoEFusion(**TINY, attention="none")
    x_ir, x_vis = _pair(1, 12, 12)
    out = net(x_ir, x_vis)
    box = [[(0, 0, 6, 12)]]
    with_boxes = net.training_losses({"ir": x_ir, "vis": x_vis, "boxes": box}, out, "fusion", {})
    m = boxes_to_mask(box, (12, 12))
    ref = moefusion_losses(out["fused"], x_ir, rgb_luma(x_vis), m)
    torch.testing.assert_close(with_boxes["pixel"], ref["pixel"])
    with pytest.raises(InputError, match="unknown loss weight"):
        net.training_losses({"ir": x_ir, "vis": x_vis}, out, "fusion", {"intensity": 1.0})


def rgb_luma(x: torch.Tensor) -> torch.Tensor:
    return 0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]


def test_contrast_prior_marks_hot_blob():
    x = torch.full((1, 1, 96, 128), 0.2)
    x[..., 40:56, 60:72] = 0.9  # a warm 16x12 object
    p = contrast_prior(x)
    assert p.shape == x.shape and float(p.min()) >= 0 and float(p.max()) <= 1
    assert float(p[..., 44:52, 63:69].mean()) > 0.8
    assert float(p[..., :16, :16].max()) < 0.05
    flat = contrast_prior(torch.full((1, 1, 40, 40), 0.5))
    assert float(flat.max()) == 0.0
    # low contrast is not normalised up to full saliency (min_contrast)
    faint = torch.full((1, 1, 96, 128), 0.2)
    faint[..., 40:56, 60:72] = 0.22
    assert float(contrast_prior(faint).max()) < 0.3


def test_learned_attention_learns_prior():
    """The label-free auxiliary head is trained towards the thermal prior (BCE decreases)."""
    torch.manual_seed(0)
    head = LearnedAttention(channels=8)
    opt = torch.optim.Adam(head.parameters(), 1e-2)
    ir = torch.full((4, 1, 48, 48), 0.2)
    for b in range(4):
        ir[b, :, 8 * b : 8 * b + 12, 10:22] = 0.9
    target = contrast_prior(ir)
    losses = []
    for _ in range(40):
        a_i, _ = head(ir, ir, {})
        loss = torch.nn.functional.binary_cross_entropy(a_i.clamp(1e-6, 1 - 1e-6), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0]


def test_paper_config_builds_and_runs():
    """The paper's sizes: gates dominate (D = 614,400 / 768,000 at 640x480); forward on a small input."""
    net = MoEFusion().eval()
    gate_params = sum(p.numel() for n, p in net.named_parameters() if "routers" in n)
    assert gate_params == 2 * (32 * 120 * 160 * 4 * 2) + 160 * 60 * 80 * 4 * 2
    assert net.mole_fg is not None and len(net.mole_fg.experts) == 4 and net.mole_fg.k == 2
    assert [m.out_channels for m in net.moge.experts[0] if isinstance(m, torch.nn.Conv2d)] == [64, 32, 16, 1]
    ir, vis = _pair(1, 48, 64)
    with torch.no_grad():
        out = net(ir, vis)
    assert out["fused"].shape == (1, 1, 48, 64)


def test_paper_and_small_configs_load():
    from mmfuse.train.config import load_config

    for name in ("moefusion-paper", "moefusion-small"):
        cfg = load_config(ROOT / "configs" / f"{name}.yaml")
        net = MoEFusion(**cfg.arch_kwargs)
        assert cfg.arch == "moefusion" and net.num_experts == 4 and net.top_k == 2


# --------------------------------------------------------------------------- shipped weights

needs_weights = pytest.mark.skipif(
    not bundled_weights_path("moefusion-small.safetensors").is_file(), reason="moefusion-small weights not shipped yet"
)


@needs_weights
def test_shipped_weights_fuse_real_test_pair(ivif_dir):
    import mmfuse

    ir = read_image(ivif_dir / "ir" / "FLIR_04722.jpg")
    vi = read_image(ivif_dir / "vi" / "FLIR_04722.jpg")
    method = mmfuse.load("moefusion-small")
    fused, info = method.fuse(ir, vi, return_info=True)
    assert fused.shape == vi.shape and fused.dtype == np.float32
    assert np.isfinite(fused).all() and fused.min() >= 0 and fused.max() <= 1
    y = rgb_to_ycbcr(fused)[..., 0]
    vy = rgb_to_ycbcr(vi)[..., 0]
    # a real fusion: clearly closer to each source than the other source is (IR and VIS are
    # anti-correlated in this pair), and equal to neither
    c = lambda a, b: np.corrcoef(a.ravel(), b.ravel())[0, 1]  # noqa: E731
    assert c(y, ir) > c(vy, ir) + 0.3 and c(y, vy) > c(ir, vy) + 0.3
    assert np.abs(y - ir).mean() > 0.01 and np.abs(y - vy).mean() > 0.01
    # chroma comes from the visible image
    np.testing.assert_allclose(rgb_to_ycbcr(fused)[..., 1:], rgb_to_ycbcr(vi)[..., 1:], atol=0.02)
    assert info["method"] == "moefusion-small"
    for part in ("fg", "bg", "global"):
        assert len(info["experts"][part]["selected"]) == 2
    assert 0.0 <= info["attention"]["foreground_fraction"] <= 1.0


@needs_weights
def test_cli_fuse_with_shipped_weights(cli, ivif_dir, tmp_path):
    """``mmfuse fuse --method moefusion-small`` in a subprocess (``python -m mmfuse``, PYTHONPATH=src)."""
    run_cli = cli
    out = tmp_path / "fused.png"
    res = run_cli("fuse", ivif_dir / "ir" / "FLIR_00455.jpg", ivif_dir / "vi" / "FLIR_00455.jpg", "-o", out, "--method", "moefusion-small", "--report")
    assert res.returncode == 0, res.stderr
    fused = read_image(out)
    assert fused.shape == read_image(ivif_dir / "vi" / "FLIR_00455.jpg").shape
    assert "experts:" in res.stdout and '"fg"' in res.stdout and "attention:" in res.stdout
    bad = run_cli("fuse", ivif_dir / "ir" / "FLIR_00455.jpg", tmp_path / "missing.png", "-o", tmp_path / "x.png", "--method", "moefusion-small")
    assert bad.returncode == 2 and bad.stderr.startswith("error:")
