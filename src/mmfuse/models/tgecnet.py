"""TG-ECNet: task-gated multi-expert restoration and fusion of degraded infrared-visible pairs.

Sun, Li, Zhu, Hu, Ren, Xu, Zhu, "Task-Gated Multi-Expert Collaboration Network for Degraded
Multi-Modal Image Fusion", ICML 2025 (PMLR 267); engineering spec ``../shared/specs/tg-ecnet.md``.
The module reads like the paper's Fig. 2 (overall pipeline) and Fig. 3 (gating + experts):

1. **Degradation-aware gating** (:class:`mmfuse.nn.TaskPrompt`, the code's ``Taskprompt``): a
   small stride-3 CNN, a softmax over a learnable atom dictionary and a GELU give one task
   prompt vector per image, computed from the (degraded) input itself.
2. **Restoration experts** (:class:`TaskMoE`): per-pixel-token noisy top-K of N MLP experts
   (:class:`mmfuse.nn.MoE`, Shazeer et al., ICLR 2017), gated on ``[token ; Linear(prompt)]``,
   placed before the transformer blocks of encoder levels 1-3 (paper App. A.3).
3. A **Restormer U-shape** (Zamir et al., CVPR 2022; MDTA / GDFN transformer blocks) shared by
   the visible luminance and the infrared image, with **PromptIR decoder prompts**
   (Potlapalli et al., NeurIPS 2023; in the authors' code, not in the paper) and restoration
   heads giving the restored VIS-Y and IR (global input residual).
4. **Fusion branch** (paper Sec. 3.2, code ``stage2``): ``F_M = α ⊙ F_V + β ⊙ F_I`` on the
   level-1 decoder features, a **fusion-aware gating** prompt and fusion TaskMoE, new level-1
   decoder blocks, refinement and output conv, ``+ θ·Î_V + γ·Î_I``.
5. (mmfuse additions) a **chroma head** that restores the visible CbCr from the *degraded* input,
   so colour output does not need the clean visible image the authors' test code uses; and a
   **degradation probe** (linear heads on the task prompt) that names the degradation the gate
   saw, for ``mmfuse fuse --report``.

Paper-vs-code choices are constructor flags (spec §6, §7.3):

* ``moe_combine``: ``"linear"`` (paper eq. 2-3, default) or ``"logspace"`` (code:
  ``log Σ g_i exp(E_i(x))``);
* ``stage2_use_moe1``: ``True`` (paper / stage-1 consistent, default) or ``False`` (code bypasses
  the level-1 restoration MoE in stage 2);
* ``fusion_residual``: ``True`` adds ``θ·Î_V + γ·Î_I`` (code, default) - ``False`` drops it (paper
  text has no such term);
* ``stage2_grad_loss``: ``"intended"`` ``|∇F − max(∇V_c, ∇I_c)|`` (default) or ``"code_order"``
  ``|max(∇I_c, ∇F) − ∇V_c|``;
* ablations (paper Table 3, 5, 6): ``task_gating=False`` (gates see token features only),
  ``moe_levels=[]`` (no restoration experts), ``fusion_moe=False``, ``num_experts``/``top_k``,
  single-stage training with stage ``"joint"``.

CPU deviations available for small configs (``configs/tgecnet-small.yaml``, docs/models/tgecnet.md):
``stem_stride=2|4`` (pixel-unshuffle stem so that level 1 runs at H/2 or H/4; the paper's stem
is a stride-1 3×3 conv), ``level1_reduce=True`` (a 1×1 reduction after the level-1 skip
concatenation so that the level-1 decoder works at ``dim`` instead of ``2·dim``),
``level1_block="conv"`` and ``detail_refine`` (a thin half-resolution refinement of the
restoration, :class:`DetailRefine`, which gives back the per-pixel detail a stride-4 stem loses)
and ``fusion_refine`` (a half-resolution fusion head predicting a per-pixel weight map and a
correction, :class:`FusionRefine`, on top of the coarse fused image), and ``probe_experts``
(half-resolution restoration experts for single degradations, each switched per image by a
learnt gate on the probe's logit of its degradation: the task-gated experts idea applied after
the decoder, :class:`ProbeGatedExpert`; with ``probe_expert_deconv=["defocus"]`` the defocus
expert starts from a Wiener–Hunt deconvolution with the disk radius it estimates per image),
and ``haze_expert`` (a smooth local affine dehazing map from the scattering model, predicted on a
coarse grid, plus a half-resolution correction, :class:`HazeExpert`).

Tensors follow the mmfuse conventions: ``(B, C, H, W)`` float32 in ``[0, 1]``; infrared ``C=1``,
visible ``C=1`` (luminance) or ``C=3`` (RGB; BT.601 YCbCr inside).
"""
from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, Literal, TypeVar

import kornia
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmfuse.errors import InputError, ShapeError
from mmfuse.losses.functional import correlation_loss, fusion_ssim_loss
from mmfuse.models.registry import register_arch, register_learned
from mmfuse.nn import MoE, PromptGenBlock, ResidualBlock, TaskPrompt, TransformerBlock
from mmfuse.nn.deconv import disk_tv, disk_wiener
from mmfuse.nn.ops import gradient_magnitude, rgb_to_ycbcr, ycbcr_to_rgb
from mmfuse.nn.restormer import Downsample, Upsample
from mmfuse.restore.context import STRIPE_THRESHOLD
from mmfuse.restore.deblur import estimate_defocus_radius
from mmfuse.restore.destripe import stripe_profile, stripe_profile_and_floor

_T = TypeVar("_T")

__all__ = [
    "TGECNet",
    "TaskMoE",
    "ChromaHead",
    "DegradationEstimator",
    "ProbeGatedExpert",
    "HazeExpert",
    "HAZE_MIN_GAIN",
    "DEGRADATION_NAMES",
    "NOISE_LEVELS",
    "setting_labels",
    "setting_from_probs",
    "grow_state_dict",
]

NOISE_LEVELS: tuple[str, ...] = ("none", "noise15", "noise25", "noise50")
"""Classes of the probe's noise head (DeMMI-RF Gaussian σ on the 0-255 scale)."""

DEGRADATION_NAMES: tuple[str, ...] = ("noise15", "noise25", "noise50", "haze", "defocus", "stripe")
"""The six DeMMI-RF single degradations, in the order setting names are written."""

_PROBE_OUTPUTS = len(NOISE_LEVELS) + 3  # noise (4-way softmax) + haze, defocus, stripe (sigmoids)
_GATED = ("haze", "defocus", "stripe")  # probe sigmoid outputs that can gate a restoration expert (probe_experts)
_EXPERT_NAMES = ("noise", *_GATED)  # probe_experts keys, in the order the experts run ("noise": gated by the probe's odds of any noise level)
_EXPERT_SKIP = 0.02  # at inference a probe-gated expert is skipped for images whose gate is below this
HAZE_MIN_GAIN = 1.05  # at inference the haze expert changes (and the report names haze in) only images whose mean contrast gain is above this


def setting_labels(setting: str) -> dict[str, int]:
    """Probe targets of a DeMMI-RF setting name such as ``"noise50+haze+defocus+stripe"``.

    Args:
        setting: ``"clean"`` or ``+``-joined degradation names.

    Returns:
        ``{"noise": 0..3, "haze": 0|1, "defocus": 0|1, "stripe": 0|1}``.

    Raises:
        InputError: an unknown degradation name.
    """
    parts = [] if setting in ("", "clean") else setting.split("+")
    out = {"noise": 0, "haze": 0, "defocus": 0, "stripe": 0}
    for p in parts:
        if p in NOISE_LEVELS[1:]:
            out["noise"] = NOISE_LEVELS.index(p)
        elif p in ("haze", "defocus", "stripe"):
            out[p] = 1
        else:
            raise InputError(f"setting {setting!r}: unknown degradation {p!r} (known: {', '.join(DEGRADATION_NAMES)})")
    return out


def setting_from_probs(noise: list[float], haze: float, defocus: float, stripe: float) -> str:
    """Name the DeMMI-RF setting predicted by the probe.

    Args:
        noise: probabilities of :data:`NOISE_LEVELS` (sums to 1).
        haze, defocus, stripe: presence probabilities in ``[0, 1]``.

    Returns:
        ``"clean"`` or the ``+``-joined names in DeMMI-RF order (noise, haze, defocus, stripe).
    """
    parts = []
    level = max(range(len(noise)), key=lambda i: noise[i])
    if level:
        parts.append(NOISE_LEVELS[level])
    for name, p in (("haze", haze), ("defocus", defocus), ("stripe", stripe)):
        if p > 0.5:
            parts.append(name)
    return "+".join(parts) if parts else "clean"


def probe_probabilities(logits: Tensor) -> Tensor:
    """Probe logits ``(B, 7)`` → probabilities ``(B, 7)``: the softmax over the
    :data:`NOISE_LEVELS` logits, then the sigmoids of the haze, defocus and stripe logits."""
    n = len(NOISE_LEVELS)
    return torch.cat([logits[:, :n].softmax(1), torch.sigmoid(logits[:, n:])], 1)


class _ExpertMLP(nn.Sequential):
    """One restoration/fusion expert: per-token ``Linear(C → h) → GELU → Linear(h → C)`` (code)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))


class TaskMoE(nn.Module):
    """Task-gated mixture of experts (TG-ECNet Fig. 3; code ``TaskMoE``).

    Every pixel is a token. The gate sees ``[x_token ; Linear(prompt)]`` (task-aware gating) or
    ``x_token`` alone (ablation "w/o task-aware gating"), keeps the noisy top-``k`` of
    ``num_experts`` MLP experts and mixes their outputs (``combine``); the result is added to the
    input (residual).

    Args:
        dim: channels ``C``.
        prompt_dim: size of the task prompt.
        num_experts: ``N`` (paper 11).
        top_k: ``K`` (paper 6).
        expert_ffn: hidden width factor of the experts (code 2.66).
        combine: ``"linear"`` (paper) or ``"logspace"`` (code).
        task_gating: condition the gate on the prompt.
        dispatch: ``"sparse"`` runs each expert on its routed tokens only
            (:class:`mmfuse.nn.MoE`); ``"dense"`` runs every expert on every token and keeps the
            top-``K`` outputs (numerically the same mixture, spec §7.2; faster on CPU for small
            widths because it avoids gathers and scatters).

    Shape:
        ``x (B, C, H, W)``, ``prompt (B, prompt_dim)`` → ``(B, C, H, W)``, the scalar
        load-balancing loss ``cv²(importance) + cv²(load)`` and the per-image mean gate weights
        ``(B, N)``.
    """

    def __init__(
        self,
        dim: int,
        prompt_dim: int,
        num_experts: int = 11,
        top_k: int = 6,
        expert_ffn: float = 2.66,
        combine: Literal["linear", "logspace"] = "linear",
        task_gating: bool = True,
        dispatch: Literal["sparse", "dense"] = "sparse",
    ) -> None:
        super().__init__()
        hidden = max(1, int(dim * expert_ffn))
        self.task_gating = task_gating
        self.prompt_proj = nn.Linear(prompt_dim, dim) if task_gating else None
        self.moe = MoE(
            lambda i: _ExpertMLP(dim, hidden),
            k=top_k,
            gate_dim=2 * dim if task_gating else dim,
            num_experts=num_experts,
            granularity="token",
            combine=combine,
            gate_init="normal",
            gate_with_input=task_gating,
            dispatch=dispatch,
        )

    def forward(self, x: Tensor, prompt: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        gate_in = self.prompt_proj(prompt) if self.prompt_proj is not None else None
        b = x.shape[0]
        out = self.moe(x, gate_input=gate_in)
        mixed, loss, gates = out.output, out.loss, out.gates
        per_image = gates.reshape(b, -1, gates.shape[-1]).mean(dim=1)
        return x + mixed, loss, per_image


class ChromaHead(nn.Module):
    """Restore the visible chroma from the degraded input (mmfuse addition, not in TG-ECNet).

    The authors re-attach the chroma of the *clean* visible image at test time (spec §1.1), which
    a user does not have. This head predicts a correction of the degraded CbCr at the resolution
    of the level-1 features (``H/s``): its input is the (average-pooled) degraded CbCr, the
    restored and degraded luminance, and the visible level-1 decoder features; a global branch
    (mean pooling + the projected task prompt) lets it undo image-wide casts such as the haze
    airlight. The corrected CbCr is bilinearly up-sampled to full resolution.

    Args:
        feat_dim: channels of the level-1 features.
        width: hidden channels.
        prompt_dim: size of the task prompt.
        stride: ``s``, the resolution ratio between the image and the features.
        blocks: residual conv blocks.

    Shape:
        ``cbcr (B, 2, H, W)`` (centred on 0.5), ``y_deg``/``y_rest (B, 1, H, W)``,
        ``feat (B, feat_dim, H/s, W/s)``, ``prompt (B, prompt_dim)`` → ``(B, 2, H, W)``.
    """

    def __init__(self, feat_dim: int, width: int = 16, prompt_dim: int = 64, stride: int = 1, blocks: int = 2) -> None:
        super().__init__()
        self.stride = stride
        self.inp = nn.Conv2d(feat_dim + 4, width, 3, padding=1)
        self.prompt_proj = nn.Linear(prompt_dim, width)
        self.global_mix = nn.Linear(2 * width, width)
        self.body = nn.ModuleList(
            nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.GELU(), nn.Conv2d(width, width, 3, padding=1))
            for _ in range(blocks)
        )
        self.out = nn.Conv2d(width, 2, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, cbcr: Tensor, y_deg: Tensor, y_rest: Tensor, feat: Tensor, prompt: Tensor) -> Tensor:
        s = self.stride
        small = [cbcr, y_deg, y_rest]
        if s > 1:
            small = [F.avg_pool2d(t, s) for t in small]
        cbcr_s = small[0]
        h = F.gelu(self.inp(torch.cat([feat, cbcr_s - 0.5, small[1], small[2]], dim=1)))
        g = torch.cat([h.mean(dim=(-2, -1)), self.prompt_proj(prompt)], dim=1)
        h = h + self.global_mix(g)[:, :, None, None]
        for blk in self.body:
            h = h + blk(h)
        out = cbcr_s + self.out(h)
        if s > 1:
            out = F.interpolate(out, size=cbcr.shape[-2:], mode="bilinear", align_corners=False)
        return out


class DetailRefine(nn.Module):
    """Half-resolution refinement of a coarse restoration (mmfuse addition, not in TG-ECNet).

    With a pixel-unshuffle stem (``stem_stride`` s > 1) every pixel value of a 4×4 cell must
    travel through ``d`` feature channels, which limits how well per-pixel noise is removed
    (docs/models/tgecnet.md). This thin stage works at ``H/2``: it sees the degraded image and the
    coarse restoration (pixel-unshuffled, 2×4 channels) and the level-1 features re-arranged to
    ``H/2`` (``PixelShuffle(s/2)``), and adds a correction to the coarse restoration. The last
    convolution is zero-initialised, so the block starts as the identity on the coarse result.

    Args:
        feat_dim: channels of the level-1 features (divisible by ``(s/2)²``).
        stride: ``s``, the resolution ratio between the image and the features (2 or 4).
        width: hidden channels.
        blocks: residual conv blocks.
        in_maps: full-resolution single-channel maps the block sees (:meth:`maps`).
        out_maps: full-resolution maps it predicts.
        cond_dim: length of a per-image conditioning vector (0 = none). When set, a two-layer
            MLP (``cond_hidden`` units, last layer zero-initialised) maps it to a per-channel
            scale and shift of the hidden features before and after the residual blocks
            (FiLM, Perez et al., AAAI 2018): ``x ← x·(1 + γ) + β``.
        cond_hidden: hidden units of that MLP.

    Shape:
        ``img``, ``coarse`` ``(B, 1, H, W)``, ``feat (B, feat_dim, H/s, W/s)`` → ``(B, 1, H, W)``;
        ``cond`` ``(B, cond_dim)``.
    """

    def __init__(
        self, feat_dim: int, stride: int, width: int = 16, blocks: int = 1, in_maps: int = 2, out_maps: int = 1,
        cond_dim: int = 0, cond_hidden: int = 16,
    ) -> None:
        super().__init__()
        if stride not in (2, 4) or feat_dim % (stride // 2) ** 2:
            raise InputError(f"tgecnet: detail_refine and fusion_refine need stem_stride 2 or 4 and level-1 width divisible by (stride/2)^2, got stride {stride}, width {feat_dim}")
        up = stride // 2
        self.in_maps, self.out_maps = in_maps, out_maps
        self.feat_up = nn.PixelShuffle(up) if up > 1 else nn.Identity()
        self.unshuffle = nn.PixelUnshuffle(2)
        self.inp = nn.Conv2d(4 * in_maps + feat_dim // up**2, width, 3, padding=1)
        self.body = nn.Sequential(*[ResidualBlock(width) for _ in range(blocks)])
        self.out = nn.Sequential(nn.Conv2d(width, 4 * out_maps, 3, padding=1), nn.PixelShuffle(2))
        nn.init.zeros_(self.out[0].weight)
        nn.init.zeros_(self.out[0].bias)
        self.cond: nn.Sequential | None = None
        if cond_dim:
            self.cond = nn.Sequential(nn.Linear(cond_dim, cond_hidden), nn.ReLU(inplace=True), nn.Linear(cond_hidden, 4 * width))
            nn.init.zeros_(self.cond[2].weight)
            nn.init.zeros_(self.cond[2].bias)

    def maps(self, images: Tensor, feat: Tensor, cond: Tensor | None = None) -> Tensor:
        """``(B, in_maps, H, W)`` full-resolution inputs + features (+ ``cond (B, cond_dim)`` when
        the block was built with ``cond_dim``) → ``(B, out_maps, H, W)`` (zero at init)."""
        if (cond is None) != (self.cond is None):
            raise InputError(f"tgecnet: {type(self).__name__} built with cond_dim {0 if self.cond is None else self.cond[0].in_features} got {'no' if cond is None else 'a'} conditioning vector")
        x = F.relu(self.inp(torch.cat([self.unshuffle(images), self.feat_up(feat)], 1)))
        if self.cond is None or cond is None:
            return self.out(self.body(x))
        g1, b1, g2, b2 = self.cond(cond)[:, :, None, None].chunk(4, 1)
        x = self.body(x * (1 + g1) + b1)
        return self.out(x * (1 + g2) + b2)

    def forward(self, img: Tensor, coarse: Tensor, feat: Tensor) -> Tensor:
        return coarse + self.maps(torch.cat([img, coarse], 1), feat)


class FusionRefine(DetailRefine):
    """Half-resolution fusion head predicting a per-pixel weight map (mmfuse addition).

    The code's fusion output ``θ·V + γ·I + head(F)`` computes the fused image at ``H/s`` on top of
    a fixed-weight sum of the restored sources; with a stride-4 stem the head cannot cancel that
    sum's excess low-pass exactly nor pick the stronger edge per pixel (docs/models/tgecnet.md).
    This block sees the restored sources and the coarse fused image (pixel-unshuffled) and the
    fusion features at ``H/2``, and predicts for every full-resolution pixel a weight ``w`` and a
    correction ``c``:

    ``F = w·V + (1 − w)·I + c``,  ``w = sigmoid(l)``.

    Zero-initialised, it starts as the pixel average of the restored sources; the convex part
    keeps the fused intensity between the sources (no halo or overshoot), the correction lets it
    leave that range where the losses ask for it.

    With ``cond_dim`` (TGECNet ``fusion_condition``) the head's hidden features are also scaled and
    shifted per image from a conditioning vector, in TG-ECNet the degradation probe's
    probabilities for both inputs (:func:`probe_probabilities`): the same head can then weigh
    the sources differently when, say, the visible image was blurred or very noisy.

    With ``detail_sigma`` > 0 (TGECNet ``fusion_detail_sigma``) the sources are split into a base
    ``X_b = G_σ * X`` (Gaussian blur) and a detail layer ``X_d = X − X_b``, each mixed with its own
    weight, as in two-scale and pyramid fusion (e.g. Li et al.'s GFF, IEEE TIP 2013):

    ``F = w·V_b + (1 − w)·I_b + w_d·V_d + (1 − w_d)·I_d + c``,  ``w_d = sigmoid(l + l_d)``,

    so the intensity mix (what the correlation and error metrics against both sources see) and the
    choice of fine structure (what the edge metrics see) need not be the same. ``l_d`` is a third
    zero-initialised map: the head starts as the one-weight head.

    Shape:
        ``vis``, ``ir``, ``coarse`` ``(B, 1, H, W)``, ``feat (B, feat_dim, H/s, W/s)``, optional
        ``cond (B, cond_dim)`` → fused ``(B, 1, H, W)`` and weight map ``w (B, 1, H, W)``.
    """

    def __init__(
        self, feat_dim: int, stride: int, width: int = 16, blocks: int = 1, cond_dim: int = 0, cond_hidden: int = 16,
        detail_sigma: float = 0.0,
    ) -> None:
        if detail_sigma < 0:
            raise InputError(f"tgecnet: fusion_detail_sigma must be >= 0, got {detail_sigma}")
        super().__init__(
            feat_dim, stride, width, blocks, in_maps=3, out_maps=3 if detail_sigma else 2, cond_dim=cond_dim, cond_hidden=cond_hidden
        )
        self.detail_sigma = float(detail_sigma)

    def forward(self, vis: Tensor, ir: Tensor, coarse: Tensor, feat: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        maps = self.maps(torch.cat([vis, ir, coarse], 1), feat, cond)
        logit, corr = maps[:, 0:1], maps[:, 1:2]
        w = torch.sigmoid(logit)
        if not self.detail_sigma:
            return w * vis + (1 - w) * ir + corr, w
        w_d = torch.sigmoid(logit + maps[:, 2:3])
        radius = max(1, min(math.ceil(3 * self.detail_sigma), min(vis.shape[-2:]) - 1))  # reflect padding needs radius < size
        vis_b, ir_b = kornia.filters.gaussian_blur2d(
            torch.cat([vis, ir], 0), (2 * radius + 1, 2 * radius + 1), (self.detail_sigma, self.detail_sigma), border_type="reflect"
        ).chunk(2, 0)
        return w * vis_b + (1 - w) * ir_b + w_d * (vis - vis_b) + (1 - w_d) * (ir - ir_b) + corr, w


def _per_image(fn: Callable[[int], _T], n: int) -> list[_T]:
    """``[fn(0), ..., fn(n - 1)]``, one thread per image (up to the CPU count): the NumPy steps of
    the probe-gated experts (medians of the column profiles, FFTs of the blur-radius estimate)
    release the GIL, so the two images of a pair are handled at once while the network waits
    (column statistics of a 640x480 pair: ~40 -> ~23 ms)."""
    workers = min(n, os.cpu_count() or 1)
    if workers <= 1:
        return [fn(i) for i in range(n)]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, range(n)))


class ProbeGatedExpert(nn.Module):
    """A restoration expert for one degradation, weighted by the probe (mmfuse addition).

    TG-ECNet's gates pick experts per token from the task prompt without labels. This expert is
    instead switched per image by the degradation probe: its :class:`DetailRefine`-shaped body
    predicts a correction of the restored image at ``H/2``, weighted by

    ``g = sigmoid(exp(G·a)·l + G·b)``,

    where ``l`` is the probe's (detached) logit of the degradation and ``a``, ``b`` are learned
    with the expert (zero-initialised: ``g`` starts as the probe's probability). The probe is
    trained to name the degradation, not to say where the expert helps; the learned slope and
    offset let the restoration loss sharpen the switch (close it on images the probe is unsure
    about, where the correction hurts). ``G = 8`` scales the two scalars so that Adam's steps of
    about ``lr`` move them over their useful range within a stage.

    With ``deconv`` (defocus), the expert first deconvolves the coarse restoration with a disk PSF
    whose radius is estimated per image from the zeros of its spectrum
    (:func:`mmfuse.restore.estimate_defocus_radius`) by a Wiener–Hunt filter with a learnt
    regularisation ``λ`` (:func:`mmfuse.nn.deconv.disk_wiener`), and the body, which also sees
    the deconvolved image, corrects it: correction = ``G·k·(wiener − coarse) + body``. The gain
    ``k`` is learnt and 0 in a fresh model, so that the expert is a no-op (like the plain experts)
    in the stages that train the rest of the network with the experts frozen; ``G = 8`` as for
    the gate. With ``deconv_bank`` (multipliers ``m_j``), the body also sees the deconvolutions
    with the balances ``m_j·λ`` (one FFT, :func:`mmfuse.nn.deconv.wiener_hunt`): a small ``λ``
    restores edges, a large one keeps flat regions free of ringing, and the body can pick per
    pixel what no single ``λ`` gives. A restoration
    network of this size learns little deblurring by itself (docs/models/tgecnet.md); with the
    explicit deconvolution it only has to remove the filter's ringing and noise (the "deep Wiener
    deconvolution" idea, Dong et al., NeurIPS 2020).

    With ``columns`` (stripes), the expert uses the fixed-pattern model of column noise, an
    offset constant down each whole column. The classical destriper's column profile ``p`` of
    the degraded image (:func:`mmfuse.restore.stripe_profile`: median of the horizontal
    differences over all rows, integrated, high-passed) serves three ways: (1) the gate also
    opens on its amplitude ``m = std(p)`` (:func:`mmfuse.restore.stripe_amplitude`),
    ``g = max(g_probe, sigmoid(4·exp(G·a_c)·(log(m/m_0) − G·b_c)))`` with ``m_0 = 2.5/255`` (the
    cascade's blind stripe threshold) and ``a_c``, ``b_c`` learnt (0 at init), so that stripes
    are removed even where the probe, which keys on the white noise that comes with DeMMI-RF's
    stripes, misses them; (2) the body also sees the classically destriped image ``img − p``;
    (3) besides its local correction, the body predicts a per-pixel estimate ``s`` of the column
    offset and a confidence logit ``q``, and the offset removed from column ``x`` is their
    confidence-weighted mean down the whole column, ``o(x) = Σ_y softmax_y(q)·s`` (a local window
    cannot tell a stripe from a vertical edge; the column can). The extra maps start at 0. With
    ``column_floor``, ``m`` is first corrected for white noise, ``sqrt(max(m² − f², 0))`` with
    ``f`` the profile's noise floor (:func:`mmfuse.restore.stripe_noise_floor`): the profile is
    estimated from noisy rows, and strong noise alone (σ = 50/255) raised ``m`` to 2.4-5.9/255 on
    the `val` images, opening the gate on some unstriped ones.

    With ``cond_dim``, the body is conditioned (FiLM, :class:`DetailRefine`) on a per-image vector
    passed to :meth:`maps`, the probe's probabilities in :class:`TGECNet` (a denoising expert
    learns its strength per predicted noise level).

    With ``fine`` (hidden channels), a thin full-resolution stage (three 3×3 convolutions, the last
    zero-initialised) adds a last correction from the body's full-resolution inputs and the
    corrected image: the body works at ``H/2`` and emits its correction through a pixel shuffle,
    which limits how well it can shape single-pixel structure (ringing, restored edges).

    Shape:
        ``gate(logit (B,), amplitude (B,) | None)`` → ``(B,)``; ``maps(images (B, 2, H, W) =
        [degraded, coarse], feat)`` → ``(B, 1, H, W)`` as :meth:`DetailRefine.maps`.
    """

    GATE_GAIN: ClassVar[float] = 8.0
    BALANCE_INIT: ClassVar[float] = 0.012  # Wiener-Hunt lambda at init (the classical deblur_wiener's base value)
    TV_WEIGHT_INIT: ClassVar[float] = 5e-4  # TV weight at init with deconv_prior "tv" (about the best single value on 2-5 px disks)

    COLUMN_AMPLITUDE: ClassVar[float] = STRIPE_THRESHOLD  # m_0 = 2.5/255: the cascade's blind stripe threshold
    COLUMN_SLOPE: ClassVar[float] = 4.0

    def __init__(
        self,
        feat_dim: int,
        stride: int,
        width: int,
        blocks: int = 1,
        deconv: bool = False,
        columns: bool = False,
        deconv_bank: Sequence[float] = (),
        column_floor: bool = False,
        fine: int = 0,
        deconv_prior: str = "laplacian",
        cond_dim: int = 0,
    ) -> None:
        super().__init__()
        if deconv_prior not in ("laplacian", "tv"):
            raise InputError(f"tgecnet: deconv_prior must be 'laplacian' (Wiener-Hunt) or 'tv', got {deconv_prior!r}")
        if deconv_prior == "tv" and deconv_bank:
            raise InputError("tgecnet: deconv_bank is a bank of Wiener-Hunt balances; it needs deconv_prior 'laplacian'")
        if deconv and columns:
            raise InputError("tgecnet: a probe-gated expert is either deconvolving (defocus) or column-pooling (stripe), not both")
        bank = tuple(float(m) for m in deconv_bank)
        if bank and not deconv:
            raise InputError("tgecnet: deconv_bank needs a deconvolving expert")
        if any(not (math.isfinite(m) and m > 0) for m in bank):
            raise InputError(f"tgecnet: deconv_bank multipliers must be > 0, got {list(bank)}")
        if column_floor and not columns:
            raise InputError("tgecnet: column_floor needs a column-pooling expert")
        self.deconv = deconv
        self.deconv_prior = deconv_prior
        self.columns = columns
        self.deconv_bank = bank
        self.column_floor = column_floor
        in_maps = 2 + (1 + len(bank) if deconv else 0) + (1 if columns else 0)
        self.body = DetailRefine(feat_dim, stride, width, blocks, in_maps=in_maps, out_maps=3 if columns else 1, cond_dim=cond_dim)
        self.fine: nn.Sequential | None = None
        if fine:
            self.fine = nn.Sequential(
                nn.Conv2d(in_maps + 1, fine, 3, padding=1), nn.ReLU(), nn.Conv2d(fine, fine, 3, padding=1), nn.ReLU(), nn.Conv2d(fine, 1, 3, padding=1)
            )
            nn.init.zeros_(self.fine[-1].weight)
            nn.init.zeros_(self.fine[-1].bias)
        self.gate_slope = nn.Parameter(torch.zeros(1))
        self.gate_offset = nn.Parameter(torch.zeros(1))
        if columns:
            self.column_slope = nn.Parameter(torch.zeros(1))
            self.column_offset = nn.Parameter(torch.zeros(1))
        if deconv:
            init = self.BALANCE_INIT if deconv_prior == "laplacian" else self.TV_WEIGHT_INIT
            self.log_balance = nn.Parameter(torch.tensor([math.log(init)]))
            self.deconv_gain = nn.Parameter(torch.zeros(1))

    def gate(self, logit: Tensor, amplitude: Tensor | None = None) -> Tensor:
        """``(B,)`` weight from the probe's logit and, for a ``columns`` expert, the images'
        column-offset amplitudes ``(B,)`` (``[0, 1]`` scale; see the class docstring)."""
        g = torch.sigmoid(torch.exp(self.GATE_GAIN * self.gate_slope) * logit + self.GATE_GAIN * self.gate_offset)
        if self.columns and amplitude is not None:
            return torch.maximum(g, self.column_gate(amplitude))
        return g

    def column_gate(self, amplitude: Tensor) -> Tensor:
        """``(B,)`` gate of a ``columns`` expert from the column-offset amplitudes ``(B,)``."""
        z = torch.log(amplitude.clamp_min(1e-6) / self.COLUMN_AMPLITUDE) - self.GATE_GAIN * self.column_offset
        return torch.sigmoid(self.COLUMN_SLOPE * torch.exp(self.GATE_GAIN * self.column_slope) * z)

    @staticmethod
    def column_profiles(img: Tensor) -> Tensor:
        """Classical column-offset profile (:func:`mmfuse.restore.stripe_profile`) of each
        ``(B, 1, H, W)`` image, ``(B, 1, 1, W)`` (not differentiable); its std over ``W`` is the
        image's stripe amplitude."""
        return ProbeGatedExpert._profiles_and_floors(img, False)[0]

    def column_statistics(self, img: Tensor) -> tuple[Tensor, Tensor]:
        """Column profiles ``(B, 1, 1, W)`` (:meth:`column_profiles`) of the ``(B, 1, H, W)``
        images and their amplitudes ``(B,)``: the profiles' std, noise-corrected with
        ``column_floor`` (see the class docstring)."""
        profiles, floor = self._profiles_and_floors(img, self.column_floor)
        amp = profiles.std(-1, unbiased=False).flatten()
        return profiles, amp if floor is None else (amp.square() - floor.square()).clamp_min(0).sqrt()

    @staticmethod
    def _profiles_and_floors(img: Tensor, floors: bool) -> tuple[Tensor, Tensor | None]:
        x = img.detach().float().clamp(0, 1).cpu().numpy()
        stats = _per_image(lambda i: stripe_profile_and_floor(x[i, 0]) if floors else (stripe_profile(x[i, 0]), 0.0), x.shape[0])
        profiles = torch.from_numpy(np.stack([p for p, _ in stats])).to(img.dtype).to(img.device)[:, None, None, :]
        return profiles, profiles.new_tensor([f for _, f in stats]) if floors else None

    @staticmethod
    def blur_radii(coarse: Tensor) -> list[float]:
        """Estimated disk radius (pixels) of each ``(B, 1, H, W)`` image (not differentiable)."""
        x = coarse.detach().float().clamp(0, 1).cpu().numpy()
        return _per_image(lambda i: estimate_defocus_radius(x[i, 0]), x.shape[0])

    def maps(
        self, images: Tensor, feat: Tensor, radii: Sequence[float] | None = None, profiles: Tensor | None = None, cond: Tensor | None = None
    ) -> Tensor:
        """Correction ``(B, 1, H, W)``; ``radii``: the blur radii of a ``deconv`` expert
        (default: :meth:`blur_radii` of the coarse restoration ``images[:, 1:2]``); ``profiles``:
        the column profiles of a ``columns`` expert (default: :meth:`column_profiles` of the
        degraded image ``images[:, :1]``); ``cond`` ``(B, cond_dim)``: the conditioning vector of
        an expert built with ``cond_dim`` (FiLM of its body, :class:`DetailRefine`)."""
        if self.columns:
            profiles = self.column_profiles(images[:, :1]) if profiles is None else profiles
            inputs = torch.cat([images, images[:, :1] - profiles], 1)
            local, offset, logit = self.body.maps(inputs, feat, cond).unbind(1)
            column = (torch.softmax(logit, dim=1) * offset).sum(1, keepdim=True)  # (B, W): weighted mean down each column
            corr = (local + column)[:, None]
        elif not self.deconv:
            inputs = images
            corr = self.body.maps(images, feat, cond)
        else:
            coarse = images[:, 1:2]
            radii = self.blur_radii(coarse) if radii is None else radii
            balance = self.log_balance.exp().squeeze(0)
            if self.deconv_bank:
                balance = balance * balance.new_tensor((1.0, *self.deconv_bank))
            if self.deconv_prior == "tv":
                wiener = disk_tv(coarse, radii, balance)  # (B, 1, H, W); "wiener" = the deconvolution, whichever prior
            else:
                wiener = disk_wiener(coarse, radii, balance)  # (B, 1 + len(bank), H, W), the learnt λ first
            inputs = torch.cat([images, wiener], 1)
            corr = self.GATE_GAIN * self.deconv_gain * (wiener[:, :1] - coarse) + self.body.maps(inputs, feat, cond)
        if self.fine is None:
            return corr
        return corr + self.fine(torch.cat([inputs, images[:, 1:2] + corr], 1))


class HazeExpert(nn.Module):
    """Smooth local affine dehazing of the restored image (mmfuse addition, not in TG-ECNet).

    The scattering model ``I = J·t + A·(1 − t)`` (Koschmieder) inverts to an affine map per pixel,
    ``J = I/t − A(1/t − 1)``, whose coefficients vary as smoothly as the transmission ``t``. This
    expert predicts such a map on a coarse grid (cells of ``cell`` pixels) and applies it to the
    coarse restoration ``R``:

    ``J = exp(a)·R + b``,  ``(a, b) = head(cell statistics)`` upsampled bilinearly,

    then, like :class:`ProbeGatedExpert`, a :class:`DetailRefine`-shaped body (which also sees
    ``J``) corrects the result. The head sees, per cell, the mean and standard deviation of ``R``
    (haze pulls the mean towards the airlight and divides the contrast by ``1/t``), the same
    statistics of the whole image (the airlight of DeMMI-RF's haze is the image mean, paper App.
    A.1) and the level-1 features average-pooled to the grid; five 3×3 convs give it a receptive
    field of 11 cells. The airlight is not assumed: ``b`` absorbs it. Both outputs are
    zero-initialised (``J = R``) and the expert is not gated by the probe, which does not see
    DeMMI-RF haze (docs/models/tgecnet.md): the map itself must stay at the identity on images
    without haze, which its training data (hazy, clean and otherwise degraded crops, degraded
    as whole images before cropping so that the haze statistics match whole test images) teaches.
    At inference the model applies it only to images whose mean gain is above 1.05 (dehazing
    raises contrast; the trained map lowers it slightly on noisy images, which cost 0.4 dB at
    σ = 50 on the ``val`` pairs when applied).

    Args:
        feat_dim: channels of the level-1 features.
        stride: ``s``, the resolution ratio between the image and the features.
        width: hidden channels of the body; the head uses ``2·width``.
        cell: grid cell side in pixels (a multiple of ``s``).

    Shape:
        ``forward(img, coarse (B, 1, H, W), feat (B, feat_dim, H/s, W/s))`` →
        ``(restored (B, 1, H, W), gain (B,))``: ``gain`` is the mean contrast gain ``exp(a)``
        over the image (1 = no dehazing), reported by ``--report``.
    """

    def __init__(self, feat_dim: int, stride: int, width: int = 16, cell: int = 16) -> None:
        super().__init__()
        if cell % stride:
            raise InputError(f"tgecnet: haze_expert cell {cell} must be a multiple of stem_stride {stride}")
        self.cell = cell
        hw = 2 * width
        layers: list[nn.Module] = [nn.Conv2d(feat_dim + 4, hw, 3, padding=1), nn.LeakyReLU(0.1)]
        for _ in range(3):
            layers += [nn.Conv2d(hw, hw, 3, padding=1), nn.LeakyReLU(0.1)]
        layers.append(nn.Conv2d(hw, 2, 3, padding=1))
        self.head = nn.Sequential(*layers)
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)
        self.body = DetailRefine(feat_dim, stride, width, 1, in_maps=3)

    def affine(self, coarse: Tensor, feat: Tensor) -> tuple[Tensor, Tensor]:
        """Log-gain ``a`` and offset ``b`` ``(B, 1, H, W)`` of the dehazing map."""
        h, w = coarse.shape[-2:]
        c = self.cell
        x = F.pad(coarse, (0, (-w) % c, 0, (-h) % c), mode="replicate")
        mean = F.avg_pool2d(x, c)
        std = (F.avg_pool2d(x * x, c) - mean * mean).clamp_min(1e-8).sqrt()
        g_mean = coarse.mean(dim=(-2, -1), keepdim=True).expand_as(mean)
        g_std = coarse.std(dim=(-2, -1), keepdim=True).expand_as(mean)
        f = F.adaptive_avg_pool2d(feat, mean.shape[-2:])
        ab = self.head(torch.cat([mean, std, g_mean, g_std, f], 1))
        ab = F.interpolate(ab, size=x.shape[-2:], mode="bilinear", align_corners=False)[..., :h, :w]
        return ab[:, :1], ab[:, 1:]

    def _dehaze(self, img: Tensor, coarse: Tensor, feat: Tensor, gain: Tensor, b: Tensor) -> Tensor:
        dehazed = gain * coarse + b
        return dehazed + self.body.maps(torch.cat([img, coarse, dehazed], 1), feat)

    def forward(self, img: Tensor, coarse: Tensor, feat: Tensor, min_gain: float | None = None) -> tuple[Tensor, Tensor]:
        """``min_gain``: leave images whose mean gain is not above it unchanged (and do not run
        the body for them); dehazing raises contrast (``1/t ≥ 1``), so a map that barely changes
        it or lowers it is not removing haze."""
        a, b = self.affine(coarse, feat)
        gain = a.exp()
        mean_gain = gain.mean(dim=(1, 2, 3))
        keep = None if min_gain is None else mean_gain > min_gain
        if keep is None or bool(keep.all()):
            return self._dehaze(img, coarse, feat, gain, b), mean_gain
        on = keep.nonzero().flatten()
        if not on.numel():
            return coarse, mean_gain
        return coarse.index_copy(0, on, self._dehaze(img[on], coarse[on], feat[on], gain[on], b[on])), mean_gain


def _with_highpass(x: Tensor) -> Tensor:
    """``[x ; 10·(x − box3(x))]``: the image and its (amplified) 3×3 high-pass residual, ``(B, 2, H, W)``."""
    return torch.cat([x, 10.0 * (x - F.avg_pool2d(x, 3, 1, 1, count_include_pad=False))], dim=1)


class DegradationEstimator(nn.Module):
    """Small CNN naming the degradation of a single-channel image (mmfuse addition).

    Input: the image and its amplified 3×3 high-pass residual (noise and stripes live there; a
    conv stack on the raw image alone did not learn to see σ = 50 noise within our CPU budget,
    see docs/models/tgecnet.md); three 3×3 convs (the last two with stride 2) with LeakyReLU(0.1),
    mean and standard-deviation pooling, one linear layer to the probe logits (4-way noise level +
    haze, defocus, stripe).

    Args:
        width: conv channels.

    Shape:
        ``(B, 1, H, W)`` → ``(B, 7)`` logits.
    """

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(2, width, 3, padding=1),
            nn.LeakyReLU(0.1),
            nn.Conv2d(width, width, 3, stride=2, padding=1),
            nn.LeakyReLU(0.1),
            nn.Conv2d(width, width, 3, stride=2, padding=1),
            nn.LeakyReLU(0.1),
        )
        self.head = nn.Linear(2 * width, _PROBE_OUTPUTS)

    def forward(self, x: Tensor) -> Tensor:
        f = self.body(_with_highpass(x))
        return self.head(torch.cat([f.mean(dim=(-2, -1)), f.std(dim=(-2, -1))], dim=1))


def _blocks(n: int, dim: int, heads: int, ffn: float, bias: bool, kind: str = "transformer") -> nn.Sequential:
    if kind == "conv":
        return nn.Sequential(*[ResidualBlock(dim, bias=True) for _ in range(n)])
    return nn.Sequential(*[TransformerBlock(dim, heads, ffn, bias) for _ in range(n)])


@register_arch("tgecnet")
class TGECNet(nn.Module):
    """TG-ECNet (Sun et al., ICML 2025): degradation-aware restoration experts + fusion-aware gating.

    Args:
        dim: channels ``d`` of level 1 (levels: d, 2d, 4d, 8d). Paper 48.
        num_blocks: transformer blocks of encoder levels 1-3 and the latent (the decoder levels
            mirror the encoder). Paper [4, 6, 6, 8].
        num_refinement_blocks: refinement blocks (restoration and fusion). Paper 4.
        heads: MDTA heads per level. Paper [1, 2, 4, 8].
        ffn_expansion_factor: GDFN expansion. Paper 2.66.
        bias: conv biases in the transformer blocks (paper False).
        stem_stride: 1 = the paper's 3×3 stem at full resolution; 2 = pixel-unshuffle stem
            (level 1 at H/2; CPU configs).
        level1_reduce: reduce the level-1 skip concatenation to ``d`` (CPU configs); the paper
            keeps ``2d``.
        level1_block: ``"transformer"`` (paper) or ``"conv"`` (residual 3×3 conv blocks, He et
            al. CVPR 2016) for every full-feature-resolution stage: encoder level 1, decoder
            level 1, refinement, fusion decoder and fusion refinement (CPU configs).
        num_experts: experts ``N`` per TaskMoE. Paper 11.
        top_k: experts ``K`` per token. Paper 6.
        expert_ffn: experts' hidden width factor (code 2.66).
        moe_combine: ``"linear"`` (paper) or ``"logspace"`` (code).
        moe_dispatch: ``"sparse"`` or ``"dense"`` expert evaluation (same result; see
            :class:`TaskMoE`).
        moe_levels: encoder levels (1-3) with a restoration TaskMoE; ``[]`` is the ablation "w/o
            restoration experts".
        task_gating: gate on ``[token ; prompt]`` (``False``: ablation "w/o task-aware gating").
        fusion_moe: use the fusion TaskMoE (``False``: ablation "w/o fusion experts").
        stage2_use_moe1: use the level-1 restoration MoE in the fusion forward (paper; the code
            bypasses it in stage 2).
        fusion_residual: add ``θ·Î_V + γ·Î_I`` to the fusion output (code).
        stage2_grad_loss: ``"intended"`` or ``"code_order"`` (see module docstring).
        atom_num, atom_dim, prompt_hidden, prompt_cond: TaskPrompt sizes (paper 32, 256, 64, 32).
        decoder_prompts: use PromptIR prompt blocks in the decoder (code).
        prompt_levels: decoder levels (1-3) that get a prompt block when ``decoder_prompts``
            (code: all three).
        prompt_dims: PromptIR prompt channels for decoder levels 1-3 (code 64, 128, 320).
        prompt_len: PromptIR prompt components (code 5).
        prompt_sizes: PromptIR prompt sizes for levels 1-3 (code 64, 32, 16).
        prompt_heads: heads of the transformer blocks after the prompt concatenation (code 4).
        fusion_blocks: fusion level-1 decoder blocks (code 4).
        chroma_head: restore the visible chroma (mmfuse addition; the model then outputs RGB).
        chroma_width: hidden channels of the chroma head.
        degradation_probe: predict the degradation from the task prompt (mmfuse addition).
        probe_detach: train the probe on a detached prompt (the gate stays label-free as in the
            paper); ``False`` lets the label loss shape the prompt.
        probe_input: ``"prompt"``: a linear probe on the task prompt (what the gate saw);
            ``"image"``: a separate :class:`DegradationEstimator` on the input image (used when
            the prompt carries no degradation information, as in the shipped small model).
        probe_width: channels of the :class:`DegradationEstimator`.
        prompt_highpass: feed the task prompt's CNN the image and its high-pass residual (2
            channels) instead of the image alone (mmfuse option to make the gate see noise and
            stripes; not in the paper).
        detail_refine: hidden channels of a :class:`DetailRefine` stage after the restoration
            head (mmfuse addition for pixel-unshuffle stems; 0 = off, the paper's layout).
        fusion_refine: hidden channels of a :class:`FusionRefine` head after the fusion output
            (mmfuse addition for pixel-unshuffle stems; 0 = off, the paper's layout). The fused
            image is then ``w·Î_V + (1 − w)·Î_I + c`` with per-pixel ``w`` and ``c``.
        fusion_condition: hidden units of an MLP that conditions the :class:`FusionRefine` head on
            the degradation probe's probabilities for both inputs (``2 × 7``, detached; FiLM of
            its hidden features; mmfuse addition, 0 = off). Needs ``fusion_refine`` and
            ``degradation_probe``.
        fusion_detail_sigma: with ``fusion_refine``, split both sources at this Gaussian scale
            (pixels) into base and detail layers mixed with separate weights (mmfuse addition,
            0 = off, one weight for both; :class:`FusionRefine`).
        probe_experts: probe-gated restoration experts (mmfuse addition), e.g.
            ``{"defocus": 16, "stripe": 16}``: per named degradation (``noise``, ``haze``,
            ``defocus``, ``stripe``) a :class:`ProbeGatedExpert` of that width whose correction is
            weighted image by image by a learned function of the probe's logit of the degradation
            (for ``noise``: the log-odds of any noise level, ``logsumexp(l_15, l_25, l_50) −
            l_none``); they run in that order (denoising before deconvolution). Trained alone
            on crops that mostly carry their degradation (stage ``experts`` of the small config),
            they do what one refinement trained on the whole mixture does not learn (deblurring:
            docs/models/tgecnet.md). Needs ``degradation_probe`` and ``detail_refine``.
        probe_expert_blocks: residual blocks of each probe-gated expert, or a map from expert
            name to its block count (absent names: 1).
        probe_expert_condition: experts whose body is conditioned (FiLM) on the probe's
            probabilities of the image (``(B, 7)``, detached; e.g. ``["noise"]``: the denoiser
            learns its strength per noise level).
        probe_expert_deconv: experts (only ``"defocus"``) that start from a Wiener–Hunt
            deconvolution with an estimated disk radius (:class:`ProbeGatedExpert` ``deconv``).
        probe_expert_columns: experts (only ``"stripe"``) that use the column-noise model: a gate
            that also opens on the column-offset amplitude, and offsets pooled down whole columns
            (:class:`ProbeGatedExpert` ``columns``).
        probe_expert_column_floor: the column-pooling expert's gate sees the column-offset
            amplitude corrected for white noise (:class:`ProbeGatedExpert` ``column_floor``).
        probe_expert_fine: per probe-gated expert, hidden channels of a full-resolution last stage
            (:class:`ProbeGatedExpert` ``fine``; e.g. ``{"defocus": 8}``; 0 or absent = none).
        probe_expert_deconv_bank: multipliers of the deconvolving expert's learnt ``λ`` for the
            extra Wiener–Hunt deconvolutions its body sees (:class:`ProbeGatedExpert`
            ``deconv_bank``; e.g. ``[0.25, 4.0]``; empty = one deconvolution).
        probe_expert_deconv_prior: the deconvolving expert's classical step: ``"laplacian"``
            (Wiener–Hunt, the shipped model) or ``"tv"`` (total-variation deconvolution by
            half-quadratic splitting, :func:`mmfuse.nn.deconv.tv_deconvolution`; session 13); its
            weight ``λ`` is learnt in both cases.

    Shape:
        ``forward(ir (B, 1, H, W), vis (B, 1|3, H, W))`` with ``H, W`` multiples of
        :attr:`size_multiple` → dict with ``"fused"`` ``(B, 3, H, W)`` RGB when ``vis`` is RGB
        and the chroma head is on, else ``(B, 1, H, W)``; values in ``[0, 1]``. Also
        ``"fused_y"``, ``"restored_vis"``, ``"restored_ir"`` (``(B, 1, H, W)``), the MoE losses,
        gate weights and probe logits.
    """

    default_loss_weights: ClassVar[dict[str, float]] = {
        "l1": 1.0,
        "mse": 0.0,
        "grad": 10.0,
        "load": 0.1,
        "probe": 0.1,
        "fuse_vis": 1.0,
        "fuse_ir": 1.0,
        "fuse_max": 1.0,
        "fuse_grad": 5.0,
        "fuse_load": 0.1,
        "fuse_ssim": 0.0,
        "fuse_ssim_tang": 0.0,
        "fuse_mean": 0.0,
        "fuse_cc": 0.0,
        "fuse_grad_floor": 0.0,
        "fuse_consist": 0.0,
        "chroma": 1.0,
    }
    STAGES: ClassVar[tuple[str, ...]] = ("restore", "fusion", "joint", "probe")

    def __init__(
        self,
        dim: int = 48,
        num_blocks: list[int] | tuple[int, ...] = (4, 6, 6, 8),
        num_refinement_blocks: int = 4,
        heads: list[int] | tuple[int, ...] = (1, 2, 4, 8),
        ffn_expansion_factor: float = 2.66,
        bias: bool = False,
        stem_stride: int = 1,
        level1_reduce: bool = False,
        level1_block: Literal["transformer", "conv"] = "transformer",
        num_experts: int = 11,
        top_k: int = 6,
        expert_ffn: float = 2.66,
        moe_combine: Literal["linear", "logspace"] = "linear",
        moe_dispatch: Literal["sparse", "dense"] = "sparse",
        moe_levels: list[int] | tuple[int, ...] = (1, 2, 3),
        task_gating: bool = True,
        fusion_moe: bool = True,
        stage2_use_moe1: bool = True,
        fusion_residual: bool = True,
        stage2_grad_loss: Literal["intended", "code_order"] = "intended",
        atom_num: int = 32,
        atom_dim: int = 256,
        prompt_hidden: int = 64,
        prompt_cond: int = 32,
        decoder_prompts: bool = True,
        prompt_levels: list[int] | tuple[int, ...] = (1, 2, 3),
        prompt_dims: list[int] | tuple[int, ...] = (64, 128, 320),
        prompt_len: int = 5,
        prompt_sizes: list[int] | tuple[int, ...] = (64, 32, 16),
        prompt_heads: int = 4,
        fusion_blocks: int = 4,
        chroma_head: bool = False,
        chroma_width: int = 16,
        degradation_probe: bool = False,
        probe_detach: bool = False,
        probe_input: Literal["prompt", "image"] = "prompt",
        probe_width: int = 16,
        prompt_highpass: bool = False,
        detail_refine: int = 0,
        fusion_refine: int = 0,
        fusion_condition: int = 0,
        fusion_detail_sigma: float = 0.0,
        probe_experts: dict[str, int] | None = None,
        probe_expert_blocks: int | Mapping[str, int] = 1,
        probe_expert_condition: Sequence[str] = (),
        probe_expert_deconv: Sequence[str] = (),
        probe_expert_columns: Sequence[str] = (),
        probe_expert_deconv_bank: Sequence[float] = (),
        probe_expert_column_floor: bool = False,
        probe_expert_fine: dict[str, int] | None = None,
        probe_expert_deconv_prior: str = "laplacian",
        haze_expert: int = 0,
    ) -> None:
        super().__init__()
        nb, hd = list(num_blocks), list(heads)
        if len(nb) != 4 or len(hd) != 4:
            raise InputError(f"tgecnet: num_blocks and heads need 4 entries, got {nb} and {hd}")
        if stem_stride not in (1, 2, 4):
            raise InputError(f"tgecnet: stem_stride must be 1, 2 or 4, got {stem_stride}")
        if moe_combine not in ("linear", "logspace"):
            raise InputError(f"tgecnet: moe_combine {moe_combine!r} is unknown; valid: 'linear', 'logspace'")
        if stage2_grad_loss not in ("intended", "code_order"):
            raise InputError(f"tgecnet: stage2_grad_loss {stage2_grad_loss!r} is unknown; valid: 'intended', 'code_order'")
        if any(level not in (1, 2, 3) for level in moe_levels):
            raise InputError(f"tgecnet: moe_levels must be a subset of [1, 2, 3], got {list(moe_levels)}")
        if level1_block not in ("transformer", "conv"):
            raise InputError(f"tgecnet: level1_block {level1_block!r} is unknown; valid: 'transformer', 'conv'")
        if probe_input not in ("prompt", "image"):
            raise InputError(f"tgecnet: probe_input {probe_input!r} is unknown; valid: 'prompt', 'image'")
        experts = dict(probe_experts or {})
        if experts and not (degradation_probe and detail_refine):
            raise InputError("tgecnet: probe_experts need degradation_probe=True (their gate) and detail_refine > 0")
        if set(experts) - set(_EXPERT_NAMES):
            raise InputError(f"tgecnet: probe_experts keys must be in {list(_EXPERT_NAMES)}, got {sorted(experts)}")
        if isinstance(probe_expert_blocks, Mapping):
            if set(probe_expert_blocks) - set(experts) or any(int(b) < 1 for b in probe_expert_blocks.values()):
                raise InputError(f"tgecnet: probe_expert_blocks must be an int or map probe_experts names to block counts >= 1, got {dict(probe_expert_blocks)}")
            expert_blocks = {k: int(probe_expert_blocks.get(k, 1)) for k in experts}
        else:
            expert_blocks = dict.fromkeys(experts, int(probe_expert_blocks))
        conditioned = set(probe_expert_condition)
        if conditioned - {k for k, w in experts.items() if w}:
            raise InputError(f"tgecnet: probe_expert_condition must name probe_experts, got {sorted(conditioned)}")
        deconv = set(probe_expert_deconv)
        if deconv - ({"defocus"} & {k for k, w in experts.items() if w}):
            raise InputError(f"tgecnet: probe_expert_deconv may only name the defocus expert, and it must be in probe_experts; got {sorted(deconv)}")
        if probe_expert_deconv_bank and not deconv:
            raise InputError("tgecnet: probe_expert_deconv_bank needs the deconvolving defocus expert (probe_expert_deconv: [defocus])")
        columns = set(probe_expert_columns)
        if columns - ({"stripe"} & {k for k, w in experts.items() if w}):
            raise InputError(f"tgecnet: probe_expert_columns may only name the stripe expert, and it must be in probe_experts; got {sorted(columns)}")
        if probe_expert_column_floor and not columns:
            raise InputError("tgecnet: probe_expert_column_floor needs the column-pooling stripe expert (probe_expert_columns: [stripe])")
        fine = dict(probe_expert_fine or {})
        if set(fine) - {k for k, w in experts.items() if w} or any(int(w) < 0 for w in fine.values()):
            raise InputError(f"tgecnet: probe_expert_fine must map probe_experts names to widths >= 0, got {fine}")
        if haze_expert and not detail_refine:
            raise InputError("tgecnet: haze_expert needs detail_refine > 0 (it refines the refined restoration)")
        if not 1 <= top_k <= num_experts:
            raise InputError(f"tgecnet: top_k must be in [1, num_experts={num_experts}], got {top_k}")
        d = dim
        self.stem_stride = stem_stride
        self.size_multiple = 8 * stem_stride
        # the fusion branch's task prompt pools level-1 features (H/stem_stride) and needs 9x9 of them
        self.min_size = 9 * stem_stride
        self.vis_mode = "rgb" if chroma_head else "y"
        self.output_mode = "rgb" if chroma_head else "y"
        # TorchFusionMethod keeps the weights in channels-last layout for CPU inference: oneDNN runs
        # the many small-channel 3x3 convolutions faster that way (benchmarks/bench_tgecnet.py
        # --memory-format; docs/models/tgecnet.md, "Speed and memory"); outputs agree to ~1e-6.
        self.channels_last_inference = True
        self.moe_levels = tuple(sorted(set(moe_levels)))
        pl = set(prompt_levels) if decoder_prompts else set()
        if not pl <= {1, 2, 3}:
            raise InputError(f"tgecnet: prompt_levels must be a subset of [1, 2, 3], got {list(prompt_levels)}")
        self.prompt_levels = tuple(sorted(pl))
        self.stage2_use_moe1 = stage2_use_moe1
        self.fusion_residual = fusion_residual
        self.stage2_grad_loss = stage2_grad_loss
        self.probe_detach = probe_detach
        moe_kw = dict(num_experts=num_experts, top_k=top_k, expert_ffn=expert_ffn, combine=moe_combine, task_gating=task_gating, dispatch=moe_dispatch)
        ffn = ffn_expansion_factor

        # ---- restoration network (stage 1; shared by VIS-Y and IR) ----------------------
        self.prompt_highpass = prompt_highpass
        self.probe_input = probe_input
        self.task_prompt = TaskPrompt(2 if prompt_highpass else 1, prompt_hidden, prompt_cond, atom_num, atom_dim)
        self.patch_embed = nn.Sequential(nn.PixelUnshuffle(stem_stride), nn.Conv2d(stem_stride**2, d, 3, padding=1, bias=bias))
        self.degrad_moe = nn.ModuleDict({str(lv): TaskMoE(d * 2 ** (lv - 1), atom_dim, **moe_kw) for lv in self.moe_levels})
        k1 = level1_block
        self.encoder_level1 = _blocks(nb[0], d, hd[0], ffn, bias, k1)
        self.down1_2 = Downsample(d)
        self.encoder_level2 = _blocks(nb[1], 2 * d, hd[1], ffn, bias)
        self.down2_3 = Downsample(2 * d)
        self.encoder_level3 = _blocks(nb[2], 4 * d, hd[2], ffn, bias)
        self.down3_4 = Downsample(4 * d)
        self.latent = _blocks(nb[3], 8 * d, hd[3], ffn, bias)
        p1, p2, p3 = prompt_dims
        s1, s2, s3 = prompt_sizes
        if 3 in pl:
            self.prompt3 = PromptGenBlock(p3, prompt_len, s3, 8 * d)
            self.noise_level3 = TransformerBlock(8 * d + p3, prompt_heads, ffn, bias)
            self.reduce_noise_level3 = nn.Conv2d(8 * d + p3, 4 * d, 1, bias=bias)
            self.up4_3 = Upsample(4 * d)  # 4d -> 2d
            self.reduce_chan_level3 = nn.Conv2d(6 * d, 4 * d, 1, bias=bias)
        else:  # Restormer up-path (no prompt at the latent)
            self.up4_3 = Upsample(8 * d)  # 8d -> 4d
            self.reduce_chan_level3 = nn.Conv2d(8 * d, 4 * d, 1, bias=bias)
        self.decoder_level3 = _blocks(nb[2], 4 * d, hd[2], ffn, bias)
        if 2 in pl:
            self.prompt2 = PromptGenBlock(p2, prompt_len, s2, 4 * d)
            self.noise_level2 = TransformerBlock(4 * d + p2, prompt_heads, ffn, bias)
            self.reduce_noise_level2 = nn.Conv2d(4 * d + p2, 4 * d, 1, bias=bias)
        self.up3_2 = Upsample(4 * d)  # 4d -> 2d
        self.reduce_chan_level2 = nn.Conv2d(4 * d, 2 * d, 1, bias=bias)
        self.decoder_level2 = _blocks(nb[1], 2 * d, hd[1], ffn, bias)
        if 1 in pl:
            self.prompt1 = PromptGenBlock(p1, prompt_len, s1, 2 * d)
            self.noise_level1 = TransformerBlock(2 * d + p1, prompt_heads, ffn, bias)
            self.reduce_noise_level1 = nn.Conv2d(2 * d + p1, 2 * d, 1, bias=bias)
        self.up2_1 = Upsample(2 * d)  # 2d -> d
        w1 = d if level1_reduce else 2 * d
        self.level1_width = w1
        self.reduce_chan_level1 = nn.Conv2d(2 * d, d, 1, bias=bias) if level1_reduce else None
        self.decoder_level1 = _blocks(nb[0], w1, hd[0], ffn, bias, k1)
        self.refinement = _blocks(num_refinement_blocks, w1, hd[0], ffn, bias, k1)
        self.output = nn.Sequential(nn.Conv2d(w1, stem_stride**2, 3, padding=1, bias=bias), nn.PixelShuffle(stem_stride))
        self.detail_refine = DetailRefine(w1, stem_stride, detail_refine) if detail_refine else None
        self.probe_experts = nn.ModuleDict(
            {
                k: ProbeGatedExpert(
                    w1,
                    stem_stride,
                    experts[k],
                    expert_blocks[k],
                    deconv=k in deconv,
                    columns=k in columns,
                    deconv_bank=probe_expert_deconv_bank if k in deconv else (),
                    column_floor=probe_expert_column_floor and k in columns,
                    fine=int(fine.get(k, 0)),
                    deconv_prior=probe_expert_deconv_prior if k in deconv else "laplacian",
                    cond_dim=_PROBE_OUTPUTS if k in conditioned else 0,
                )
                for k in _EXPERT_NAMES
                if experts.get(k)
            }
        )
        self.haze_expert = HazeExpert(w1, stem_stride, haze_expert) if haze_expert else None
        self.probe: nn.Module | None = None
        if degradation_probe:
            self.probe = DegradationEstimator(probe_width) if probe_input == "image" else nn.Linear(atom_dim, _PROBE_OUTPUTS)

        # ---- fusion branch (stage 2) ----------------------------------------------------
        self.param_alpha = nn.Parameter(torch.ones(1, w1, 1, 1))
        self.param_beta = nn.Parameter(torch.ones(1, w1, 1, 1))
        self.param_theta = nn.Parameter(torch.ones(1, 1, 1, 1)) if fusion_residual else None
        self.param_gamma = nn.Parameter(torch.ones(1, 1, 1, 1)) if fusion_residual else None
        self.task_prompt_fusion = TaskPrompt(w1, prompt_hidden, prompt_cond, atom_num, atom_dim) if fusion_moe else None
        self.fusion_moe = TaskMoE(w1, atom_dim, **moe_kw) if fusion_moe else None
        self.decoder_level1_fusion = _blocks(fusion_blocks, w1, hd[0], ffn, bias, k1)
        self.refinement_fusion = _blocks(num_refinement_blocks, w1, hd[0], ffn, bias, k1)
        self.output_fusion = nn.Sequential(nn.Conv2d(w1, stem_stride**2, 3, padding=1, bias=bias), nn.PixelShuffle(stem_stride))
        self.chroma = ChromaHead(w1, chroma_width, atom_dim, stem_stride) if chroma_head else None
        if fusion_condition and not (fusion_refine and degradation_probe):
            raise InputError("tgecnet: fusion_condition needs fusion_refine and degradation_probe")
        cond_dim = 2 * _PROBE_OUTPUTS if fusion_condition else 0
        if fusion_detail_sigma and not fusion_refine:
            raise InputError("tgecnet: fusion_detail_sigma needs fusion_refine")
        self.fusion_refine = (
            FusionRefine(w1, stem_stride, fusion_refine, cond_dim=cond_dim, cond_hidden=fusion_condition or 16, detail_sigma=fusion_detail_sigma)
            if fusion_refine
            else None
        )

    # ------------------------------------------------------------------ parameter groups
    FUSION_PREFIXES: ClassVar[tuple[str, ...]] = (
        "param_alpha",
        "param_beta",
        "param_theta",
        "param_gamma",
        "task_prompt_fusion.",
        "fusion_moe.",
        "decoder_level1_fusion.",
        "refinement_fusion.",
        "output_fusion.",
        "chroma.",
        "fusion_refine.",
    )

    def is_fusion_param(self, name: str) -> bool:
        """Whether parameter ``name`` belongs to the fusion branch (trained in stage 2)."""
        return name.startswith(self.FUSION_PREFIXES)

    def restoration_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """Named parameters of the stage-1 restoration network (frozen in stage 2)."""
        return [(n, p) for n, p in self.named_parameters() if not self.is_fusion_param(n)]

    def fusion_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """Named parameters of the fusion branch (the only ones trained in stage 2)."""
        return [(n, p) for n, p in self.named_parameters() if self.is_fusion_param(n)]

    # ------------------------------------------------------------------ forward parts
    def _check(self, x: Tensor, name: str, channels: tuple[int, ...]) -> None:
        if x.ndim != 4 or x.shape[1] not in channels:
            raise ShapeError(f"tgecnet: {name} must be (B, {'|'.join(map(str, channels))}, H, W), got {tuple(x.shape)}")
        m = self.size_multiple
        if x.shape[-2] % m or x.shape[-1] % m:
            raise ShapeError(f"tgecnet: {name} height and width must be multiples of {m}, got {tuple(x.shape[-2:])}")

    def _moe(self, level: int, x: Tensor, prompt: Tensor, aux: dict[str, Any], use: bool = True) -> Tensor:
        key = str(level)
        if key not in self.degrad_moe:
            return x
        y, loss, gates = self.degrad_moe[key](x, prompt)
        aux["load"] = aux["load"] + loss
        aux[f"gates{level}"] = gates
        return y if use else x

    def restore_features(self, img: Tensor, *, fusion_mode: bool = False) -> tuple[Tensor, dict[str, Any]]:
        """Run the shared encoder-decoder up to (and including) the level-1 decoder.

        Args:
            img: ``(B, 1, H, W)`` degraded single-channel images in ``[0, 1]``.
            fusion_mode: stage-2 forward (honours ``stage2_use_moe1``).

        Returns:
            ``F (B, w1, H/s, W/s)`` level-1 decoder features and ``aux`` with ``"prompt"``
            ``(B, atom_dim)``, ``"load"`` (summed MoE loss), ``"gates<l>"`` ``(B, N)`` and
            ``"probe"`` logits ``(B, 7)`` when the probe is on.
        """
        prompt = self.task_prompt(_with_highpass(img) if self.prompt_highpass else img)
        aux: dict[str, Any] = {"prompt": prompt, "load": img.new_zeros(())}
        if self.probe is not None:
            if self.probe_input == "image":
                aux["probe"] = self.probe(img)
            else:
                aux["probe"] = self.probe(prompt.detach() if self.probe_detach else prompt)
        x = self.patch_embed(img)
        x = self._moe(1, x, prompt, aux, use=not (fusion_mode and not self.stage2_use_moe1))
        e1 = self.encoder_level1(x)
        x = self._moe(2, self.down1_2(e1), prompt, aux)
        e2 = self.encoder_level2(x)
        x = self._moe(3, self.down2_3(e2), prompt, aux)
        e3 = self.encoder_level3(x)
        x = self.latent(self.down3_4(e3))
        if 3 in self.prompt_levels:
            x = self.reduce_noise_level3(self.noise_level3(torch.cat([x, self.prompt3(x)], 1)))
        x = self.decoder_level3(self.reduce_chan_level3(torch.cat([self.up4_3(x), e3], 1)))
        if 2 in self.prompt_levels:
            x = self.reduce_noise_level2(self.noise_level2(torch.cat([x, self.prompt2(x)], 1)))
        x = self.decoder_level2(self.reduce_chan_level2(torch.cat([self.up3_2(x), e2], 1)))
        if 1 in self.prompt_levels:
            x = self.reduce_noise_level1(self.noise_level1(torch.cat([x, self.prompt1(x)], 1)))
        x = torch.cat([self.up2_1(x), e1], 1)
        if self.reduce_chan_level1 is not None:
            x = self.reduce_chan_level1(x)
        return self.decoder_level1(x), aux

    def expert_gate(self, name: str, probe: Tensor, amplitude: Tensor | None = None) -> Tensor:
        """Weight ``(B,)`` of the probe-gated expert ``name`` (:meth:`ProbeGatedExpert.gate` of the
        probe's logit of that degradation, detached: the probe is trained by its label loss only;
        ``amplitude`` ``(B,)``: the column-offset amplitudes a ``columns`` expert's gate also uses).
        Unless the expert itself is in training mode (the stage that trains it), a weight below
        :data:`_EXPERT_SKIP` is set to 0 so that the expert is not run for that image: frozen
        experts (stage 2, ``frozen_eval``) behave as at inference."""
        expert = self.probe_experts[name]
        n = len(NOISE_LEVELS)
        if name == "noise":  # log-odds of "some noise level" under the probe's noise softmax
            logit = torch.logsumexp(probe[:, 1:n], 1) - probe[:, 0]
        else:
            logit = probe[:, n + _GATED.index(name)]
        g = expert.gate(logit.detach().float(), amplitude)
        return g if expert.training else torch.where(g < _EXPERT_SKIP, torch.zeros_like(g), g)

    def restoration_head(self, feat: Tensor, img: Tensor, aux: dict[str, Any] | None = None, haze_images: int | None = None) -> Tensor:
        """Restored image ``output(refinement(F)) + img`` ``(B, 1, H, W)`` (not clipped), then
        the :class:`DetailRefine` correction when it is on, then each probe-gated expert's
        correction weighted by :meth:`expert_gate` (needs ``aux["probe"]``; the gate values are
        stored in ``aux["expert_gates"]``, a dict of ``(B,)``, a deconvolving expert's
        estimated radii in ``aux["blur_radius"]``, a list of ``B`` floats or ``None``, and a
        column-pooling expert's amplitudes in ``aux["column_amplitude"]`` ``(B,)``), then the
        :class:`HazeExpert` when it is on, on the first ``haze_images`` images only (default: all;
        its mean contrast gain per image in ``aux["haze_gain"]``, NaN for the others)."""
        r = self.refinement(feat)
        out = self.output(r) + img
        if self.detail_refine is None:
            return out
        out = self.detail_refine(img, out, r)
        if len(self.probe_experts) and aux is not None and "probe" in aux:
            out = self._probe_experts(out, img, r, aux)
        if self.haze_expert is not None:
            n = out.shape[0] if haze_images is None else haze_images
            gain = out.new_full((out.shape[0],), float("nan"))
            if n:
                # the HAZE_MIN_GAIN rule applies unless the haze expert itself is being trained (a
                # frozen expert in eval mode, as in stage 2, sees what it will see at inference)
                min_gain = None if self.haze_expert.training else HAZE_MIN_GAIN
                dehazed, gain[:n] = self.haze_expert(img[:n], out[:n], r[:n], min_gain)
                out = dehazed if n == out.shape[0] else torch.cat([dehazed, out[n:]], 0)
            if aux is not None:
                aux["haze_gain"] = gain
        return out

    def _probe_experts(self, out: Tensor, img: Tensor, r: Tensor, aux: dict[str, Any]) -> Tensor:
        aux["expert_gates"] = {}
        conditioned = any(e.body.cond is not None for e in self.probe_experts.values())
        probs = probe_probabilities(aux["probe"].detach().float()).to(out.dtype) if conditioned else None  # the conditioned experts' FiLM input
        for name, expert in self.probe_experts.items():
            amp = profiles = None
            if expert.columns:
                profiles, amp = expert.column_statistics(img)
                aux["column_amplitude"] = amp
            g = aux["expert_gates"][name] = self.expert_gate(name, aux["probe"], amp)
            on = (g > 0).nonzero().flatten()
            radii = None
            if expert.deconv and on.numel():
                radii = expert.blur_radii(out[on])
                aux["blur_radius"] = [None] * g.numel()
                for i, rad in zip(on.tolist(), radii):
                    aux["blur_radius"][i] = rad
            cond = probs if expert.body.cond is not None else None
            if on.numel() == g.numel():  # every image: no gather/scatter
                out = out + g[:, None, None, None] * expert.maps(torch.cat([img, out], 1), r, radii, profiles, cond)
            elif on.numel():
                corr = expert.maps(
                    torch.cat([img[on], out[on]], 1), r[on], radii, None if profiles is None else profiles[on], None if cond is None else cond[on]
                )
                out = out.index_add(0, on, g[on, None, None, None] * corr)
        return out

    def restore(self, img: Tensor) -> dict[str, Any]:
        """Stage-1 forward: all-in-one restoration of single-channel images.

        Args:
            img: ``(B, 1, H, W)`` in ``[0, 1]`` (visible luminance or infrared).

        Returns:
            ``{"restored" (B, 1, H, W), "load", "prompt", "gates<l>", "probe"}``.
        """
        self._check(img, "image", (1,))
        feat, aux = self.restore_features(img)
        return {"restored": self.restoration_head(feat, img, aux), **aux}

    def forward(self, ir: Tensor, vis: Tensor) -> dict[str, Any]:
        """Restore both modalities with the shared network and fuse them (stage-2 forward).

        Args:
            ir: ``(B, 1, H, W)`` infrared in ``[0, 1]``.
            vis: ``(B, 1, H, W)`` visible luminance or ``(B, 3, H, W)`` RGB in ``[0, 1]``.

        Returns:
            ``"fused"`` (RGB ``(B, 3, H, W)`` if ``vis`` is RGB and the chroma head is on, else
            ``(B, 1, H, W)``), ``"fused_y"``, ``"restored_vis"``, ``"restored_ir"``,
            ``"cbcr"`` (restored chroma, RGB input only), ``"load"`` (restoration MoEs),
            ``"fusion_load"``, ``"gates"`` (dict of ``(B, N)`` per-image mean expert weights),
            ``"probe_vis"``, ``"probe_ir"``; with ``probe_experts`` ``"expert_gates"`` (name →
            ``(vis (B,), ir (B,))`` gate weights) and ``"blur_radius"`` (``(vis, ir)`` lists of the
            radii estimated by a deconvolving expert, ``None`` where it did not run) and, with a
            column-pooling stripe expert, ``"column_amplitude"`` (``(vis (B,), ir (B,))``); with
            ``haze_expert`` ``"haze_gain"`` ``(B,)``, the mean contrast gain of its map on each
            visible image (it is applied above 1.05, never to the infrared image); with ``fusion_refine`` also ``"weight_vis"``
            ``(B, 1, H, W)``, the per-pixel weight of the restored visible image.
        """
        self._check(ir, "ir", (1,))
        self._check(vis, "vis", (1, 3))
        if ir.shape[0] != vis.shape[0] or ir.shape[-2:] != vis.shape[-2:]:
            raise ShapeError(f"tgecnet: ir {tuple(ir.shape)} and vis {tuple(vis.shape)} differ in batch or size")
        ycc = rgb_to_ycbcr(vis) if vis.shape[1] == 3 else None
        vis_y = ycc[:, :1] if ycc is not None else vis
        b = ir.shape[0]
        feat, aux = self.restore_features(torch.cat([vis_y, ir], 0), fusion_mode=True)
        f_v, f_i = feat[:b], feat[b:]
        # haze is a visible-image degradation (DeMMI-RF; the thermal band sees through it): the
        # haze expert runs on the visible half of the batch only
        rest = self.restoration_head(feat, torch.cat([vis_y, ir], 0), aux, haze_images=b)
        r_v, r_i = rest[:b], rest[b:]
        f_m = self.param_alpha * f_v + self.param_beta * f_i
        out: dict[str, Any] = {"load": aux["load"], "fusion_load": ir.new_zeros(()), "gates": {}}
        if self.fusion_moe is not None and self.task_prompt_fusion is not None:
            p_f = self.task_prompt_fusion(f_m)
            f_m, out["fusion_load"], g = self.fusion_moe(f_m, p_f)
            out["gates"]["fusion"] = g
        h = self.refinement_fusion(self.decoder_level1_fusion(f_m))
        z = self.output_fusion(h)
        if self.param_theta is not None and self.param_gamma is not None:
            z = z + self.param_theta * r_v + self.param_gamma * r_i
        fused_y = z
        if self.fusion_refine is not None:
            cond = None
            if self.fusion_refine.cond is not None:
                probs = probe_probabilities(aux["probe"].detach().float())
                cond = torch.cat([probs[:b], probs[b:]], 1)  # (B, 14): visible, then infrared
            fused_y, out["weight_vis"] = self.fusion_refine(r_v, r_i, z, h, cond)
        for lv in self.moe_levels:
            if f"gates{lv}" in aux:
                g = aux[f"gates{lv}"]
                out["gates"][f"vis_level{lv}"], out["gates"][f"ir_level{lv}"] = g[:b], g[b:]
        if "probe" in aux:
            out["probe_vis"], out["probe_ir"] = aux["probe"][:b], aux["probe"][b:]
        if "expert_gates" in aux:
            out["expert_gates"] = {k: (g[:b], g[b:]) for k, g in aux["expert_gates"].items()}
        if "blur_radius" in aux:
            out["blur_radius"] = (aux["blur_radius"][:b], aux["blur_radius"][b:])
        if "column_amplitude" in aux:
            out["column_amplitude"] = (aux["column_amplitude"][:b], aux["column_amplitude"][b:])
        if "haze_gain" in aux:
            out["haze_gain"] = aux["haze_gain"][:b]
        out.update(fused_y=fused_y, restored_vis=r_v, restored_ir=r_i)
        if ycc is not None and self.chroma is not None:
            cbcr = self.chroma(ycc[:, 1:], vis_y, r_v, f_v, aux["prompt"][:b])
            out["cbcr"] = cbcr
            rgb = ycbcr_to_rgb(torch.cat([fused_y.clamp(0, 1), cbcr], 1))
            out["fused"] = rgb.clamp(0, 1) if not self.training else rgb
        else:
            out["fused"] = fused_y.clamp(0, 1) if not self.training else fused_y
        return out

    def forward_stage(self, stage: str, batch: dict[str, Any]) -> dict[str, Any]:
        """Training forward of ``stage``: ``"restore"`` (stage 1: VIS-Y and IR as single
        restoration samples), ``"fusion"`` (stage 2) or ``"joint"`` (single-stage ablation)."""
        if stage not in self.STAGES:
            raise InputError(f"tgecnet: unknown stage {stage!r}; valid: {', '.join(self.STAGES)}")
        if stage in ("restore", "probe"):
            vis = batch["vis"]
            vis_y = rgb_to_ycbcr(vis)[:, :1] if vis.shape[1] == 3 else vis
            imgs = torch.cat([vis_y, batch["ir"]], 0)
            if stage == "probe":
                if self.probe is None:
                    raise InputError("tgecnet: stage 'probe' needs degradation_probe=True")
                if self.probe_input == "image":
                    return {"probe": self.probe(imgs)}
                return {"probe": self.probe(self.task_prompt(_with_highpass(imgs) if self.prompt_highpass else imgs))}
            return self.restore(imgs)
        return self(batch["ir"], batch["vis"])

    # ------------------------------------------------------------------ losses
    @staticmethod
    def _y(x: Tensor) -> Tensor:
        return rgb_to_ycbcr(x)[:, :1] if x.shape[1] == 3 else x

    @staticmethod
    def labels_from_settings(settings: list[str] | tuple[str, ...], device: torch.device | str = "cpu") -> dict[str, Tensor]:
        """Probe targets ``{"vis_label", "ir_label"}`` ``(B, 4)`` from DeMMI-RF setting names (engine batches
        carry ``"setting"``): the visible image has the noise/haze/defocus parts, the infrared the stripe."""
        vis, ir = [], []
        for name in settings:
            lab = setting_labels(name)
            vis.append([lab["noise"], lab["haze"], lab["defocus"], 0])
            ir.append([0, 0, 0, lab["stripe"]])
        return {"vis_label": torch.tensor(vis, device=device), "ir_label": torch.tensor(ir, device=device)}

    def _probe_loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        """Cross-entropy of the noise head + binary cross-entropy of haze/defocus/stripe.

        ``labels``: ``(B, 4)`` integers ``[noise class, haze, defocus, stripe]``.
        """
        n = len(NOISE_LEVELS)
        ce = F.cross_entropy(logits[:, :n], labels[:, 0].long())
        bce = F.binary_cross_entropy_with_logits(logits[:, n:], labels[:, 1:].float())
        return ce + bce

    def training_losses(
        self, batch: dict[str, Any], outputs: dict[str, Any], stage: str, weights: dict[str, float]
    ) -> dict[str, Tensor]:
        """Losses of TG-ECNet's two stages (spec §3; weights from the authors' code).

        Stage ``"restore"`` (paper eq. 4-5): ``l1·|R − C| + grad·|∇C − ∇R| + load·Σ L_load`` (+
        ``probe·CE`` when the probe is on and ``batch`` has ``"vis_label"``/``"ir_label"``
        ``(B, 4)``; + ``mse·(R − C)²``, an mmfuse option off by default: L1 predicts the median
        correction, i.e. none when a degradation such as mild blur cannot be told from clean
        content, the squared error the mean), on the concatenation [VIS-Y ; IR] of restored ``R``
        and clean ``C``.
        Stage ``"fusion"`` (paper eq. 6, code): ``|F − V_c| + |F − I_c| + |F − max(V_c, I_c)| +
        fuse_grad·L_grad + fuse_load·L_load^Fus`` (+ ``chroma·|CbCr − CbCr_c|`` with the chroma
        head; + ``fuse_ssim·[1 − (SSIM(F, V_c) + SSIM(F, I_c))/2]``, an mmfuse option off by default,
        the two-source SSIM loss common in fusion training, e.g. TC-MoA's L_ssim; +
        ``fuse_ssim_tang·[...]``, the same with the stabilisers of Tang et al.'s toolbox (MATLAB
        ``ssim`` on 0-255 data, dynamic range 1: ``C1, C2`` negligible, flat regions count by the
        correlation of their fine texture), an mmfuse option off by default; +
        ``fuse_mean·|F − (V_c + I_c)/2|``, an mmfuse option off by default: an intensity target
        at the mean of the sources instead of their maximum; + ``fuse_cc·[1 − (CC(F, V_c) +
        CC(F, I_c))/2]``, an mmfuse option off by default, the correlation the fusion metric ``CC``
        measures; + ``fuse_grad_floor·mean max(0, max(∇V_c, ∇I_c) − ∇F)``, an mmfuse option off
        by default: the one-sided part of ``L_grad``, source edges the fused image weakens, which
        is what the artefact measure N_abf counts; + ``fuse_consist·|F − sg(F_c)|``, an mmfuse option
        off by default: ``F_c`` is the fused luminance a frozen copy of the network (the weights
        the stage starts from) gives for the clean pair, so the fused image of a degraded pair is
        pulled towards the one its clean sources would give -- the all-in-one goal stated as a
        target -- instead of the head learning a different, degradation-specific mix).
        Stage ``"joint"``: the sum of both. ``∇`` is the Sobel ``|G_x| + |G_y|``.

        Args:
            batch: ``ir``, ``vis``, ``ir_clean``, ``vis_clean`` (``vis*`` RGB or Y), optional
                ``vis_label``/``ir_label``.
            outputs: :meth:`forward_stage` result.
            stage: ``"restore"``, ``"fusion"`` or ``"joint"``.
            weights: overrides of :attr:`default_loss_weights`.

        Returns:
            Named scalar terms and ``"total"``.
        """
        w = {**self.default_loss_weights, **weights}
        terms: dict[str, Tensor] = {}
        ir_c = batch.get("ir_clean", batch["ir"])
        vis_c_full = batch.get("vis_clean", batch["vis"])
        vis_c = self._y(vis_c_full)
        total = ir_c.new_zeros(())
        if stage == "probe":
            if "vis_label" not in batch and isinstance(batch.get("setting"), (list, tuple)):
                batch = {**batch, **self.labels_from_settings(batch["setting"], ir_c.device)}
            terms["probe"] = self._probe_loss(outputs["probe"], torch.cat([batch["vis_label"], batch["ir_label"]], 0))
            total = w["probe"] * terms["probe"]
        if stage == "restore" or stage == "joint":
            clean = torch.cat([vis_c, ir_c], 0)
            if stage == "restore":
                rest, load = outputs["restored"], outputs["load"]
                probe = outputs.get("probe")
            else:
                rest, load = torch.cat([outputs["restored_vis"], outputs["restored_ir"]], 0), outputs["load"]
                probe = torch.cat([outputs["probe_vis"], outputs["probe_ir"]], 0) if "probe_vis" in outputs else None
            terms["l1"] = F.l1_loss(rest, clean)
            terms["grad"] = F.l1_loss(gradient_magnitude(clean), gradient_magnitude(rest))
            terms["load"] = load
            total = total + w["l1"] * terms["l1"] + w["grad"] * terms["grad"] + w["load"] * terms["load"]
            if w["mse"]:
                terms["mse"] = F.mse_loss(rest, clean)
                total = total + w["mse"] * terms["mse"]
            if probe is not None and "vis_label" not in batch and isinstance(batch.get("setting"), (list, tuple)):
                batch = {**batch, **self.labels_from_settings(batch["setting"], probe.device)}
            if probe is not None and "vis_label" in batch and "ir_label" in batch:
                labels = torch.cat([batch["vis_label"], batch["ir_label"]], 0)
                terms["probe"] = self._probe_loss(probe, labels)
                total = total + w["probe"] * terms["probe"]
        if stage == "fusion" or stage == "joint":
            f = outputs["fused_y"]
            mx = torch.maximum(vis_c, ir_c)
            terms["fuse_vis"] = F.l1_loss(f, vis_c)
            terms["fuse_ir"] = F.l1_loss(f, ir_c)
            terms["fuse_max"] = F.l1_loss(f, mx)
            gf, gv, gi = gradient_magnitude(f), gradient_magnitude(vis_c), gradient_magnitude(ir_c)
            if self.stage2_grad_loss == "intended":
                terms["fuse_grad"] = F.l1_loss(gf, torch.maximum(gv, gi))
            else:
                terms["fuse_grad"] = F.l1_loss(torch.maximum(gi, gf), gv)
            terms["fuse_load"] = outputs["fusion_load"]
            optional = {  # mmfuse options, computed only when their weight is non-zero
                "fuse_ssim": lambda: fusion_ssim_loss(f, ir_c, vis_c),
                "fuse_ssim_tang": lambda: fusion_ssim_loss(f, ir_c, vis_c, data_range=1 / 255),
                "fuse_mean": lambda: F.l1_loss(f, 0.5 * (vis_c + ir_c)),
                "fuse_cc": lambda: correlation_loss(f, ir_c, vis_c),
                "fuse_grad_floor": lambda: torch.relu(torch.maximum(gv, gi) - gf).mean(),  # = gradient_loss(..., side="under")
                "fuse_consist": lambda: F.l1_loss(f, self._clean_fusion(ir_c, vis_c_full)),
            }
            for name, term in optional.items():
                if w[name]:
                    terms[name] = term()
                    total = total + w[name] * terms[name]
            total = (
                total
                + w["fuse_vis"] * terms["fuse_vis"]
                + w["fuse_ir"] * terms["fuse_ir"]
                + w["fuse_max"] * terms["fuse_max"]
                + w["fuse_grad"] * terms["fuse_grad"]
                + w["fuse_load"] * terms["fuse_load"]
            )
            if "cbcr" in outputs and vis_c_full.shape[1] == 3:
                terms["chroma"] = F.l1_loss(outputs["cbcr"], rgb_to_ycbcr(vis_c_full)[:, 1:])
                total = total + w["chroma"] * terms["chroma"]
        if stage not in self.STAGES:
            raise InputError(f"tgecnet: unknown stage {stage!r}; valid: {', '.join(self.STAGES)}")
        terms["total"] = total
        return terms

    def _clean_fusion(self, ir_c: Tensor, vis_c: Tensor) -> Tensor:
        """Fused luminance ``(B, 1, H, W)`` of the clean pair, the target of ``fuse_consist``,
        given by a frozen copy of the network taken at the first call (in a training run: the
        weights the stage starts from, or resumes from), in eval mode as at inference, clipped to
        ``[0, 1]`` like the output a user gets, without gradient. A fixed teacher: with the
        network itself as the target (session 16's first runs) the term also pulled the fusion of
        clean pairs towards that of degraded ones, and at a large weight the fused image and its
        target ran away together."""
        teacher = self.__dict__.get("_consist_teacher")
        if teacher is None:
            teacher = copy.deepcopy(self).eval().requires_grad_(False)
            self.__dict__["_consist_teacher"] = teacher  # not a submodule: no parameters, no state_dict entries
        with torch.no_grad():
            return teacher(ir_c, vis_c)["fused_y"].clamp(0, 1)

    # ------------------------------------------------------------------ gate report
    def describe(self, outputs: dict[str, Any]) -> dict[str, Any]:
        """What the gates saw, for ``mmfuse fuse --report`` (first image of the batch).

        Returns:
            JSON-able dict: ``"degradation"`` (predicted DeMMI-RF setting name, when the probe is
            on), ``"probabilities"`` per degradation, ``"visible"``/``"infrared"`` predictions per
            modality, ``"expert_weights"`` (per gate: the mean weight of each expert over the
            image's pixels, summing to 1), the fusion weights ``θ``, ``γ`` and, with
            ``probe_experts``, ``"probe_experts"`` (per expert the gate weight of the visible and of
            the infrared image) and, when a deconvolving defocus expert ran, ``"blur_radius_px"``
            (the disk radius it estimated per image, ``None`` where it did not run); with
            ``fusion_refine``, ``"visible_weight"``: the mean of the per-pixel weight ``w`` of the
            visible image; with ``haze_expert``, ``"haze_contrast_gain"`` of the visible image (the
            mean of its contrast gain ``exp(a)``; haze is named in ``"degradation"`` when the probe says
            so or when the visible image's gain exceeds 1.05, i.e. when the expert dehazed it,
            its probability then reported as 1); with a column-pooling stripe expert,
            ``"column_amplitude_255"`` (the column-offset amplitude of each image, 0-255 scale;
            stripes are named when the probe or the expert's column gate says so, the larger of
            the two reported as their probability).
        """
        info: dict[str, Any] = {}
        n = len(NOISE_LEVELS)
        if "probe_vis" in outputs and "probe_ir" in outputs:
            pv = probe_probabilities(outputs["probe_vis"][:1].float())[0].tolist()
            pi = probe_probabilities(outputs["probe_ir"][:1].float())[0].tolist()
            noise, sv, si = pv[:n], pv[n:], pi[n:]
            haze, defocus, stripe = sv[0], sv[1], si[2]
            if "haze_gain" in outputs and float(outputs["haze_gain"][0]) > HAZE_MIN_GAIN:
                haze = 1.0  # the haze expert saw haze (and dehazed), even if the probe did not
            if "column_amplitude" in outputs and "stripe" in self.probe_experts:
                with torch.no_grad():
                    col = float(self.probe_experts["stripe"].column_gate(outputs["column_amplitude"][1][:1].float())[0])
                stripe = max(stripe, col)  # the column statistics saw stripes, even if the probe did not
            info["degradation"] = setting_from_probs(noise, haze, defocus, stripe)
            probs = {NOISE_LEVELS[i]: noise[i] for i in range(1, n)}
            probs.update(haze=haze, defocus=defocus, stripe=stripe)
            info["probabilities"] = {k: round(float(v), 4) for k, v in probs.items()}
            info["visible"] = setting_from_probs(noise, haze, defocus, 0.0)
            info["infrared"] = setting_from_probs(pi[:n], si[0], si[1], stripe)
        gates = outputs.get("gates", {})
        info["expert_weights"] = {k: [round(float(x), 4) for x in v[0].tolist()] for k, v in gates.items()}
        if self.param_theta is not None and self.param_gamma is not None:
            info["theta"] = round(float(self.param_theta.detach().reshape(())), 4)
            info["gamma"] = round(float(self.param_gamma.detach().reshape(())), 4)
        if "weight_vis" in outputs:
            info["visible_weight"] = round(float(outputs["weight_vis"][0].mean()), 4)
        if "expert_gates" in outputs:
            info["probe_experts"] = {
                k: {"visible": round(float(gv[0]), 4), "infrared": round(float(gi[0]), 4)} for k, (gv, gi) in outputs["expert_gates"].items()
            }
        if "blur_radius" in outputs:
            rv, ri = outputs["blur_radius"]
            info["blur_radius_px"] = {"visible": rv[0], "infrared": ri[0]}
        if "haze_gain" in outputs:
            info["haze_contrast_gain"] = round(float(outputs["haze_gain"][0]), 4)
        if "column_amplitude" in outputs:
            av, ai = outputs["column_amplitude"]
            info["column_amplitude_255"] = {"visible": round(255 * float(av[0]), 2), "infrared": round(255 * float(ai[0]), 2)}
        return info


register_learned(
    "tgecnet-small",
    arch="tgecnet",
    description="TG-ECNet small (CPU): all-in-one restoration (noise/haze/defocus/stripe) + fusion, gate report",
    paper="Sun et al., Task-Gated Multi-Expert Collaboration Network for Degraded Multi-Modal Image Fusion, ICML 2025",
    weights="tgecnet-small.safetensors",
    self_ensemble=4,  # chosen on the validation sets (session 13, docs/models/tgecnet.md "Training")
)


def grow_state_dict(state: dict[str, Tensor], net: TGECNet) -> tuple[dict[str, Tensor], list[str], list[str]]:
    """Fill ``net``'s state dict from the weights ``state`` of the same network built with fewer
    probe-gated expert inputs or outputs, so that ``net`` computes exactly what the source did.

    Tensors of unchanged shape are copied. A probe-gated expert whose body
    (:class:`DetailRefine`) sees more full-resolution maps keeps the trained input weights of the
    maps it saw (first), moves those of the level-1 features behind the new maps and starts the
    new maps' weights at zero; a body that predicts more maps keeps the trained output channels
    and starts the new ones at zero (new maps are appended: see :meth:`ProbeGatedExpert.maps`).
    Tensors the source lacks keep ``net``'s values (e.g. a fresh column gate, 0).

    Returns:
        ``(state dict for net, grown tensor names, fresh tensor names)``.

    Raises:
        InputError: any other shape change.
    """
    own = net.state_dict()
    grown, fresh = [], []
    for k, v in own.items():
        if k not in state:
            fresh.append(k)
            continue
        src = state[k]
        if src.shape == v.shape:
            own[k] = src
            continue
        new = torch.zeros_like(v)
        body = k.startswith("probe_experts.") and ".body." in k
        if body and k.endswith((".body.out.0.weight", ".body.out.0.bias")) and src.shape[1:] == v.shape[1:] and src.shape[0] < v.shape[0]:
            new[: src.shape[0]] = src  # PixelShuffle(2): output map m uses channels 4m..4m+3
        elif body and k.endswith(".body.inp.weight") and src.shape[0] == v.shape[0] and src.shape[2:] == v.shape[2:]:
            maps = 4 * net.get_submodule(k[: -len(".inp.weight")]).in_maps  # input: [pixel-unshuffled maps, features]
            seen = src.shape[1] - (v.shape[1] - maps)
            if not 0 < seen < maps:
                raise InputError(f"tgecnet: {k} cannot grow from {tuple(src.shape)} to {tuple(v.shape)}")
            new[:, :seen], new[:, maps:] = src[:, :seen], src[:, seen:]
        else:
            raise InputError(f"tgecnet: {k} has shape {tuple(src.shape)} in the source weights, {tuple(v.shape)} in the rebuilt network")
        own[k] = new
        grown.append(k)
    return own, grown, fresh
