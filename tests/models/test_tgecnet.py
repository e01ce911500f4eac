"""Tests of TG-ECNet (mmfuse.models.tgecnet): architecture, stages, gating, report, shipped weights."""
from __future__ import annotations

import json
import math
from pathlib import Path

import kornia
import numpy as np
import pytest
import torch
import yaml

from mmfuse.degrade import apply_setting, load_preset
from mmfuse.errors import InputError
from mmfuse.io import read_image, rgb_to_ycbcr
from mmfuse.models.base import TorchFusionMethod
from mmfuse.models.tgecnet import (
    DEGRADATION_NAMES,
    NOISE_LEVELS,
    TaskMoE,
    TGECNet,
    grow_state_dict,
    probe_probabilities,
    setting_from_probs,
    setting_labels,
)

ROOT = Path(__file__).resolve().parents[2]

TINY = dict(
    dim=8,
    num_blocks=[1, 1, 1, 1],
    num_refinement_blocks=1,
    heads=[1, 2, 2, 4],
    stem_stride=2,
    num_experts=4,
    top_k=2,
    expert_ffn=1.0,
    atom_num=4,
    atom_dim=16,
    prompt_hidden=8,
    prompt_cond=8,
    prompt_dims=[8, 8, 16],
    prompt_len=2,
    prompt_sizes=[8, 4, 4],
    fusion_blocks=1,
    chroma_head=True,
    chroma_width=8,
    degradation_probe=True,
)


pytestmark = pytest.mark.usefixtures("one_thread")


def _batch(b: int = 2, size: int = 32, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    vis_c = torch.rand(b, 3, size, size, generator=g)
    ir_c = torch.rand(b, 1, size, size, generator=g)
    return {
        "ir": (ir_c + 0.1 * torch.randn(ir_c.shape, generator=g)).clamp(0, 1),
        "vis": (vis_c + 0.1 * torch.randn(vis_c.shape, generator=g)).clamp(0, 1),
        "ir_clean": ir_c,
        "vis_clean": vis_c,
        "vis_label": torch.tensor([[3, 1, 0, 0]] * b),
        "ir_label": torch.tensor([[0, 0, 0, 1]] * b),
    }


def test_paper_config_parameter_count() -> None:
    """tgecnet-paper: 40,000,426 parameters = the spec's 40,215,722 minus PromptIR's 215,296 unused convs."""
    cfg = yaml.safe_load((ROOT / "configs" / "tgecnet-paper.yaml").read_text())
    kwargs = {k: v for k, v in cfg["model"].items() if k != "name"}
    net = TGECNet(**kwargs)
    total = sum(p.numel() for p in net.parameters())
    fusion = sum(p.numel() for _, p in net.fusion_parameters())
    assert total == 40_000_426
    assert total + 215_296 == 40_215_722  # spec §2.8 count includes chnl_reduce1-3 + reduce_noise_channel_1-3
    assert fusion == 1_627_279  # spec §7.5: trainable in stage 2 at full scale
    # per-expert size at C = 48 (spec §2.4: 12,367 incl. biases)
    expert = net.degrad_moe["1"].moe.experts[0]
    assert sum(p.numel() for p in expert.parameters()) == 12_367


def test_paper_config_forward_cpu() -> None:
    cfg = yaml.safe_load((ROOT / "configs" / "tgecnet-paper.yaml").read_text())
    net = TGECNet(**{k: v for k, v in cfg["model"].items() if k != "name"}).eval()
    with torch.inference_mode():
        out = net(torch.rand(1, 1, 64, 64), torch.rand(1, 1, 64, 64))
    assert out["fused"].shape == (1, 1, 64, 64)
    assert torch.isfinite(out["fused"]).all()


def test_small_config_mac_budget() -> None:
    """tgecnet-small stays near the issue's budget of about 5 GMAC per 640x480 pair when the probe
    sees none of the degradations its gated experts handle and the haze expert sees no haze (they
    are then not run, except the haze expert's coarse-grid head on the visible image, 0.04 GMAC); each expert that runs
    adds its own cost (counted on a 160x128 pair, x15 pixels; MACs scale linearly with the area
    except the image-level prompt/probe heads)."""
    from torch.utils.flop_counter import FlopCounterMode

    cfg = yaml.safe_load((ROOT / "configs" / "tgecnet-small.yaml").read_text())
    net = TGECNet(**{k: v for k, v in cfg["model"].items() if k != "name"}).eval()
    blocks, widths = cfg["model"]["probe_expert_blocks"], cfg["model"]["probe_experts"]

    def gmac() -> float:
        counter = FlopCounterMode(display=False)
        rows = lambda c: torch.rand(1, c, 128, 1).expand(-1, -1, -1, 160).contiguous()  # noqa: E731 (no column structure: the stripe expert's column gate stays shut)
        with torch.inference_mode(), counter:
            net(rows(1), rows(3))
        return counter.get_total_flops() / 2e9 * (640 * 480) / (160 * 128)

    for name in net.probe_experts:
        _set_probe_logit(net, name, -10.0)
    base = gmac()  # fresh haze expert: gain 1, not applied
    assert 1.0 < base < 5.35
    for name in net.probe_experts:  # every expert on for both images: the worst case
        _set_probe_logit(net, name, 10.0)
    extra = gmac() - base
    # per image and expert at H/2, width w: 0.35 (w/16)^2 GMAC per residual block + < 0.3 (w/16) for its in/out convolutions
    scale = {k: widths[k] / 16 for k in net.probe_experts}
    blocks_cost = sum(0.35 * blocks[k] * scale[k] ** 2 for k in net.probe_experts)
    assert blocks_cost < extra / 2 < blocks_cost + 0.3 * sum(scale.values())
    with torch.no_grad():
        net.haze_expert.head[-1].bias[0] = 1.0  # contrast gain e on both images: applied
    extra_haze = gmac() - base - extra  # its correction block (one residual block at H/2), visible image only
    assert 0.35 < extra_haze < 0.65


def test_detail_refine_starts_as_identity_and_learns() -> None:
    """The half-resolution refinement (mmfuse option) adds nothing at initialisation (zero last
    conv), so weights trained without it keep their restoration; it then receives gradients.
    It needs a pixel-unshuffle stem."""
    torch.manual_seed(0)
    base = TGECNet(**TINY).eval()
    grown = TGECNet(**TINY, detail_refine=8).eval()
    missing, unexpected = grown.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("detail_refine.") for k in missing)
    img = torch.rand(2, 1, 32, 48)
    with torch.no_grad():
        assert torch.allclose(grown.restore(img)["restored"], base.restore(img)["restored"], atol=1e-6)
    grown.train()
    grown.restore(img)["restored"].square().mean().backward()
    assert grown.detail_refine.out[0].weight.grad.abs().sum() > 0
    with pytest.raises(InputError, match="detail_refine"):
        TGECNet(**{**TINY, "stem_stride": 1}, detail_refine=8)


def test_fusion_refine_starts_as_average_and_reports_weight() -> None:
    """The half-resolution fusion head (mmfuse option) starts as the pixel average of the restored
    sources (zero last conv: w = 0.5, c = 0) whatever the coarse fusion gives, keeps the fused image
    a convex combination plus a correction, learns, and reports the mean visible weight."""
    torch.manual_seed(3)
    net = TGECNet(**TINY, fusion_refine=8).eval()
    ir, vis = torch.rand(2, 1, 32, 48), torch.rand(2, 3, 32, 48)
    with torch.no_grad():
        out = net(ir, vis)
    assert torch.allclose(out["fused_y"], 0.5 * (out["restored_vis"] + out["restored_ir"]), atol=1e-6)
    assert out["weight_vis"].shape == (2, 1, 32, 48) and torch.allclose(out["weight_vis"], torch.full_like(out["weight_vis"], 0.5))
    assert net.describe(out)["visible_weight"] == 0.5
    # a trained head: the weight map varies from pixel to pixel, strictly inside (0, 1)
    with torch.no_grad():
        net.fusion_refine.out[0].weight.normal_(0, 0.5)
        out = net(ir, vis)
    w = out["weight_vis"]
    assert 0 < float(w.min()) < float(w.max()) < 1 and float(w.std()) > 0.01
    assert net.is_fusion_param("fusion_refine.out.0.weight")
    net.train()
    net(ir, vis)["fused_y"].square().mean().backward()
    assert net.fusion_refine.inp.weight.grad.abs().sum() > 0
    with pytest.raises(InputError, match="fusion_refine"):
        TGECNet(**{**TINY, "stem_stride": 1}, fusion_refine=8)


def test_fusion_condition_film_on_probe_probabilities() -> None:
    """``fusion_condition`` (mmfuse option): the fusion head's hidden features are scaled and shifted
    per image from the probe's probabilities of both inputs. It starts as the unconditioned head
    (zero last layer), then the fused image depends on what the probe says, image by image; the
    conditioning MLP is a stage-2 parameter and gets gradients."""
    torch.manual_seed(4)
    plain = TGECNet(**TINY, fusion_refine=8).eval()
    net = TGECNet(**TINY, fusion_refine=8, fusion_condition=8).eval()
    missing, unexpected = net.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("fusion_refine.cond.") for k in missing)
    with torch.no_grad():
        plain.fusion_refine.out[0].weight.normal_(0, 0.5)
        net.fusion_refine.out[0].weight.copy_(plain.fusion_refine.out[0].weight)
    ir, vis = torch.rand(2, 1, 32, 48), torch.rand(2, 3, 32, 48)
    with torch.no_grad():
        assert torch.allclose(net(ir, vis)["fused_y"], plain(ir, vis)["fused_y"], atol=1e-6)
        net.fusion_refine.cond[2].weight.normal_(0, 0.5)
        before = net(ir, vis)["fused_y"]
        _set_probe_logit(net, "defocus", 6.0)
        after = net(ir, vis)["fused_y"]
        plain_after = plain(ir, vis)["fused_y"]
    assert float((after - before).abs().max()) > 1e-3
    # the unconditioned head ignores the probe (the restoration does not change: no probe experts)
    with torch.no_grad():
        _set_probe_logit(plain, "defocus", -6.0)
        assert torch.allclose(plain(ir, vis)["fused_y"], plain_after, atol=1e-6)
    probs = probe_probabilities(torch.tensor([[0.0, 1.0, 2.0, 3.0, 0.0, 10.0, -10.0]]))
    assert torch.allclose(probs[0, :4].sum(), torch.tensor(1.0)) and probs[0, 4] == 0.5 and probs[0, 5] > 0.99 > 0.01 > probs[0, 6]
    assert net.is_fusion_param("fusion_refine.cond.2.weight")
    net.train()
    net(ir, vis)["fused_y"].square().mean().backward()
    assert net.fusion_refine.cond[0].weight.grad.abs().sum() > 0
    with pytest.raises(InputError, match="fusion_condition"):
        TGECNet(**TINY, fusion_condition=8)
    with pytest.raises(InputError, match="conditioning vector"):
        net.fusion_refine.maps(torch.rand(1, 3, 32, 32), torch.rand(1, 8, 16, 16))


def test_fusion_detail_sigma_mixes_base_and_detail_separately() -> None:
    """``fusion_detail_sigma`` (mmfuse option): the fusion head splits both sources into a Gaussian
    base and a detail layer with their own weights. Its extra map starts at zero, so the head
    equals the one-weight head (whose trained weights load into it after padding the last
    convolution); once that map moves, the detail follows ``w_d`` while the base keeps ``w``."""
    torch.manual_seed(5)
    one = TGECNet(**TINY, fusion_refine=8).eval()
    two = TGECNet(**TINY, fusion_refine=8, fusion_detail_sigma=2.0).eval()
    with torch.no_grad():
        one.fusion_refine.out[0].weight.normal_(0, 0.5)
    state = {k: v.clone() for k, v in one.state_dict().items()}
    for k in ("fusion_refine.out.0.weight", "fusion_refine.out.0.bias"):
        state[k] = torch.cat([state[k], torch.zeros_like(state[k][:4])], 0)
    two.load_state_dict(state)
    ir, vis = torch.rand(2, 1, 32, 48), torch.rand(2, 3, 32, 48)
    with torch.no_grad():
        out_one, out_two = one(ir, vis), two(ir, vis)
        assert torch.allclose(out_two["fused_y"], out_one["fused_y"], atol=1e-5)
        # a large positive detail logit: the detail comes from the visible image alone, the base
        # still from the w-weighted mix
        two.fusion_refine.out[0].bias[8:].fill_(30.0)
        fused = two(ir, vis)["fused_y"]
    head = two.fusion_refine
    w = out_two["weight_vis"]
    v, i = out_two["restored_vis"], out_two["restored_ir"]
    blur = lambda x: kornia.filters.gaussian_blur2d(x, (13, 13), (2.0, 2.0), border_type="reflect")  # noqa: E731
    corr = out_one["fused_y"] - (w * v + (1 - w) * i)
    expected = w * blur(v) + (1 - w) * blur(i) + (v - blur(v)) + corr
    assert torch.allclose(fused, expected, atol=1e-4)
    assert head.detail_sigma == 2.0 and head.out[0].out_channels == 12
    with pytest.raises(InputError, match="fusion_detail_sigma needs fusion_refine"):
        TGECNet(**TINY, fusion_detail_sigma=2.0)
    with pytest.raises(InputError, match="fusion_detail_sigma must be"):
        TGECNet(**TINY, fusion_refine=8, fusion_detail_sigma=-1.0)


def _set_probe_logit(net: TGECNet, name: str, value: float) -> None:
    """Make the (linear) probe output ``value`` as the logit of ``name`` (haze/defocus/stripe) for
    every image; for ``noise``, ``value`` as the log-odds of any noise (the "none" logit ``-value``,
    the three levels 0, so the odds are ``value + log 3``)."""
    with torch.no_grad():
        rows = range(len(NOISE_LEVELS)) if name == "noise" else [len(NOISE_LEVELS) + ("haze", "defocus", "stripe").index(name)]
        for row in rows:
            net.probe.weight[row].zero_()
            net.probe.bias[row] = -value if row == 0 and name == "noise" else (0.0 if name == "noise" else value)


def test_probe_experts_are_gated_by_the_probe() -> None:
    """Probe-gated experts (mmfuse option) add nothing at initialisation; once trained, each
    expert's correction is weighted, image by image, by its gate (a learnt function of the probe's
    logit of its degradation), so an image the probe calls free of it keeps the restoration of the
    network without the expert (and the expert is not run for it at inference). Gates are
    detached from the probe; the gate's slope and offset learn with the expert."""
    torch.manual_seed(4)
    base = TGECNet(**TINY, detail_refine=8).eval()
    net = TGECNet(**TINY, detail_refine=8, probe_experts={"defocus": 8, "stripe": 4}).eval()
    missing, unexpected = net.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("probe_experts.") for k in missing)
    assert list(net.probe_experts) == ["defocus", "stripe"]
    img = torch.rand(3, 1, 32, 48)
    with torch.no_grad():
        assert torch.allclose(net.restore(img)["restored"], base.restore(img)["restored"], atol=1e-6)
        for expert in net.probe_experts.values():
            expert.body.out[0].weight.normal_(0, 0.3)
        ref = base.restore(img)["restored"]
        _set_probe_logit(net, "defocus", -10.0)  # gates 4.5e-5 < skip threshold -> exactly the base
        _set_probe_logit(net, "stripe", -10.0)
        out = net.restore(img)
        assert all(torch.equal(g, torch.zeros(3)) for g in out["expert_gates"].values())
        assert torch.allclose(out["restored"], ref, atol=1e-6)
        _set_probe_logit(net, "defocus", 10.0)  # blurred: gate ~1 -> a real correction
        out = net.restore(img)
        assert float((out["restored"] - ref).abs().mean()) > 1e-3
        full = out["restored"]
        # per-image gating: a batch mixing sharp and blurred images gives each its own result
        feat, aux = net.restore_features(img)
        aux["probe"] = torch.zeros(3, net.probe.out_features)
        aux["probe"][:, len(NOISE_LEVELS) + 1] = torch.tensor([10.0, -10.0, 10.0])
        aux["probe"][:, len(NOISE_LEVELS) + 2] = -10.0
        mixed = net.restoration_head(feat, img, aux)
        assert torch.allclose(mixed[[0, 2]], full[[0, 2]], atol=1e-5) and torch.allclose(mixed[1], ref[1], atol=1e-6)
        on = float(torch.sigmoid(torch.tensor(10.0)))
        assert torch.allclose(aux["expert_gates"]["defocus"], torch.tensor([on, 0.0, on]))
        _set_probe_logit(net, "stripe", 10.0)  # both experts on: a different result again
        assert float((net.restore(img)["restored"] - full).abs().mean()) > 1e-4
        fused = net(torch.rand(1, 1, 32, 32), torch.rand(1, 3, 32, 32))
    report = net.describe(fused)["probe_experts"]
    assert set(report) == {"defocus", "stripe"} and report["defocus"]["visible"] > 0.99 and report["stripe"]["infrared"] > 0.99
    net.train()
    net.restore(img)["restored"].square().mean().backward()
    for e in net.probe_experts.values():  # the expert and its gate's slope and offset learn
        assert e.body.inp.weight.grad.abs().sum() > 0 and e.gate_slope.grad.abs() > 0 and e.gate_offset.grad.abs() > 0
    assert net.probe.weight.grad is None or net.probe.weight.grad.abs().sum() == 0  # gates detached
    with torch.no_grad():
        _set_probe_logit(net, "defocus", -10.0)
        assert float(net.restore(img)["expert_gates"]["defocus"].min()) > 0  # training the expert: raw gates
        net.probe_experts.eval()  # frozen while the rest trains (stage 2, frozen_eval): skipped as at inference
        assert torch.equal(net.restore(img)["expert_gates"]["defocus"], torch.zeros(3))
    with pytest.raises(InputError, match="probe_experts"):
        TGECNet(**{**TINY, "degradation_probe": False}, detail_refine=8, probe_experts={"defocus": 8})
    with pytest.raises(InputError, match="probe_experts"):
        TGECNet(**TINY, detail_refine=8, probe_experts={"blur": 8})


def test_noise_expert_gated_by_noise_odds_and_conditioned_on_the_probe() -> None:
    """The ``noise`` probe-gated expert opens on the probe's log-odds of any noise level
    (``logsumexp`` of the three noise logits minus the "none" logit), runs before the other
    experts, can have its own depth (``probe_expert_blocks`` as a map) and, with
    ``probe_expert_condition``, is FiLM-conditioned on the probe's probabilities: the same image
    gets a different correction when the probe names another noise level."""
    torch.manual_seed(5)
    net = TGECNet(
        **TINY, detail_refine=8, probe_experts={"defocus": 8, "noise": 8},
        probe_expert_blocks={"noise": 3}, probe_expert_condition=["noise"],
    ).eval()
    assert list(net.probe_experts) == ["noise", "defocus"]  # denoise first, then deconvolve
    assert len(net.probe_experts["noise"].body.body) == 3 and len(net.probe_experts["defocus"].body.body) == 1
    assert net.probe_experts["noise"].body.cond is not None and net.probe_experts["defocus"].body.cond is None
    n = len(NOISE_LEVELS)
    probe = torch.zeros(3, net.probe.out_features)
    probe[:, :n] = torch.tensor([[0.0, 2.0, -1.0, 0.5], [6.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    expected = torch.sigmoid(torch.logsumexp(probe[:, 1:n], 1) - probe[:, 0])
    assert float(expected[1]) < 0.02  # 0.90, 0.0074, 0.75: the second is below the skip threshold
    assert torch.allclose(net.expert_gate("noise", probe), expected * torch.tensor([1.0, 0.0, 1.0]))
    img = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        for module in (net.probe_experts["noise"].body.out[0], net.probe_experts["noise"].body.cond[2]):
            module.weight.normal_(0, 0.3)
        feat, aux = net.restore_features(img)
        r = net.refinement(feat)
        outs = []
        for level in (1, 3):  # sigma 15 vs sigma 50 named, the same gate (~1)
            aux["probe"] = torch.full((2, net.probe.out_features), -10.0)
            aux["probe"][:, level] = 10.0
            outs.append(net.restoration_head(feat, img, aux))
            assert torch.allclose(aux["expert_gates"]["noise"], torch.ones(2), atol=1e-4)
        assert float((outs[0] - outs[1]).abs().mean()) > 1e-4
        aux["probe"][:, 0] = 20.0  # no noise: the expert is skipped
        clean = net.restoration_head(feat, img, aux)
        assert torch.equal(aux["expert_gates"]["noise"], torch.zeros(2))
        assert torch.allclose(clean, net.detail_refine(img, net.output(r) + img, r), atol=1e-6)
        with pytest.raises(InputError, match="conditioning"):
            net.probe_experts["noise"].maps(torch.cat([img, img], 1), r)  # a conditioned expert needs its vector
    with pytest.raises(InputError, match="probe_expert_blocks"):
        TGECNet(**TINY, detail_refine=8, probe_experts={"noise": 8}, probe_expert_blocks={"stripe": 2})
    with pytest.raises(InputError, match="probe_expert_condition"):
        TGECNet(**TINY, detail_refine=8, probe_experts={"noise": 8}, probe_expert_condition=["defocus"])


def test_deconv_defocus_expert_starts_from_wiener() -> None:
    """With ``probe_expert_deconv`` the defocus expert adds nothing in a fresh model (gain 0, so
    the stages that freeze it are unaffected); with gain 1 its correction (conv block still zero)
    is the Wiener–Hunt deconvolution (radius estimated per image) minus the coarse restoration;
    the estimated radius is reported where the expert ran; gain and regularisation weight learn."""
    from mmfuse.nn.deconv import disk_wiener
    from mmfuse.restore import estimate_defocus_radius

    torch.manual_seed(5)
    net = TGECNet(**TINY, detail_refine=8, probe_experts={"defocus": 8, "stripe": 4}, probe_expert_deconv=["defocus"]).eval()
    expert = net.probe_experts["defocus"]
    assert expert.deconv and not net.probe_experts["stripe"].deconv
    img = torch.rand(2, 1, 48, 64)
    with torch.no_grad():
        feat, aux = net.restore_features(img)
        coarse = net.detail_refine(img, net.output(net.refinement(feat)) + img, net.refinement(feat))
        radii = [estimate_defocus_radius(coarse[i, 0].clamp(0, 1).numpy()) for i in range(2)]
        assert torch.equal(expert.maps(torch.cat([img, coarse], 1), net.refinement(feat)), torch.zeros_like(coarse))
        expert.deconv_gain.fill_(1.0 / expert.GATE_GAIN)
        corr = expert.maps(torch.cat([img, coarse], 1), net.refinement(feat))
        torch.testing.assert_close(corr, disk_wiener(coarse, radii, 0.012) - coarse, atol=1e-5, rtol=0)
        _set_probe_logit(net, "defocus", 10.0)
        _set_probe_logit(net, "stripe", -10.0)
        out = net.restore(img)
        assert out["blur_radius"] == radii
        g = float(out["expert_gates"]["defocus"][0])
        torch.testing.assert_close(out["restored"], coarse + g * corr, atol=1e-5, rtol=0)
        fused = net(torch.rand(1, 1, 32, 32), torch.rand(1, 3, 32, 32))
        assert set(net.describe(fused)["blur_radius_px"]) == {"visible", "infrared"}
        _set_probe_logit(net, "defocus", -10.0)  # gate closed: not run, nothing reported
        assert "blur_radius" not in net.restore(img)
    net.train()
    _set_probe_logit(net, "defocus", 10.0)
    net.restore(img)["restored"].square().mean().backward()
    assert expert.log_balance.grad.abs() > 0 and expert.deconv_gain.grad.abs() > 0
    assert expert.body.out[0].weight.grad.abs().sum() > 0  # (inp: zero while out is)
    for bad in (["stripe"], ["haze"]):
        with pytest.raises(InputError, match="probe_expert_deconv"):
            TGECNet(**TINY, detail_refine=8, probe_experts={"defocus": 8, "stripe": 4}, probe_expert_deconv=bad)
    with pytest.raises(InputError, match="probe_expert_deconv"):
        TGECNet(**TINY, detail_refine=8, probe_experts={"stripe": 4}, probe_expert_deconv=["defocus"])


def test_deconv_prior_tv_puts_a_tv_deconvolution_in_front_of_the_defocus_expert() -> None:
    """``probe_expert_deconv_prior="tv"``: with gain 1 and the block still zero the correction is
    the total-variation deconvolution (learnt weight, initialised at ``TV_WEIGHT_INIT``) minus the
    coarse restoration; the weight learns; bad combinations are refused."""
    from mmfuse.nn.deconv import disk_tv
    from mmfuse.restore import estimate_defocus_radius

    torch.manual_seed(5)
    kw = dict(**TINY, detail_refine=8, probe_experts={"defocus": 8}, probe_expert_deconv=["defocus"])
    net = TGECNet(**kw, probe_expert_deconv_prior="tv").eval()
    expert = net.probe_experts["defocus"]
    assert expert.deconv_prior == "tv" and float(expert.log_balance.detach().exp()) == pytest.approx(expert.TV_WEIGHT_INIT)
    img = torch.rand(2, 1, 48, 64)
    with torch.no_grad():
        feat, _ = net.restore_features(img)
        coarse = net.detail_refine(img, net.output(net.refinement(feat)) + img, net.refinement(feat))
        radii = [estimate_defocus_radius(coarse[i, 0].clamp(0, 1).numpy()) for i in range(2)]
        expert.deconv_gain.fill_(1.0 / expert.GATE_GAIN)
        corr = expert.maps(torch.cat([img, coarse], 1), net.refinement(feat))
        lam = expert.log_balance.exp().squeeze(0)  # float32 exp(log(5e-4)); the iterations amplify rounding a little
        torch.testing.assert_close(corr, disk_tv(coarse, radii, lam) - coarse, atol=1e-5, rtol=0)
    net.train()
    _set_probe_logit(net, "defocus", 10.0)
    net.restore(img)["restored"].square().mean().backward()
    assert expert.log_balance.grad.abs() > 0 and expert.deconv_gain.grad.abs() > 0
    with pytest.raises(InputError, match="deconv_prior must be"):
        TGECNet(**kw, probe_expert_deconv_prior="l0")
    with pytest.raises(InputError, match="needs deconv_prior 'laplacian'"):
        TGECNet(**kw, probe_expert_deconv_prior="tv", probe_expert_deconv_bank=[0.25])


def test_deconv_bank_feeds_the_defocus_expert_several_balances(monkeypatch) -> None:
    """``probe_expert_deconv_bank`` gives the defocus expert's body the deconvolutions with
    ``m_j·λ`` besides the one with the learnt ``λ``; the direct term ``G·k·(wiener − coarse)``
    still uses the learnt ``λ`` alone, so a bank expert with a zero body corrects exactly like the
    plain deconvolving expert."""
    from mmfuse.nn.deconv import disk_wiener

    torch.manual_seed(6)
    kw = dict(**TINY, detail_refine=8, probe_experts={"defocus": 8}, probe_expert_deconv=["defocus"])
    net = TGECNet(**kw, probe_expert_deconv_bank=[0.25, 4.0]).eval()
    plain = TGECNet(**kw).eval()
    with torch.no_grad():
        plain.probe_experts["defocus"].body.out[0].weight.normal_(0, 0.3)  # a "trained" expert
    own, grown, fresh = grow_state_dict(plain.state_dict(), net)
    assert grown == ["probe_experts.defocus.body.inp.weight"] and not fresh
    net.load_state_dict(own)
    expert = net.probe_experts["defocus"]
    assert expert.deconv_bank == (0.25, 4.0)
    assert expert.body.inp.in_channels == plain.probe_experts["defocus"].body.inp.in_channels + 8
    img, coarse = torch.rand(2, 1, 48, 64), torch.rand(2, 1, 48, 64)
    feat = torch.rand(2, net.level1_width, 48 // net.stem_stride, 64 // net.stem_stride)
    seen = {}
    body_maps = expert.body.maps

    def spy(x: torch.Tensor, f: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        seen["x"] = x
        return body_maps(x, f, cond)

    monkeypatch.setattr(expert.body, "maps", spy)
    with torch.no_grad():
        for e in (expert, plain.probe_experts["defocus"]):
            e.deconv_gain.fill_(1.0 / e.GATE_GAIN)
        radii = [2.5, 4.0]
        corr = expert.maps(torch.cat([img, coarse], 1), feat, radii)
        torch.testing.assert_close(corr, plain.probe_experts["defocus"].maps(torch.cat([img, coarse], 1), feat, radii), atol=1e-6, rtol=0)
        lam = float(expert.log_balance.exp())
        want = torch.cat([img, coarse] + [disk_wiener(coarse, radii, m * lam) for m in (1.0, 0.25, 4.0)], 1)
        torch.testing.assert_close(seen["x"][:, :5], want, atol=1e-5, rtol=0)
    with pytest.raises(InputError, match="cannot grow|shape"):
        grow_state_dict(net.state_dict(), plain)  # shrinking is not growing
    with pytest.raises(InputError, match="probe_expert_deconv_bank"):
        TGECNet(**TINY, detail_refine=8, probe_experts={"defocus": 8}, probe_expert_deconv_bank=[0.5])
    with pytest.raises(InputError, match="deconv_bank"):
        TGECNet(**kw, probe_expert_deconv_bank=[0.0])


def test_fine_stage_adds_a_full_resolution_correction() -> None:
    """``probe_expert_fine`` appends to an expert a thin full-resolution stage fed with the body's
    inputs and the corrected image; zero-initialised, it changes nothing until trained (so a model
    grown by ``grow_state_dict`` restores as before), then it adds its output to the correction."""
    torch.manual_seed(7)
    kw = dict(**TINY, detail_refine=8, probe_experts={"defocus": 8, "stripe": 4}, probe_expert_deconv=["defocus"])
    plain = TGECNet(**kw).eval()
    with torch.no_grad():
        plain.probe_experts["defocus"].body.out[0].weight.normal_(0, 0.3)
        plain.probe_experts["defocus"].deconv_gain.fill_(0.1)
    net = TGECNet(**kw, probe_expert_fine={"defocus": 4}).eval()
    own, grown, fresh = grow_state_dict(plain.state_dict(), net)
    assert not grown and fresh == [f"probe_experts.defocus.fine.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")]
    net.load_state_dict(own)
    expert = net.probe_experts["defocus"]
    assert net.probe_experts["stripe"].fine is None and expert.fine[0].in_channels == 4  # degraded, coarse, Wiener + corrected
    img, coarse = torch.rand(2, 1, 48, 64), torch.rand(2, 1, 48, 64)
    feat = torch.rand(2, net.level1_width, 48 // net.stem_stride, 64 // net.stem_stride)
    x = torch.cat([img, coarse], 1)
    with torch.no_grad():
        base = plain.probe_experts["defocus"].maps(x, feat, [3.0, 3.0])
        torch.testing.assert_close(expert.maps(x, feat, [3.0, 3.0]), base)
        expert.fine[-1].weight.normal_(0, 0.3)
        from mmfuse.nn.deconv import disk_wiener

        wiener = disk_wiener(coarse, [3.0, 3.0], expert.log_balance.exp().squeeze(0))
        want = base + expert.fine(torch.cat([img, coarse, wiener, coarse + base], 1))
        torch.testing.assert_close(expert.maps(x, feat, [3.0, 3.0]), want, atol=1e-5, rtol=0)
    with pytest.raises(InputError, match="probe_expert_fine"):
        TGECNet(**kw, probe_expert_fine={"haze": 4})


def test_haze_expert_inverts_the_scattering_model() -> None:
    """The haze expert (mmfuse option) is the identity in a fresh model (so the stages that freeze
    it are unaffected); its map ``J = exp(a)·R + b`` with ``a = −log t``, ``b = −A(1/t − 1)``
    undoes uniform haze ``R = J·t + A(1 − t)`` exactly; it reports its mean contrast gain per
    image (and haze, when it dehazed), is applied at inference -- and in the stages that keep it
    frozen in eval mode -- only above a gain of 1.05, and learns from the restoration loss."""
    torch.manual_seed(6)
    base = TGECNet(**TINY, detail_refine=8, probe_experts={"defocus": 8}).eval()
    net = TGECNet(**TINY, detail_refine=8, probe_experts={"defocus": 8}, haze_expert=8).eval()
    missing, unexpected = net.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("haze_expert.") for k in missing)
    clean = torch.rand(2, 1, 48, 64)
    t, airlight = 0.4, float(clean.mean())
    hazy = clean * t + airlight * (1 - t)
    with torch.no_grad():
        ref = base.restore(hazy)
        out = net.restore(hazy)
        torch.testing.assert_close(out["restored"], ref["restored"], atol=1e-6, rtol=0)
        torch.testing.assert_close(out["haze_gain"], torch.ones(2))
        feat, _ = net.restore_features(hazy)
        last = net.haze_expert.head[-1]
        last.bias.copy_(torch.tensor([-math.log(t), -airlight * (1 / t - 1)]))
        dehazed, gain = net.haze_expert(hazy, hazy, net.refinement(feat))
        torch.testing.assert_close(dehazed, clean, atol=1e-5, rtol=0)
        torch.testing.assert_close(gain, torch.full((2,), 1 / t))
        fused = net(torch.rand(1, 1, 32, 32), torch.rand(1, 3, 32, 32))
        ir_in = torch.rand(1, 1, 32, 32)
        both = net.restore(torch.cat([hazy[:1, :, :32, :32], ir_in]))["restored"]
        fused = net(ir_in, torch.rand(1, 3, 32, 32))
        torch.testing.assert_close(fused["restored_ir"], base(ir_in, torch.rand(1, 3, 32, 32))["restored_ir"], atol=1e-6, rtol=0)
        assert not torch.allclose(both[1:], fused["restored_ir"], atol=1e-3)  # restore() dehazes any image; forward() the visible only
        info = net.describe(fused)
        assert info["haze_contrast_gain"] == round(1 / t, 4)
        assert "haze" in info["degradation"].split("+") and info["probabilities"]["haze"] == 1.0
        last.bias.copy_(torch.tensor([math.log(1.04), 0.0]))  # gain 1.04 <= 1.05: not applied at inference
        torch.testing.assert_close(net.restore(hazy)["restored"], ref["restored"], atol=0, rtol=0)
        net.train()
        assert not torch.allclose(net.restore(hazy)["restored"], ref["restored"], atol=1e-3)  # training it: always on
        for m in net.children():  # restoration frozen while the fusion trains (stage 2, frozen_eval)
            m.eval()
        assert net.training  # ... the top-level module still trains: the inference rule all the same
        torch.testing.assert_close(net.restore(hazy)["restored"], ref["restored"], atol=0, rtol=0)
        net.eval()
        last.bias.zero_()  # identity map: haze is named only if the probe says so
        info = net.describe(net(torch.rand(1, 1, 32, 32), torch.rand(1, 3, 32, 32)))
        assert ("haze" in info["degradation"].split("+")) == (info["probabilities"]["haze"] > 0.5)
    net.train()
    net.restore(hazy)["restored"].square().mean().backward()
    assert all(p.grad is not None for p in net.haze_expert.head.parameters())
    assert net.haze_expert.body.out[0].weight.grad.abs().sum() > 0
    with pytest.raises(InputError, match="haze_expert needs detail_refine"):
        TGECNet(**TINY, haze_expert=8)
    from mmfuse.models.tgecnet import HazeExpert

    with pytest.raises(InputError, match="multiple of stem_stride"):
        HazeExpert(8, 4, 8, cell=10)


@pytest.mark.parametrize(
    ("stage", "term"),
    [("fusion", "fuse_ssim"), ("fusion", "fuse_ssim_tang"), ("fusion", "fuse_mean"), ("fusion", "fuse_cc"), ("fusion", "fuse_grad_floor"), ("fusion", "fuse_consist"), ("restore", "mse")],
)
def test_optional_loss_terms(stage: str, term: str) -> None:
    """``fuse_ssim(_tang)``, ``fuse_mean``, ``fuse_cc``, ``fuse_grad_floor``, ``fuse_consist`` and ``mse`` (mmfuse options) are absent at their default weight
    0 and add a finite, differentiable term when switched on."""
    torch.manual_seed(2)
    net = TGECNet(**TINY).train()
    batch = _batch()
    out = net.forward_stage(stage, batch)
    assert term not in net.training_losses(batch, out, stage, {})
    terms = net.training_losses(batch, out, stage, {term: 2.0})
    assert 0.0 < float(terms[term].detach()) < 2.0
    without = net.training_losses(batch, out, stage, {})["total"]
    assert torch.isclose(terms["total"], without + 2.0 * terms[term])
    terms["total"].backward()
    head = net.output_fusion[0] if stage == "fusion" else net.output[0]
    assert head.weight.grad is not None


def test_fuse_mean_is_zero_at_the_source_mean() -> None:
    """The mean-intensity term measures the distance to (V_c + I_c)/2, nothing else."""
    net = TGECNet(**TINY)
    batch = _batch()
    mean = 0.5 * (net._y(batch["vis_clean"]) + batch["ir_clean"])
    terms = net.training_losses(batch, {"fused_y": mean, "fusion_load": torch.zeros(())}, "fusion", {"fuse_mean": 1.0})
    assert float(terms["fuse_mean"]) == 0.0


def test_fuse_consist_targets_the_clean_pair_fusion_without_gradient() -> None:
    """The consistency term is the L1 distance to the inference-mode fusion of the clean pair (clipped to [0, 1]) by
    a frozen copy of the network: the network's own clipped output when the inputs are the clean
    sources, its target passes no gradient and does not move when the network trains, and the
    modules' train/eval modes survive it."""
    torch.manual_seed(3)
    net = TGECNet(**TINY, fusion_refine=8).train()
    with torch.no_grad():  # a non-trivial fusion head, so that degraded and clean fusions differ
        for p in net.fusion_refine.out.parameters():
            p.normal_(0, 0.1)
    net.encoder_level1.eval()  # as the engine does with frozen parts
    modes = [m.training for m in net.modules()]
    batch = _batch()
    clean = {**batch, "ir": batch["ir_clean"], "vis": batch["vis_clean"]}
    net.eval()
    out = net.forward_stage("fusion", clean)
    assert float((out["fused_y"].clamp(0, 1) - net._clean_fusion(batch["ir_clean"], batch["vis_clean"])).abs().max()) < 1e-6
    for m, was in zip(net.modules(), modes):
        m.training = was
    out = net.forward_stage("fusion", batch)
    target = net._clean_fusion(batch["ir_clean"], batch["vis_clean"])
    assert [m.training for m in net.modules()] == modes
    assert not target.requires_grad
    terms = net.training_losses(batch, out, "fusion", {"fuse_consist": 1.0})
    assert torch.isclose(terms["fuse_consist"], (out["fused_y"] - target).abs().mean())
    assert float(terms["fuse_consist"]) > 1e-3
    # the teacher is a frozen snapshot: training the network does not move the target
    with torch.no_grad():
        net.fusion_refine.out[0].bias.add_(0.5)
    assert torch.equal(net._clean_fusion(batch["ir_clean"], batch["vis_clean"]), target)
    assert not any(k.startswith("_consist_teacher") for k in net.state_dict())
    assert len(list(net.parameters())) == len(list(TGECNet(**TINY, fusion_refine=8).parameters()))


def test_forward_any_size_through_fusion_method() -> None:
    torch.manual_seed(0)
    net = TGECNet(**TINY)
    method = TorchFusionMethod(net)
    assert method.size_multiple == 16 and method.output == "rgb"
    rng = np.random.default_rng(0)
    ir = rng.random((37, 45), dtype=np.float32)
    vis = rng.random((37, 45, 3), dtype=np.float32)
    fused, info = method.fuse(ir, vis, return_info=True)
    assert fused.shape == (37, 45, 3) and fused.dtype == np.float32
    assert 0.0 <= fused.min() and fused.max() <= 1.0
    gray = method.fuse(ir, vis[..., 0])
    assert gray.shape == (37, 45)
    assert info["degradation"] in {"clean"} | {n for n in _all_setting_names()}


def test_fusion_method_keeps_weights_channels_last_with_the_same_result() -> None:
    """TorchFusionMethod stores TG-ECNet's 4-D weights channels-last on the CPU (faster small-channel
    convolutions in oneDNN); the fused image equals the one of the contiguous layout to float rounding."""
    torch.manual_seed(0)
    net = TGECNet(**TINY, fusion_refine=8)
    ref_net = TGECNet(**TINY, fusion_refine=8)
    ref_net.load_state_dict(net.state_dict())
    ref_net.eval()
    method = TorchFusionMethod(net)
    convs = [m.weight for m in method.network.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    rng = np.random.default_rng(1)
    ir, vis = rng.random((40, 52), dtype=np.float32), rng.random((40, 52, 3), dtype=np.float32)
    with torch.inference_mode():
        ref = ref_net(torch.from_numpy(np.pad(ir, ((0, 8), (0, 12))))[None, None],
                      torch.from_numpy(np.pad(vis, ((0, 8), (0, 12), (0, 0))).transpose(2, 0, 1).copy())[None])["fused"]
        again = method.network(torch.from_numpy(np.pad(ir, ((0, 8), (0, 12))))[None, None],
                               torch.from_numpy(np.pad(vis, ((0, 8), (0, 12), (0, 0))).transpose(2, 0, 1).copy())[None])["fused"]
    assert not ref_net.output_fusion[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(ref, again, atol=1e-5)


def test_wrong_size_is_a_shape_error() -> None:
    net = TGECNet(**TINY)
    with pytest.raises(Exception, match="multiples of 16"):
        net(torch.rand(1, 1, 24, 24), torch.rand(1, 1, 24, 24))


def _all_setting_names() -> list[str]:
    return [s.name for s in load_preset("demmi-rf").settings]


def test_setting_labels_round_trip() -> None:
    """Every DeMMI-RF setting name maps to probe labels and back to the same name."""
    for name in _all_setting_names():
        lab = setting_labels(name)
        noise = [0.0] * len(NOISE_LEVELS)
        noise[lab["noise"]] = 1.0
        assert setting_from_probs(noise, lab["haze"], lab["defocus"], lab["stripe"]) == name
    assert set(DEGRADATION_NAMES) <= set(_all_setting_names())
    with pytest.raises(Exception, match="unknown degradation"):
        setting_labels("noise15+rain")
    lab = TGECNet.labels_from_settings(["noise25+haze+stripe", "clean"])
    assert lab["vis_label"].tolist() == [[2, 1, 0, 0], [0, 0, 0, 0]]
    assert lab["ir_label"].tolist() == [[0, 0, 0, 1], [0, 0, 0, 0]]


@pytest.mark.parametrize("stage", ["restore", "fusion", "joint"])
def test_gradients_reach_every_trainable_parameter(stage: str) -> None:
    torch.manual_seed(1)
    net = TGECNet(**{**TINY, "moe_dispatch": "dense"}).train()
    batch = _batch()
    out = net.forward_stage(stage, batch)
    losses = net.training_losses(batch, out, stage, {})
    assert set(losses) >= {"total"} and torch.isfinite(losses["total"])
    losses["total"].backward()
    if stage == "restore":
        expected = [n for n, _ in net.restoration_parameters()]
        unused = [n for n, _ in net.fusion_parameters()]
    elif stage == "fusion":
        expected = [n for n, _ in net.fusion_parameters()]
        unused = []
    else:
        expected, unused = [n for n, _ in net.named_parameters()], []
    params = dict(net.named_parameters())
    missing = [n for n in expected if params[n].grad is None]
    assert not missing, f"no gradient for {missing[:5]}"
    assert all(params[n].grad is None for n in unused)
    # the loss terms of the stage are present
    if stage in ("restore", "joint"):
        assert {"l1", "grad", "load", "probe"} <= set(losses)
    if stage in ("fusion", "joint"):
        assert {"fuse_vis", "fuse_ir", "fuse_max", "fuse_grad", "fuse_load", "chroma"} <= set(losses)


def test_stage2_freezing_keeps_restoration_unchanged() -> None:
    torch.manual_seed(2)
    net = TGECNet(**TINY)
    for _, p in net.restoration_parameters():
        p.requires_grad_(False)
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    batch = _batch(seed=3)
    net.eval()
    with torch.no_grad():
        r0 = net.restore(rgb_to_ycbcr_t(batch["vis"]))["restored"]
    net.train()
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.01)
    out = net.forward_stage("fusion", batch)
    net.training_losses(batch, out, "fusion", {})["total"].backward()
    opt.step()
    after = dict(net.named_parameters())
    for n, _ in net.restoration_parameters():
        assert torch.equal(before[n], after[n].detach()), n
    changed = [n for n, _ in net.fusion_parameters() if not torch.equal(before[n], after[n].detach())]
    assert "param_alpha" in changed and any(n.startswith("output_fusion") for n in changed)
    net.eval()
    with torch.no_grad():
        r1 = net.restore(rgb_to_ycbcr_t(batch["vis"]))["restored"]
    assert torch.equal(r0, r1)


def rgb_to_ycbcr_t(x: torch.Tensor) -> torch.Tensor:
    from mmfuse.nn.ops import rgb_to_ycbcr as f

    return f(x)[:, :1]


@pytest.mark.parametrize("dispatch", ["sparse", "dense"])
def test_taskmoe_top_k_and_weights(dispatch: str) -> None:
    torch.manual_seed(4)
    moe = TaskMoE(8, 16, num_experts=5, top_k=2, expert_ffn=1.0, dispatch=dispatch).eval()
    x, prompt = torch.randn(3, 8, 6, 7), torch.randn(3, 16)
    y, loss, per_image = moe(x, prompt)
    assert y.shape == x.shape and loss.ndim == 0
    assert per_image.shape == (3, 5)
    torch.testing.assert_close(per_image.sum(1), torch.ones(3))
    # exactly K experts per token
    units = x.permute(0, 2, 3, 1).reshape(-1, 8)
    gate = moe.moe.routers[0](moe.moe._gate_vectors(x, units, moe.prompt_proj(prompt)))
    assert ((gate.gates > 0).sum(1) == 2).all()
    # linear combine = sum of the K selected experts weighted by their gates (+ residual)
    manual = torch.zeros_like(units)
    for j in range(2):
        for e in range(5):
            sel = gate.top_indices[:, j] == e
            manual[sel] += gate.top_gates[sel, j : j + 1] * moe.moe.experts[e](units[sel])
    torch.testing.assert_close(y.permute(0, 2, 3, 1).reshape(-1, 8), units + manual, rtol=1e-4, atol=1e-5)


def test_dense_and_sparse_dispatch_agree() -> None:
    torch.manual_seed(5)
    a = TaskMoE(8, 16, num_experts=5, top_k=3, dispatch="sparse", combine="logspace").eval()
    b = TaskMoE(8, 16, num_experts=5, top_k=3, dispatch="dense", combine="logspace").eval()
    b.load_state_dict(a.state_dict())
    x, p = torch.randn(2, 8, 5, 5), torch.randn(2, 16)
    torch.testing.assert_close(a(x, p)[0], b(x, p)[0], rtol=1e-4, atol=1e-5)
    lin = TaskMoE(8, 16, num_experts=5, top_k=3, dispatch="dense", combine="linear").eval()
    lin.load_state_dict(a.state_dict())
    assert not torch.allclose(lin(x, p)[0], b(x, p)[0])


def test_ablation_switches_change_the_network() -> None:
    base = sum(p.numel() for p in TGECNet(**TINY).parameters())
    no_res = TGECNet(**{**TINY, "moe_levels": []})
    assert len(no_res.degrad_moe) == 0
    no_fus = TGECNet(**{**TINY, "fusion_moe": False})
    assert no_fus.fusion_moe is None and no_fus.task_prompt_fusion is None
    no_task = TGECNet(**{**TINY, "task_gating": False})
    assert no_task.degrad_moe["1"].prompt_proj is None
    assert sum(p.numel() for p in no_res.parameters()) < base
    out = no_task(torch.rand(1, 1, 32, 32), torch.rand(1, 3, 32, 32))
    assert out["fused"].shape == (1, 3, 32, 32)
    with pytest.raises(Exception, match="top_k"):
        TGECNet(**{**TINY, "num_experts": 3, "top_k": 4})


def test_probe_stage_and_image_probe() -> None:
    """probe_input='image' uses the DegradationEstimator on the input; the 'probe' stage trains only it;
    prompt_highpass gives the gate CNN two input channels."""
    torch.manual_seed(7)
    net = TGECNet(**{**TINY, "probe_input": "image", "prompt_highpass": True})
    assert net.task_prompt.in_channels == 2
    batch = _batch(seed=8)
    out = net.forward_stage("probe", batch)
    assert set(out) == {"probe"} and out["probe"].shape == (4, 7)
    losses = net.training_losses(batch, out, "probe", {"probe": 1.0})
    losses["total"].backward()
    grads = {n for n, p in net.named_parameters() if p.grad is not None}
    assert grads == {n for n, _ in net.named_parameters() if n.startswith("probe.")}
    # a noisy image and a flat one are told apart after a few steps on this single batch
    opt = torch.optim.Adam(net.probe.parameters(), lr=1e-2)
    x = torch.cat([torch.full((4, 1, 32, 32), 0.5), (0.5 + 0.2 * torch.randn(4, 1, 32, 32)).clamp(0, 1)])
    labels = torch.tensor([[0, 0, 0, 0]] * 4 + [[3, 0, 0, 0]] * 4)
    for _ in range(60):
        loss = net._probe_loss(net.probe(x), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (net.probe(x)[:, :4].argmax(1) == labels[:, 0]).all()


def test_describe_structure() -> None:
    torch.manual_seed(6)
    net = TGECNet(**TINY).eval()
    with torch.no_grad():
        out = net(torch.rand(1, 1, 32, 32), torch.rand(1, 3, 32, 32))
    info = net.describe(out)
    json.dumps(info)
    assert info["degradation"] in ["clean", *_all_setting_names()]
    assert set(info["probabilities"]) == set(DEGRADATION_NAMES)
    assert set(info["expert_weights"]) == {
        "vis_level1", "vis_level2", "vis_level3", "ir_level1", "ir_level2", "ir_level3", "fusion"
    }
    for w in info["expert_weights"].values():
        assert len(w) == 4 and abs(sum(w) - 1) < 1e-3


# ------------------------------------------------------------------ shipped weights


WEIGHTS = ROOT / "src" / "mmfuse" / "weights" / "tgecnet-small.safetensors"


@pytest.fixture(scope="module")
def shipped() -> TorchFusionMethod:
    from mmfuse.models.registry import load

    return load("tgecnet-small")  # type: ignore[return-value]


def test_shipped_weights_fuse_real_pair(shipped: TorchFusionMethod, ivif_dir: Path) -> None:
    assert WEIGHTS.stat().st_size < 8_000_000
    ir = read_image(ivif_dir / "ir" / "FLIR_04593.jpg", "gray")
    vis = read_image(ivif_dir / "vi" / "FLIR_04593.jpg", "rgb")
    fused, info = shipped.fuse(ir, vis, return_info=True)
    assert fused.shape == vis.shape and fused.dtype == np.float32
    assert info["method"] == "tgecnet-small" and "degradation" in info


@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (31, 500)])
def test_shipped_model_fuses_tiny_and_thin_images(shipped: TorchFusionMethod, shape: tuple[int, int]) -> None:
    """Any size in, same size out: sides below the network's minimum (its fusion prompt needs 9x9
    level-1 features, i.e. 36 px at stem stride 4) are padded up to it and cropped back."""
    assert shipped.min_size == 9 * shipped.network.stem_stride
    rng = np.random.default_rng(2)
    fused = shipped.fuse(rng.random(shape, dtype=np.float32), rng.random((*shape, 3), dtype=np.float32))
    assert fused.shape == (*shape, 3) and np.isfinite(fused).all()


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2)))


def _held_out_pair(ivif_dir: Path, multiple: int) -> tuple[np.ndarray, np.ndarray]:
    """RoadScene test pair FLIR_00455 (IR gray, VIS RGB) cropped to a multiple of ``multiple``."""
    ir = read_image(ivif_dir / "ir" / "FLIR_00455.jpg", "gray")
    vis = read_image(ivif_dir / "vi" / "FLIR_00455.jpg", "rgb")
    h, w = (ir.shape[0] // multiple) * multiple, (ir.shape[1] // multiple) * multiple
    return ir[:h, :w], vis[:h, :w]


def test_shipped_model_restores_noise_and_chroma(shipped: TorchFusionMethod, ivif_dir: Path) -> None:
    """On a held-out RoadScene pair with σ=50 noise the restored VIS-Y and the restored chroma
    are closer to the clean image than the noisy input, and the gate names the noise."""
    net = shipped.network
    ir, vis = _held_out_pair(ivif_dir, net.size_multiple)
    _, vis_d, _ = apply_setting(ir, vis, load_preset("demmi-rf").setting("noise50"), 0)
    with torch.inference_mode():
        out = net(torch.from_numpy(ir)[None, None], torch.from_numpy(vis_d.transpose(2, 0, 1))[None])
    clean_ycc, noisy_ycc = rgb_to_ycbcr(vis), rgb_to_ycbcr(vis_d)
    restored_y = out["restored_vis"][0, 0].clamp(0, 1).numpy()
    assert _psnr(restored_y, clean_ycc[..., 0]) > _psnr(noisy_ycc[..., 0], clean_ycc[..., 0]) + 3.0
    cbcr = out["cbcr"][0].numpy().transpose(1, 2, 0)
    assert np.abs(cbcr - clean_ycc[..., 1:]).mean() < 0.5 * np.abs(noisy_ycc[..., 1:] - clean_ycc[..., 1:]).mean()
    assert "noise50" in net.describe(out)["degradation"]


def test_column_stripe_expert_pools_offsets_down_columns() -> None:
    """With ``probe_expert_columns`` the stripe expert (a) adds nothing at initialisation (its
    extra input, the classically destriped image, and its two extra output maps start at zero
    weight, so a model grown by ``grow_state_dict`` restores as before), (b)
    sees that destriped image and removes from each column the confidence-weighted mean of its
    per-pixel offset estimates (the fixed-pattern model: one offset per whole column), (c) also
    opens its gate on the column-offset amplitude of the image (``mmfuse.restore.stripe_amplitude``),
    so column stripes without the white noise the probe keys on are treated and named in the
    report; bad options are refused."""
    from mmfuse.degrade import stripe_noise
    from mmfuse.restore import stripe_amplitude, stripe_profile

    torch.manual_seed(6)
    kw = dict(TINY, detail_refine=8, probe_experts={"defocus": 8, "stripe": 4})
    base = TGECNet(**kw).eval()
    net = TGECNet(**kw, probe_expert_columns=["stripe"]).eval()
    expert = net.probe_experts["stripe"]
    assert expert.columns and not net.probe_experts["defocus"].columns
    with torch.no_grad():
        base.probe_experts["stripe"].body.out[0].weight.normal_(0, 0.3)  # a "trained" plain expert
    own, grown, fresh = grow_state_dict(base.state_dict(), net)  # as scripts/tgecnet_grow.py does
    assert grown == ["probe_experts.stripe.body.inp.weight", "probe_experts.stripe.body.out.0.weight", "probe_experts.stripe.body.out.0.bias"]
    assert fresh == ["probe_experts.stripe.column_slope", "probe_experts.stripe.column_offset"]
    net.load_state_dict(own)
    img = torch.rand(2, 1, 32, 48)
    with torch.no_grad():
        _set_probe_logit(base, "stripe", 10.0)
        _set_probe_logit(net, "stripe", 10.0)
        _set_probe_logit(base, "defocus", -10.0)
        _set_probe_logit(net, "defocus", -10.0)
        torch.testing.assert_close(net.restore(img)["restored"], base.restore(img)["restored"], atol=1e-6, rtol=0)
        # (b) the column term: offsets s and confidences q predicted per pixel, pooled per column
        feat, _ = net.restore_features(img)
        r = net.refinement(feat)
        maps_in = torch.cat([img, img], 1)
        profiles = expert.column_profiles(img)
        assert profiles.shape == (2, 1, 1, 48)
        torch.testing.assert_close(profiles[0, 0, 0], torch.from_numpy(stripe_profile(img[0, 0].numpy())).float())
        expert.body.inp.weight[:, 8:12].normal_(0, 0.3)  # the destriped image now counts
        local = expert.maps(maps_in, r)
        torch.testing.assert_close(local, expert.maps(maps_in, r, profiles=profiles))
        expert.body.out[0].weight[4:].normal_(0, 0.3)
        local2, s, q = expert.body.maps(torch.cat([maps_in, img - profiles], 1), r).unbind(1)
        torch.testing.assert_close(local2[:, None], local, atol=1e-6, rtol=0)
        w = torch.softmax(q, 1)
        torch.testing.assert_close(w.sum(1), torch.ones(2, 48))
        pooled = expert.maps(maps_in, r) - local
        torch.testing.assert_close(pooled, (w * s).sum(1)[:, None, None, :].expand(-1, -1, 32, -1), atol=1e-6, rtol=0)
        assert float(pooled.std(2).max()) < 1e-6  # constant down every column
    # (c) the column gate: closed on a clean image, open on column stripes without white noise
    clean = np.tile(np.linspace(0.2, 0.8, 48, dtype=np.float32)[:, None], (1, 64))  # varies down the rows only
    striped, _ = stripe_noise(clean, 0, column_sigma=6.0, pixel_sigma=0.0)
    amps = expert.column_profiles(torch.from_numpy(np.stack([clean, striped]))[:, None]).std(-1, unbiased=False).flatten()
    torch.testing.assert_close(amps, torch.tensor([stripe_amplitude(clean), stripe_amplitude(striped)]))
    assert float(amps[0]) < 0.5 / 255 < 4.0 / 255 < float(amps[1])
    g_col = expert.column_gate(amps).detach()
    assert float(g_col[0]) < 0.01 and float(g_col[1]) > 0.8  # threshold 2.5/255 at init
    low = torch.full((2,), -10.0)
    torch.testing.assert_close(expert.gate(low, amps), torch.maximum(torch.sigmoid(low), g_col))
    torch.testing.assert_close(expert.gate(torch.full((2,), 10.0), amps), torch.full((2,), float(torch.sigmoid(torch.tensor(10.0)))))
    _set_probe_logit(net, "stripe", -10.0)
    with torch.no_grad():
        out = net.restore(torch.from_numpy(np.stack([clean, striped]))[:, None])
        assert float(out["expert_gates"]["stripe"][0]) == 0.0 and float(out["expert_gates"]["stripe"][1]) > 0.8
        fused = net(torch.from_numpy(striped)[None, None], torch.from_numpy(np.repeat(clean[None], 3, 0))[None])
    info = net.describe(fused)
    assert "stripe" in info["degradation"].split("+") and info["probabilities"]["stripe"] > 0.8
    assert info["column_amplitude_255"]["infrared"] > 4.0
    net.train()
    net.restore(torch.from_numpy(np.stack([clean, striped]))[:, None])["restored"].square().mean().backward()
    assert expert.column_slope.grad.abs() > 0 and expert.column_offset.grad.abs() > 0
    with pytest.raises(InputError, match="probe_expert_columns"):
        TGECNet(**kw, probe_expert_columns=["defocus"])
    with pytest.raises(InputError, match="probe_expert_columns"):
        TGECNet(**dict(kw, probe_experts={"defocus": 8}), probe_expert_columns=["stripe"])
    # noise-corrected amplitude (probe_expert_column_floor): strong white noise alone no longer
    # opens the column gate, noise-free stripes keep their amplitude
    floored = TGECNet(**kw, probe_expert_columns=["stripe"], probe_expert_column_floor=True).eval()
    assert floored.probe_experts["stripe"].column_floor and not expert.column_floor
    rng = np.random.default_rng(0)
    noisy = np.clip(np.tile(clean, (2, 1)) + rng.standard_normal((96, 64)).astype(np.float32) * 0.2, 0, 1)
    imgs = torch.from_numpy(np.stack([noisy, np.tile(striped, (2, 1))]))[:, None]
    profiles, corrected = floored.probe_experts["stripe"].column_statistics(imgs)
    torch.testing.assert_close(profiles, expert.column_profiles(imgs))
    torch.testing.assert_close(expert.column_statistics(imgs)[1], expert.column_profiles(imgs).std(-1, unbiased=False).flatten())
    from mmfuse.restore import stripe_amplitude as amp_np

    want = [amp_np(x[0].numpy(), noise_corrected=True) for x in imgs]
    torch.testing.assert_close(corrected, torch.tensor(want, dtype=corrected.dtype), atol=1e-6, rtol=0)
    assert float(corrected[0]) < 0.5 * amp_np(noisy) and float(corrected[1]) > 4.0 / 255
    with pytest.raises(InputError, match="probe_expert_column_floor"):
        TGECNet(**kw, probe_expert_column_floor=True)


def _degraded_and_clear(net: TGECNet, ivif_dir: Path, setting: str) -> tuple[np.ndarray, np.ndarray, dict, dict, dict]:
    """The held-out pair degraded with one DeMMI-RF setting (seed 0): ``(clean VIS, degraded VIS,
    degradation info, network output on the degraded pair, on the clear pair)``."""
    ir, vis = _held_out_pair(ivif_dir, net.size_multiple)
    _, vis_d, info = apply_setting(ir, vis, load_preset("demmi-rf").setting(setting), 0)
    t = lambda v: torch.from_numpy(v.transpose(2, 0, 1))[None]  # noqa: E731
    with torch.inference_mode():
        out = net(torch.from_numpy(ir)[None, None], t(vis_d))
        clear = net(torch.from_numpy(ir)[None, None], t(vis))
    return vis, vis_d, info, out, clear


def _restored_and_input_psnr(vis: np.ndarray, vis_d: np.ndarray, out: dict) -> tuple[float, float]:
    clean_y = rgb_to_ycbcr(vis)[..., 0]
    return _psnr(out["restored_vis"][0, 0].clamp(0, 1).numpy(), clean_y), _psnr(rgb_to_ycbcr(vis_d)[..., 0], clean_y)


def test_shipped_model_deblurs_defocus(shipped: TorchFusionMethod, ivif_dir: Path) -> None:
    """On a held-out pair with DeMMI-RF defocus (disk radius 3.2 px) the defocus expert runs on
    the visible image only, estimates the radius and deblurs; on the sharp pair it is not run."""
    net = shipped.network
    vis, vis_d, info, out, sharp = _degraded_and_clear(net, ivif_dir, "defocus")
    radius = info["vis"][0]["params"]["radius"]
    restored, blurred = _restored_and_input_psnr(vis, vis_d, out)
    assert restored > blurred + 3.0  # measured 31.5 -> 36.6 dB
    gate_vis, gate_ir = out["expert_gates"]["defocus"]
    assert float(gate_vis[0]) > 0.5 and float(gate_ir[0]) == 0.0  # measured 0.99
    report = net.describe(out)["blur_radius_px"]
    assert abs(report["visible"] - radius) <= 0.75 and report["infrared"] is None  # measured 3.0
    assert float(sharp["expert_gates"]["defocus"][0][0]) == 0.0 and "blur_radius" not in sharp


def test_shipped_model_dehazes(shipped: TorchFusionMethod, ivif_dir: Path) -> None:
    """On a held-out pair with DeMMI-RF haze (whole image, beta 0.072) the haze expert raises the
    visible image's contrast, restores it closer to the clean image and the report names haze;
    the clear pair is left alone (gain <= 1.05: expert not applied)."""
    net = shipped.network
    vis, vis_d, _, out, clear = _degraded_and_clear(net, ivif_dir, "haze")
    restored, hazy = _restored_and_input_psnr(vis, vis_d, out)
    assert restored > hazy + 0.4  # measured 25.0 -> 25.6 dB (session 7's first haze expert: 26.5)
    info = net.describe(out)
    assert info["haze_contrast_gain"] > 1.5 and "haze" in info["degradation"].split("+")  # measured 1.99
    info = net.describe(clear)
    assert info["haze_contrast_gain"] <= 1.05 and "haze" not in info["degradation"]  # measured 1.01


def test_shipped_model_destripes(shipped: TorchFusionMethod, ivif_dir: Path) -> None:
    """On the held-out infrared image the stripe expert removes DeMMI-RF stripes (column std 5.5,
    white noise std 4) and, through its column gate, column stripes that come without white noise
    (which the probe does not see: session 7's model left them in); the report names the stripes;
    the clean pair keeps the expert off."""
    from mmfuse.degrade import stripe_noise

    net = shipped.network
    ir, vis = _held_out_pair(ivif_dir, net.size_multiple)
    t_vis = torch.from_numpy(vis.transpose(2, 0, 1))[None]
    gains = {}
    for col, pix in ((5.5, 4.0), (6.0, 0.0)):
        striped, _ = stripe_noise(ir, 0, column_sigma=col, pixel_sigma=pix)
        striped = (np.round(striped * 255) / 255).astype(np.float32)
        with torch.inference_mode():
            out = net(torch.from_numpy(striped)[None, None], t_vis)
        gains[pix] = _psnr(out["restored_ir"][0, 0].clamp(0, 1).numpy(), ir) - _psnr(striped, ir)
        assert float(out["expert_gates"]["stripe"][1][0]) > 0.5
        assert "stripe" in net.describe(out)["infrared"].split("+")
    assert gains[4.0] > 4.0 and gains[0.0] > 4.0  # measured 31.4 -> 37.7 dB (+6.3) and 32.4 -> 41.1 dB (+8.7)
    with torch.inference_mode():
        clear = net(torch.from_numpy(ir)[None, None], t_vis)
    assert float(clear["expert_gates"]["stripe"][1][0]) == 0.0 and "stripe" not in net.describe(clear)["degradation"]


def test_cli_fuse_report(cli, tmp_path: Path, ivif_dir: Path) -> None:  # noqa: ANN001 (conftest fixture)
    """``python -m mmfuse fuse --method tgecnet-small --report --report-json`` in a subprocess."""
    run_cli = cli
    out = tmp_path / "f.png"
    rep = tmp_path / "r.json"
    res = run_cli("fuse", ivif_dir / "ir" / "FLIR_04722.jpg", ivif_dir / "vi" / "FLIR_04722.jpg", "-o", out,
                  "--method", "tgecnet-small", "--report", "--report-json", rep)
    assert res.returncode == 0, res.stderr
    assert "degradation:" in res.stdout and "expert_weights:" in res.stdout
    data = json.loads(rep.read_text())["FLIR_04722"]
    assert data["method"] == "tgecnet-small"
    assert data["degradation"] in ["clean", *_all_setting_names()]
    assert out.is_file()
