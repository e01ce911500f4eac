"""FusionUNet: a small trainable infrared-visible fusion U-Net, the reference model of the training engine.

It shows the whole trainable-architecture contract of :mod:`mmfuse.train` in one file (see
``docs/training.md``): registration with :func:`~mmfuse.models.registry.register_arch`, typed
constructor arguments (the config's ``model:`` section), the class attributes
``size_multiple`` / ``vis_mode`` / ``default_loss_weights``, ``forward(ir, vis) -> {"fused": ...}``
and ``training_losses(batch, outputs, stage, weights)``.

Architecture: a U-Net (Ronneberger, Fischer & Brox, "U-Net: Convolutional Networks for
Biomedical Image Segmentation", MICCAI 2015) on the concatenated infrared image and visible
luminance, ``depth`` strided-convolution down-samplings, bilinear up-sampling with skip
connections, LeakyReLU activations and no normalisation layers (so per-sample results do not
depend on the batch). The head is zero-initialised and added in logit space to the mean of the
two inputs, so the untrained network outputs the average image and training learns a
correction: ``fused = sigmoid(logit((ir + vis_y) / 2) + head(features))``.

Losses (unsupervised, the usual infrared-visible trio, all from :mod:`mmfuse.losses`): an
intensity term pulling the fused image towards the element-wise maximum of the sources, a
gradient term matching the fused Sobel strength ``|gx| + |gy|`` to the larger of the sources'
(Tang et al., "Image fusion in the loop of high-level vision tasks: A semantic-aware real-time
infrared and visible image fusion network" (SeAFusion), Information Fusion 2022), and a
structural term ``1 − (SSIM(F, IR) + SSIM(F, VIS)) / 2`` (Wang et al., "Image quality
assessment: from error visibility to structural similarity", IEEE TIP 2004). When the batch
carries clean references (degraded training), the targets are computed from them.

About 0.1 M parameters with the defaults (``channels=16, depth=2``). No weights ship for it:
train them with ``mmfuse train configs/fusion-unet-tiny.yaml`` and pass the exported file with
``--weights``.
"""
from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmfuse.errors import ShapeError
from mmfuse.losses import fusion_ssim_loss, gradient_loss, intensity_loss
from mmfuse.models.registry import register_arch, register_learned

__all__ = ["FusionUNet"]


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, padding_mode="reflect"), nn.LeakyReLU(0.2))


class _Up(nn.Module):
    """Bilinear ×2 up-sampling, 1×1 channel reduction, concatenation with the skip, 3×3 conv."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(cin, cout, 1)
        self.merge = _conv(2 * cout, cout)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.merge(torch.cat([self.reduce(x), skip], dim=1))


@register_arch("fusion-unet")
class FusionUNet(nn.Module):
    """Small U-Net fusing infrared and visible luminance.

    Args:
        channels: feature channels at full resolution (doubled at every level).
        depth: number of ×2 down-samplings (inputs are padded to a multiple of ``2**depth``).
        blocks: 3×3 convolutions per level and in the bottleneck.

    Shape:
        ``forward(ir (B, 1, H, W), vis (B, 1, H, W))`` with values in ``[0, 1]`` and ``H, W``
        multiples of :attr:`size_multiple` → ``{"fused": (B, 1, H, W)}`` in ``(0, 1)``.
    """

    size_multiple: ClassVar[int] = 4
    vis_mode: ClassVar[str] = "y"
    default_loss_weights: ClassVar[dict[str, float]] = {"intensity": 1.0, "gradient": 1.0, "ssim": 1.0}

    def __init__(self, channels: int = 16, depth: int = 2, blocks: int = 1) -> None:
        super().__init__()
        if channels < 1 or depth < 0 or blocks < 1:
            raise ValueError(f"channels, blocks must be >= 1 and depth >= 0, got {channels}, {depth}, {blocks}")
        self.size_multiple = 2**depth  # type: ignore[misc]  # instance value overrides the class default
        widths = [channels * 2**i for i in range(depth + 1)]
        self.stem = _conv(2, channels)
        self.encoders = nn.ModuleList(nn.Sequential(*[_conv(w, w) for _ in range(blocks)]) for w in widths[:-1])
        self.downs = nn.ModuleList(_conv(widths[i], widths[i + 1], stride=2) for i in range(depth))
        self.bottleneck = nn.Sequential(*[_conv(widths[-1], widths[-1]) for _ in range(blocks)])
        self.ups = nn.ModuleList(_Up(widths[i + 1], widths[i]) for i in reversed(range(depth)))
        self.decoders = nn.ModuleList(nn.Sequential(*[_conv(w, w) for _ in range(blocks)]) for w in reversed(widths[:-1]))
        self.head = nn.Conv2d(channels, 1, 3, padding=1, padding_mode="reflect")
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, ir: Tensor, vis: Tensor) -> dict[str, Tensor]:
        """Fuse a batch: ``ir (B, 1, H, W)``, ``vis (B, 1, H, W)`` in ``[0, 1]`` → ``{"fused": (B, 1, H, W)}``."""
        if ir.ndim != 4 or vis.ndim != 4 or ir.shape[1] != 1 or vis.shape[1] != 1:
            raise ShapeError(f"fusion-unet expects (B, 1, H, W) infrared and visible luminance, got {tuple(ir.shape)} and {tuple(vis.shape)}")
        if ir.shape != vis.shape:
            raise ShapeError(f"fusion-unet: infrared {tuple(ir.shape)} and visible {tuple(vis.shape)} differ")
        m = self.size_multiple
        if ir.shape[-2] % m or ir.shape[-1] % m:
            raise ShapeError(f"fusion-unet: height and width must be multiples of {m}, got {tuple(ir.shape[-2:])}")
        x = self.stem(torch.cat([ir, vis], dim=1))
        skips = []
        for enc, down in zip(self.encoders, self.downs):
            x = enc(x)
            skips.append(x)
            x = down(x)
        x = self.bottleneck(x)
        for up, dec, skip in zip(self.ups, self.decoders, reversed(skips)):
            x = dec(up(x, skip))
        base = torch.logit(((ir + vis) / 2).clamp(1e-4, 1 - 1e-4))
        return {"fused": torch.sigmoid(base + self.head(x))}

    def training_losses(
        self,
        batch: dict[str, Any],
        outputs: dict[str, Tensor],
        stage: str,
        weights: dict[str, float],
    ) -> dict[str, Tensor]:
        """Unsupervised fusion losses.

        Args:
            batch: ``ir (B, 1, H, W)``, ``vis (B, 1, H, W)`` and optionally ``ir_clean`` /
                ``vis_clean`` (used as targets when present).
            outputs: the result of :meth:`forward`.
            stage: stage name (every stage trains the same objective).
            weights: ``intensity``, ``gradient``, ``ssim`` weights.

        Returns:
            ``{"intensity", "gradient", "ssim", "total"}`` scalar tensors; ``total`` is the
            weighted sum.
        """
        fused = outputs["fused"]
        ir = batch.get("ir_clean", batch["ir"])
        vis = batch.get("vis_clean", batch["vis"])
        terms = {
            "intensity": intensity_loss(fused, ir, vis),
            "gradient": gradient_loss(fused, ir, vis),
            "ssim": fusion_ssim_loss(fused, ir, vis),
        }
        w = {**self.default_loss_weights, **weights}
        terms["total"] = sum(float(w[k]) * v for k, v in terms.items())  # type: ignore[assignment]
        return terms


register_learned(
    "fusion-unet",
    arch="fusion-unet",
    description="small fusion U-Net (training-engine reference model); no bundled weights, pass --weights",
    paper="Ronneberger et al., MICCAI 2015 (U-Net); losses after Tang et al., SeAFusion, Inf. Fusion 2022",
)
