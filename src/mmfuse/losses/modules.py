"""Thin ``nn.Module`` wrappers of :mod:`mmfuse.losses.functional`.

Each module stores its options and its ``forward`` is one call of the functional version, so
``Module(**opts)(*args) == functional(*args, **opts)``. Shapes and formulas are documented on the
functions.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from mmfuse.errors import InputError
from mmfuse.losses import functional as LF
from mmfuse.nn.ops import BorderType, GradientMode

__all__ = [
    "IntensityLoss",
    "GradientLoss",
    "SSIMLoss",
    "ColorLoss",
    "RestorationLoss",
    "CosineAlignmentLoss",
    "PromptRegularizer",
    "LoadBalancingLoss",
]


class IntensityLoss(nn.Module):
    """:func:`~mmfuse.losses.functional.intensity_loss` (``target="max"``, optional mask) or
    :func:`~mmfuse.losses.functional.intensity_mean_loss` (``target="mean"``).

    Shape:
        ``fused, ir, vis (B, 1|3, H, W)``, ``mask (B, 1, H, W)`` -> scalar.
    """

    def __init__(self, target: Literal["max", "mean"] = "max") -> None:
        super().__init__()
        if target not in ("max", "mean"):
            raise InputError(f"IntensityLoss: target {target!r} is unknown; valid: 'max', 'mean'")
        self.target = target

    def forward(
        self, fused: torch.Tensor, ir: torch.Tensor, vis: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        if self.target == "mean":
            return LF.intensity_mean_loss(fused, ir, vis)
        return LF.intensity_loss(fused, ir, vis, mask)


class GradientLoss(nn.Module):
    """:func:`~mmfuse.losses.functional.gradient_loss` (max-gradient target).

    Shape:
        ``fused, ir, vis (B, 1|3, H, W)`` -> scalar.
    """

    def __init__(
        self, mode: Literal["abs_sum", "magnitude", "per_axis"] = "abs_sum", border: BorderType = "replicate"
    ) -> None:
        super().__init__()
        self.mode, self.border = mode, border

    def forward(self, fused: torch.Tensor, ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        return LF.gradient_loss(fused, ir, vis, self.mode, self.border)


class SSIMLoss(nn.Module):
    """:func:`~mmfuse.losses.functional.fusion_ssim_loss` (two sources, luminance).

    Shape:
        ``fused, ir, vis (B, 1|3, H, W)`` -> scalar.
    """

    def __init__(self, window_size: int = 11, vis_weight: float = 0.5) -> None:
        super().__init__()
        self.window_size, self.vis_weight = window_size, vis_weight

    def forward(self, fused: torch.Tensor, ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        return LF.fusion_ssim_loss(fused, ir, vis, self.window_size, self.vis_weight)


class ColorLoss(nn.Module):
    """:func:`~mmfuse.losses.functional.color_loss` (CbCr L1 to the visible image).

    Shape:
        ``fused, vis (B, 3, H, W)`` -> scalar.
    """

    def forward(self, fused: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        return LF.color_loss(fused, vis)


class RestorationLoss(nn.Module):
    """:func:`~mmfuse.losses.functional.restoration_loss` (L1/Charbonnier + Sobel-gradient L1).

    Shape:
        ``pred, target (B, C, H, W)`` -> scalar.
    """

    def __init__(
        self,
        gradient_weight: float = 0.0,
        charbonnier: bool = False,
        eps: float = 1e-3,
        mode: GradientMode = "abs_sum",
        border: BorderType = "replicate",
    ) -> None:
        super().__init__()
        self.gradient_weight, self.charbonnier, self.eps = gradient_weight, charbonnier, eps
        self.mode, self.border = mode, border

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return LF.restoration_loss(pred, target, self.gradient_weight, self.charbonnier, self.eps, self.mode, self.border)


class CosineAlignmentLoss(nn.Module):
    """:func:`~mmfuse.losses.functional.cosine_alignment_loss` (LURE unified loss).

    Shape:
        one or a sequence of ``(B, ...)`` latents and references -> scalar.
    """

    def __init__(self, detach_ref: bool = False) -> None:
        super().__init__()
        self.detach_ref = detach_ref

    def forward(
        self,
        latent: torch.Tensor | Sequence[torch.Tensor],
        latent_ref: torch.Tensor | Sequence[torch.Tensor],
    ) -> torch.Tensor:
        return LF.cosine_alignment_loss(latent, latent_ref, self.detach_ref)


class PromptRegularizer(nn.Module):
    """:func:`~mmfuse.losses.functional.prompt_regularizer` (TC-MoA MIR).

    Shape:
        ``prompt_x, prompt_y`` of equal shape -> scalar.
    """

    def __init__(self, mode: Literal["l1", "mse"] = "l1") -> None:
        super().__init__()
        self.mode = mode

    def forward(self, prompt_x: torch.Tensor, prompt_y: torch.Tensor) -> torch.Tensor:
        return LF.prompt_regularizer(prompt_x, prompt_y, self.mode)


class LoadBalancingLoss(nn.Module):
    """:func:`~mmfuse.nn.moe.load_balancing_loss`, ``cv^2(importance) + cv^2(load)``.

    Shape:
        ``importance, load (N,)`` -> scalar.
    """

    def forward(self, importance: torch.Tensor, load: torch.Tensor) -> torch.Tensor:
        return LF.load_balancing_loss(importance, load)
