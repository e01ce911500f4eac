"""Fusion and restoration losses: a functional core, thin modules and a config-driven sum.

* :mod:`mmfuse.losses.functional` - pure functions (intensity, gradient, SSIM, colour,
  restoration, cosine alignment, prompt regulariser, load balancing, ...);
* :mod:`mmfuse.losses.modules` - ``nn.Module`` wrappers (``Module(**opts)(x) ==
  functional(x, **opts)``);
* :mod:`mmfuse.losses.composite` - :class:`CompositeLoss` (alias :class:`FusionLoss`): a weighted
  sum of named terms, weights and options from the config, returning every term and ``"total"``.
"""
from __future__ import annotations

from mmfuse.losses.composite import LOSS_TERMS, CompositeLoss, FusionLoss, LossTerm
from mmfuse.losses.functional import (
    charbonnier_loss,
    color_loss,
    correlation_loss,
    cosine_alignment_loss,
    fusion_ssim_loss,
    gradient_l1_loss,
    gradient_loss,
    intensity_loss,
    intensity_mean_loss,
    load_balancing_loss,
    luminance_l1_loss,
    patch_max_gradient_target,
    prompt_regularizer,
    restoration_loss,
    signed_gradient,
    signed_max_gradient_loss,
    ssim_loss,
)
from mmfuse.losses.modules import (
    ColorLoss,
    CosineAlignmentLoss,
    GradientLoss,
    IntensityLoss,
    LoadBalancingLoss,
    PromptRegularizer,
    RestorationLoss,
    SSIMLoss,
)

__all__ = [
    "LOSS_TERMS",
    "ColorLoss",
    "CompositeLoss",
    "CosineAlignmentLoss",
    "FusionLoss",
    "GradientLoss",
    "IntensityLoss",
    "LoadBalancingLoss",
    "LossTerm",
    "PromptRegularizer",
    "RestorationLoss",
    "SSIMLoss",
    "charbonnier_loss",
    "color_loss",
    "correlation_loss",
    "cosine_alignment_loss",
    "fusion_ssim_loss",
    "gradient_l1_loss",
    "gradient_loss",
    "intensity_loss",
    "intensity_mean_loss",
    "load_balancing_loss",
    "luminance_l1_loss",
    "patch_max_gradient_target",
    "prompt_regularizer",
    "restoration_loss",
    "signed_gradient",
    "signed_max_gradient_loss",
    "ssim_loss",
]
