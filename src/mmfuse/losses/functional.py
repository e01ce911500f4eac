"""Functional fusion and restoration losses (the core of :mod:`mmfuse.losses`).

Conventions: images are ``(B, C, H, W)`` float tensors in ``[0, 1]``; infrared has ``C = 1``
(or 3 identical channels), visible ``C = 1`` (luminance) or ``3`` (RGB). Fusion terms compare
*luminance* (BT.601 ``Y``, :func:`mmfuse.nn.ops.luminance`), so a gray fused image can be
trained against an RGB visible image. Every loss returns a scalar (``reduction="mean"``)
unless stated otherwise; weights are applied by the caller (:class:`mmfuse.losses.CompositeLoss`).

Sources of the formulas:

* intensity (max / masked max-mean / mean) and max-gradient losses: MoE-Fusion (Cao et al.,
  ICCV 2023; code ``DetcropPixelLoss``, ``NewGradLoss``), TG-ECNet stage 2, SeAFusion (Tang et
  al., Inf. Fusion 2022), TC-MoA (``L_MaxPixel``, ``L_AvgPixel``);
* signed max-gradient loss: TC-MoA (Zhu et al., CVPR 2024; code ``MaxGradLoss`` with the
  ``SobelxyRGB`` signed operator);
* SSIM: Wang et al., IEEE TIP 2004, through :func:`kornia.metrics.ssim` (11x11 Gaussian window,
  sigma 1.5, reflect padding, ``C1 = 0.01^2``, ``C2 = 0.03^2``);
* colour: Text-IF (Yi et al., CVPR 2024), used by LURE and AMG-Fuse: L1 of Cb and Cr to the
  visible image;
* restoration L1 (or Charbonnier, Charbonnier et al. 1994) + Sobel-gradient L1: TG-ECNet stage 1,
  LURE ``L_task``;
* cosine latent alignment: LURE ``L_unified = 1 - cos(Z, Z_pd)``;
* prompt regulariser ``|P_x + P_y - 1|``: TC-MoA Eq. 7 (MIR; the code uses the squared error);
* load balancing: Shazeer et al., ICLR 2017 (:func:`mmfuse.nn.moe.load_balancing_loss`).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import kornia
import torch
import torch.nn.functional as F

from mmfuse.errors import InputError, ShapeError
from mmfuse.nn._checks import check_feature_map, check_same_spatial
from mmfuse.nn.moe import load_balancing_loss
from mmfuse.nn.ops import BorderType, GradientMode, gradient_magnitude, luminance, rgb_to_ycbcr, sobel_gradients

__all__ = [
    "Reduction",
    "intensity_loss",
    "intensity_mean_loss",
    "luminance_l1_loss",
    "gradient_loss",
    "signed_gradient",
    "signed_max_gradient_loss",
    "ssim_loss",
    "fusion_ssim_loss",
    "correlation_loss",
    "color_loss",
    "charbonnier_loss",
    "gradient_l1_loss",
    "restoration_loss",
    "cosine_alignment_loss",
    "prompt_regularizer",
    "patch_max_gradient_target",
    "load_balancing_loss",
]

Reduction = Literal["mean", "sum", "none"]


def _reduce(x: torch.Tensor, reduction: Reduction) -> torch.Tensor:
    if reduction == "mean":
        return x.mean()
    if reduction == "sum":
        return x.sum()
    if reduction == "none":
        return x
    raise InputError(f"reduction {reduction!r} is unknown; valid: 'mean', 'sum', 'none'")


def _fusion_triplet(
    fused: torch.Tensor, ir: torch.Tensor, vis: torch.Tensor, where: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Check shapes and return the luminance ``(B, 1, H, W)`` of fused, ir and vis."""
    check_feature_map(fused, where, name="fused")
    check_feature_map(ir, where, name="ir")
    check_feature_map(vis, where, name="vis")
    check_same_spatial(fused, ir, where, ("fused", "ir"))
    check_same_spatial(fused, vis, where, ("fused", "vis"))
    return luminance(fused), luminance(ir), luminance(vis)


def intensity_loss(
    fused: torch.Tensor,
    ir: torch.Tensor,
    vis: torch.Tensor,
    mask: torch.Tensor | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """L1 to the element-wise maximum of the sources' luminance, optionally mask-weighted.

    Without ``mask``: ``mean |Y_F - max(Y_V, Y_I)|``. With ``mask`` ``M`` (per-pixel weight in
    ``[0, 1]``, e.g. the union of object boxes in MoE-Fusion's ``DetcropPixelLoss``):
    ``mean( M |Y_F - max(Y_V, Y_I)| + (1 - M) |Y_F - (Y_V + Y_I) / 2| )`` over the full image.
    The target is not detached; gradients only reach the sources if they require them.

    Args:
        fused: ``(B, 1|3, H, W)``.
        ir: ``(B, 1|3, H, W)``.
        vis: ``(B, 1|3, H, W)``.
        mask: ``(B, 1, H, W)`` (or broadcastable) weights of the max target.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (per-pixel map ``(B, 1, H, W)``).

    Returns:
        scalar (or map).
    """
    yf, yi, yv = _fusion_triplet(fused, ir, vis, "intensity_loss")
    to_max = (yf - torch.maximum(yv, yi)).abs()
    if mask is None:
        return _reduce(to_max, reduction)
    check_feature_map(mask, "intensity_loss", name="mask")
    to_mean = (yf - 0.5 * (yv + yi)).abs()
    return _reduce(mask * to_max + (1 - mask) * to_mean, reduction)


def intensity_mean_loss(
    fused: torch.Tensor, ir: torch.Tensor, vis: torch.Tensor, reduction: Reduction = "mean"
) -> torch.Tensor:
    """L1 to the mean of the sources' luminance, ``mean |Y_F - (Y_V + Y_I) / 2|`` (TC-MoA ``L_AvgPixel``).

    Args:
        fused: ``(B, 1|3, H, W)``.
        ir: ``(B, 1|3, H, W)``.
        vis: ``(B, 1|3, H, W)``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
    """
    yf, yi, yv = _fusion_triplet(fused, ir, vis, "intensity_mean_loss")
    return _reduce((yf - 0.5 * (yv + yi)).abs(), reduction)


def luminance_l1_loss(x: torch.Tensor, y: torch.Tensor, reduction: Reduction = "mean") -> torch.Tensor:
    """``mean |Y_x - Y_y|`` between the luminances of two ``(B, 1|3, H, W)`` images.

    TG-ECNet's stage-2 loss uses it against the clean visible and the clean infrared image.
    """
    check_feature_map(x, "luminance_l1_loss", name="x")
    check_feature_map(y, "luminance_l1_loss", name="y")
    check_same_spatial(x, y, "luminance_l1_loss")
    return _reduce((luminance(x) - luminance(y)).abs(), reduction)


def gradient_loss(
    fused: torch.Tensor,
    ir: torch.Tensor,
    vis: torch.Tensor,
    mode: Literal["abs_sum", "magnitude", "per_axis"] = "abs_sum",
    border: BorderType = "replicate",
    reduction: Reduction = "mean",
    side: Literal["both", "under"] = "both",
) -> torch.Tensor:
    """``mean | G(Y_F) - max(G(Y_V), G(Y_I)) |`` with the Sobel gradient strength ``G``.

    With ``side="under"`` only edges the fused image renders *weaker* than the stronger source
    count, ``mean max(0, max(G(Y_V), G(Y_I)) - G(Y_F))``: a floor that keeps every source edge
    without penalising stronger fused edges (the fusion-artefact measure N_abf of Tang et al.'s
    toolbox counts exactly the pixels where a source edge is stronger than the fused one, see
    :func:`mmfuse.metrics.Nabf`).

    Args:
        fused: ``(B, 1|3, H, W)``.
        ir: ``(B, 1|3, H, W)``.
        vis: ``(B, 1|3, H, W)``.
        mode: ``"abs_sum"`` ``G = |gx| + |gy|`` (MoE-Fusion, TG-ECNet, AMG-Fuse code);
            ``"magnitude"`` ``G = sqrt(gx^2 + gy^2)``; ``"per_axis"``: the maximum is taken per
            axis, ``mean | |gx_F| - max(|gx_V|, |gx_I|) | + mean | |gy_F| - max(|gy_V|, |gy_I|) |``
            (Text-IF's loss, which LURE uses; ``reduction="none"`` returns the sum of the two
            maps).
        border: Sobel border handling (``"constant"`` = the papers' zero padding).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        side: ``"both"`` (the papers' L1) or ``"under"`` (one-sided floor, see above).
    """
    if mode not in ("abs_sum", "magnitude", "per_axis"):
        raise InputError(f"gradient_loss: mode {mode!r} is unknown; valid: 'abs_sum', 'magnitude', 'per_axis'")
    if side not in ("both", "under"):
        raise InputError(f"gradient_loss: side {side!r} is unknown; valid: 'both', 'under'")
    gap = torch.abs if side == "both" else (lambda d: torch.relu(-d))
    yf, yi, yv = _fusion_triplet(fused, ir, vis, "gradient_loss")
    if mode == "per_axis":
        (fx, fy), (vx, vy), (ix, iy) = (sobel_gradients(t, border) for t in (yf, yv, yi))
        per_x = gap(fx.abs() - torch.maximum(vx.abs(), ix.abs()))
        per_y = gap(fy.abs() - torch.maximum(vy.abs(), iy.abs()))
        return _reduce(per_x + per_y, reduction)
    gf = gradient_magnitude(yf, mode, border)
    target = torch.maximum(gradient_magnitude(yv, mode, border), gradient_magnitude(yi, mode, border))
    return _reduce(gap(gf - target), reduction)


_TCMOA_KX = ((-0.2, 0.0, 0.2), (-1.0, 0.0, 1.0), (-0.2, 0.0, 0.2))
_TCMOA_KY = ((0.2, 1.0, 0.2), (0.0, 0.0, 0.0), (-0.2, -1.0, -0.2))


def signed_gradient(x: torch.Tensor) -> torch.Tensor:
    """TC-MoA's signed gradient: ``K_x * I + K_y * I`` summed over the channels (zero padding).

    ``K_x = [[-0.2, 0, 0.2], [-1, 0, 1], [-0.2, 0, 0.2]]``,
    ``K_y = [[0.2, 1, 0.2], [0, 0, 0], [-0.2, -1, -0.2]]`` (correlation), responses added, not
    combined as a magnitude, so the sign of the edge is kept (TC-MoA Sec. 3.3, code
    ``SobelxyRGB(isSignGrad=True)``).

    Args:
        x: ``(B, C, H, W)``.

    Returns:
        ``(B, 1, H, W)``.
    """
    check_feature_map(x, "signed_gradient")
    k = torch.tensor(_TCMOA_KX, dtype=x.dtype, device=x.device) + torch.tensor(_TCMOA_KY, dtype=x.dtype, device=x.device)
    return kornia.filters.filter2d(x, k[None], border_type="constant").sum(dim=1, keepdim=True)


def signed_max_gradient_loss(
    fused: torch.Tensor, ir: torch.Tensor, vis: torch.Tensor, reduction: Reduction = "mean"
) -> torch.Tensor:
    """TC-MoA ``L_MaxGrad`` (without its weight 3): ``mean | S(F) - G_max |``.

    ``S`` is :func:`signed_gradient` on the images as given (RGB channels summed); ``G_max`` takes
    ``S(VIS)`` where ``|S(VIS)| >= |S(IR)|`` and ``S(IR)`` elsewhere. Use the same channel count
    for the three images (replicate a gray infrared image to 3 channels for RGB fusion).

    Args:
        fused: ``(B, C, H, W)``.
        ir: ``(B, C, H, W)``.
        vis: ``(B, C, H, W)``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
    """
    _fusion_triplet(fused, ir, vis, "signed_max_gradient_loss")
    if not fused.shape[1] == ir.shape[1] == vis.shape[1]:
        raise ShapeError(
            f"signed_max_gradient_loss: channel counts differ (fused {fused.shape[1]}, ir {ir.shape[1]}, vis {vis.shape[1]})"
        )
    sv, si = signed_gradient(vis), signed_gradient(ir)
    target = torch.where(sv.abs() >= si.abs(), sv, si)
    return _reduce((signed_gradient(fused) - target).abs(), reduction)


def ssim_loss(x: torch.Tensor, y: torch.Tensor, window_size: int = 11, data_range: float = 1.0) -> torch.Tensor:
    """``1 - mean SSIM(x, y)`` with :func:`kornia.metrics.ssim`.

    Note that :func:`kornia.losses.ssim_loss` returns half of this value.

    Args:
        x: ``(B, C, H, W)`` in ``[0, 1]``.
        y: same shape.
        window_size: odd Gaussian window size (sigma 1.5).
        data_range: the ``L`` of the stabilisers ``C1 = (0.01 L)^2``, ``C2 = (0.03 L)^2``; 1 for
            images in ``[0, 1]``. ``1/255`` reproduces MATLAB's ``ssim`` on 0-255 doubles with
            its default dynamic range 1 (Tang et al.'s toolbox, profile ``tang``), where the
            stabilisers vanish and flat regions count by the correlation of their fine texture.
    """
    check_feature_map(x, "ssim_loss", name="x")
    check_feature_map(y, "ssim_loss", channels=x.shape[1], name="y")
    check_same_spatial(x, y, "ssim_loss")
    if window_size % 2 == 0 or window_size < 1:
        raise InputError(f"ssim_loss: window_size must be a positive odd integer, got {window_size}")
    if min(x.shape[-2:]) <= window_size // 2:
        raise ShapeError(f"ssim_loss: images {tuple(x.shape[-2:])} are too small for window {window_size}")
    if not data_range > 0:
        raise InputError(f"ssim_loss: data_range must be > 0, got {data_range}")
    return 1.0 - kornia.metrics.ssim(x, y, window_size, max_val=float(data_range)).mean()


def fusion_ssim_loss(
    fused: torch.Tensor,
    ir: torch.Tensor,
    vis: torch.Tensor,
    window_size: int = 11,
    vis_weight: float = 0.5,
    data_range: float = 1.0,
) -> torch.Tensor:
    """Two-source SSIM loss on luminance: ``w (1 - SSIM(F, V)) + (1 - w) (1 - SSIM(F, I))``.

    ``w = 0.5`` is TC-MoA's ``L_ssim``.

    Args:
        fused: ``(B, 1|3, H, W)``.
        ir: ``(B, 1|3, H, W)``.
        vis: ``(B, 1|3, H, W)``.
        window_size: Gaussian window size.
        vis_weight: ``w`` in ``[0, 1]``.
        data_range: see :func:`ssim_loss`.
    """
    if not 0.0 <= vis_weight <= 1.0:
        raise InputError(f"fusion_ssim_loss: vis_weight must be in [0, 1], got {vis_weight}")
    yf, yi, yv = _fusion_triplet(fused, ir, vis, "fusion_ssim_loss")
    return vis_weight * ssim_loss(yf, yv, window_size, data_range) + (1.0 - vis_weight) * ssim_loss(
        yf, yi, window_size, data_range
    )


def correlation_loss(fused: torch.Tensor, ir: torch.Tensor, vis: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Two-source correlation loss on luminance: ``1 - (CC(F, V) + CC(F, I)) / 2``.

    ``CC`` is Pearson's correlation coefficient of the whole image, per batch element then
    averaged: the differentiable form of the fusion metric ``CC`` (e.g. Tang et al.'s toolbox,
    ``mmfuse.metrics.cc``). It ignores the fused image's gain and offset, so it is meant to be
    combined with an intensity term.

    Args:
        fused: ``(B, 1|3, H, W)``.
        ir: ``(B, 1|3, H, W)``.
        vis: ``(B, 1|3, H, W)``.
        eps: added to the variances.
    """
    yf, yi, yv = _fusion_triplet(fused, ir, vis, "correlation_loss")

    def cc(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        a = a.flatten(1) - a.flatten(1).mean(1, keepdim=True)
        b = b.flatten(1) - b.flatten(1).mean(1, keepdim=True)
        return (a * b).sum(1) / torch.sqrt((a.square().sum(1) + eps) * (b.square().sum(1) + eps))

    return 1.0 - 0.5 * (cc(yf, yv) + cc(yf, yi)).mean()


def color_loss(fused: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
    """Chroma consistency ``mean |Cb_F - Cb_V| + mean |Cr_F - Cr_V|`` (BT.601, Text-IF).

    Args:
        fused: RGB ``(B, 3, H, W)`` in ``[0, 1]``.
        vis: RGB ``(B, 3, H, W)`` in ``[0, 1]``.
    """
    check_feature_map(fused, "color_loss", channels=3, name="fused")
    check_feature_map(vis, "color_loss", channels=3, name="vis")
    check_same_spatial(fused, vis, "color_loss", ("fused", "vis"))
    diff = (rgb_to_ycbcr(fused)[:, 1:] - rgb_to_ycbcr(vis)[:, 1:]).abs()
    return diff[:, 0].mean() + diff[:, 1].mean()


def charbonnier_loss(
    pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-3, reduction: Reduction = "mean"
) -> torch.Tensor:
    """Charbonnier (smooth L1) penalty ``mean sqrt((pred - target)^2 + eps^2)``.

    Args:
        pred: any shape.
        target: same shape.
        eps: smoothing constant.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
    """
    if pred.shape != target.shape:
        raise ShapeError(f"charbonnier_loss: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    return _reduce(torch.sqrt((pred - target) ** 2 + eps * eps), reduction)


def gradient_l1_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    mode: GradientMode = "abs_sum",
    border: BorderType = "replicate",
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """``mean | G(pred) - G(target) |`` per channel with the Sobel gradient strength ``G``.

    TG-ECNet stage 1 (``mean |Sobel(clean) - Sobel(restored)|``, ``|gx| + |gy|``) and LURE
    ``L_task`` gradient term.

    Args:
        pred: ``(B, C, H, W)``.
        target: same shape.
        mode: see :func:`mmfuse.nn.ops.gradient_magnitude`.
        border: Sobel border handling.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
    """
    check_feature_map(pred, "gradient_l1_loss", name="pred")
    check_feature_map(target, "gradient_l1_loss", channels=pred.shape[1], name="target")
    check_same_spatial(pred, target, "gradient_l1_loss", ("pred", "target"))
    diff = gradient_magnitude(pred, mode, border) - gradient_magnitude(target, mode, border)
    return _reduce(diff.abs(), reduction)


def restoration_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    gradient_weight: float = 0.0,
    charbonnier: bool = False,
    eps: float = 1e-3,
    mode: GradientMode = "abs_sum",
    border: BorderType = "replicate",
) -> torch.Tensor:
    """Pixel loss plus weighted Sobel-gradient L1: ``P(pred, target) + w * gradient_l1_loss``.

    ``P`` is L1 (default) or Charbonnier. TG-ECNet stage 1 is ``gradient_weight = 10`` with L1.

    Args:
        pred: ``(B, C, H, W)``.
        target: same shape.
        gradient_weight: ``w``.
        charbonnier: use the Charbonnier penalty instead of L1.
        eps: Charbonnier constant.
        mode: gradient strength mode.
        border: Sobel border handling.
    """
    check_feature_map(pred, "restoration_loss", name="pred")
    if pred.shape != target.shape:
        raise ShapeError(f"restoration_loss: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    pixel = charbonnier_loss(pred, target, eps) if charbonnier else (pred - target).abs().mean()
    if gradient_weight == 0.0:
        return pixel
    return pixel + gradient_weight * gradient_l1_loss(pred, target, mode, border)


def cosine_alignment_loss(
    latent: torch.Tensor | Sequence[torch.Tensor],
    latent_ref: torch.Tensor | Sequence[torch.Tensor],
    detach_ref: bool = False,
    eps: float = 1e-8,
) -> torch.Tensor:
    """LURE's unified loss ``1 - cos(Z, Z_ref)``, averaged over samples and scales.

    Each scale is flattened per sample (``(B, C, H, W) -> (B, C*H*W)``), the cosine similarity
    is taken per sample, and ``1 - cos`` is averaged over the batch and then over the scales.

    Args:
        latent: one tensor ``(B, ...)`` or a sequence of them (multi-scale latents).
        latent_ref: the reference latents (e.g. of the clean image under the pseudo prompt), same
            shapes.
        detach_ref: stop the gradient into the reference branch.
        eps: stabiliser of :func:`torch.nn.functional.cosine_similarity`.

    Returns:
        scalar in ``[0, 2]``.
    """
    zs = [latent] if isinstance(latent, torch.Tensor) else list(latent)
    refs = [latent_ref] if isinstance(latent_ref, torch.Tensor) else list(latent_ref)
    if len(zs) != len(refs) or not zs:
        raise ShapeError(f"cosine_alignment_loss: got {len(zs)} latents and {len(refs)} references")
    terms = []
    for i, (z, r) in enumerate(zip(zs, refs)):
        if z.shape != r.shape:
            raise ShapeError(f"cosine_alignment_loss: scale {i}: latent {tuple(z.shape)} and reference {tuple(r.shape)} differ")
        r = r.detach() if detach_ref else r
        cos = F.cosine_similarity(z.reshape(z.shape[0], -1), r.reshape(r.shape[0], -1), dim=1, eps=eps)
        terms.append((1.0 - cos).mean())
    return torch.stack(terms).mean()


def prompt_regularizer(
    prompt_x: torch.Tensor, prompt_y: torch.Tensor, mode: Literal["l1", "mse"] = "l1"
) -> torch.Tensor:
    """TC-MoA's mutual-information regulariser ``mean |P_x + P_y - 1|`` (Eq. 7).

    Args:
        prompt_x: prompts of source x, any shape, values in ``(0, 1)``.
        prompt_y: same shape.
        mode: ``"l1"`` (paper) or ``"mse"`` (``mean (P_x + P_y - 1)^2``, the authors' code).
    """
    if prompt_x.shape != prompt_y.shape:
        raise ShapeError(f"prompt_regularizer: shapes {tuple(prompt_x.shape)} and {tuple(prompt_y.shape)} differ")
    r = prompt_x + prompt_y - 1.0
    if mode == "l1":
        return r.abs().mean()
    if mode == "mse":
        return (r * r).mean()
    raise InputError(f"prompt_regularizer: mode {mode!r} is unknown; valid: 'l1', 'mse'")


def patch_max_gradient_target(x: torch.Tensor, y: torch.Tensor, patch: int = 16) -> torch.Tensor:
    """TC-MoA's multi-focus target: each patch copied from the source with the sharper patch.

    Per ``patch x patch`` block, the source whose maximum Sobel strength ``|gx| + |gy|`` of the
    BT.601 luminance (zero padding) is larger supplies the whole block; ties go to ``x``
    (TC-MoA code ``MaxGradTokenSelect``). Partial blocks at the right/bottom border are judged
    on their valid pixels. The target is returned without gradient.

    Args:
        x: ``(B, C, H, W)`` first source (TC-MoA: far-focus).
        y: ``(B, C, H, W)`` second source.
        patch: block side.

    Returns:
        ``(B, C, H, W)`` target.
    """
    check_feature_map(x, "patch_max_gradient_target", name="x")
    check_feature_map(y, "patch_max_gradient_target", channels=x.shape[1], name="y")
    check_same_spatial(x, y, "patch_max_gradient_target")
    with torch.no_grad():
        h, w = x.shape[-2:]
        gx = F.max_pool2d(gradient_magnitude(luminance(x), "abs_sum", "constant"), patch, ceil_mode=True)
        gy = F.max_pool2d(gradient_magnitude(luminance(y), "abs_sum", "constant"), patch, ceil_mode=True)
        take_x = (gx >= gy).to(x.dtype)
        take_x = take_x.repeat_interleave(patch, dim=-2).repeat_interleave(patch, dim=-1)[..., :h, :w]
        return take_x * x + (1 - take_x) * y
