"""MoE-Fusion: multi-modal gated mixture of local-to-global experts for infrared-visible fusion.

Cao, Sun, Zhu, Hu, "Multi-modal Gated Mixture of Local-to-Global Experts for Dynamic Image
Fusion", ICCV 2023, pp. 23555-23564 (``../shared/papers/004_ede4fab83ff9d1f0.txt``; spec
``../shared/specs/tc-moa-and-moe-fusion.md``, part B). The network reads like the paper's Fig. 2:

1. **Encoders** ``Enc_I`` / ``Enc_V`` (DenseFuse-style, Li & Wu, IEEE TIP 2019; one per
   modality, separate weights): a stem convolution and three densely connected convolutions.
   Each returns ``x_enc`` (last layer) and ``x_dense`` (all layers concatenated).
2. **Attention source** giving ``Att_I`` and ``Att_V`` in ``[0, 1]``; ``Att = max(Att_V, Att_I)``
   (detached, as in the authors' code) splits foreground (``Att``) from background (``1 - Att``).
   The paper takes them from two auxiliary Faster R-CNN detectors trained on box labels; here
   the source is pluggable (see *Deviations*).
3. **MoLE** (Sec. 3.2, Eqs. 1-2): a foreground and a background mixture of local experts. Each
   has ``N`` experts (Conv-ReLU-Conv); experts ``1..N/2`` only see visible local features
   ``x_enc^V * Att`` and experts ``N/2+1..N`` only infrared ones ``x_enc^I * Att``; a
   multi-modal gate on the flattened ``Cat(x^V_local, x^I_local)`` picks the top-``K`` (noisy
   top-k gating of Shazeer et al., ICLR 2017, :class:`mmfuse.nn.moe.MoE`, routing per image).
   ``y_local = Cat(y_FG, y_BG)``.
4. **MoGE** (Sec. 3.3, Eqs. 3-4): the decoder. ``x_f = Cat(x_dense^V, x_dense^I, y_local)``;
   ``N`` global experts (4 conv layers each) decode ``x_f`` to the fused luminance; a gate on the
   flattened ``x_f`` picks the top-``K`` and their outputs are mixed linearly.
5. The fused luminance gets the visible chroma back (``vis_mode = "y"``;
   :class:`mmfuse.models.base.FusionMethod` re-attaches BT.601 CbCr).

Losses (Sec. 3.4, Eq. 5; exact terms from the authors' code, spec B.3):
``L = L_pixel + alpha * L_grad + L_load (+ L_att)`` with

* ``L_pixel = mean(M * |F - max(V, I)|) + mean((1 - M) * |F - (V + I) / 2|)``, ``M`` the
  foreground mask (box mask when the batch has ``boxes`` / ``fg_mask``, else ``Att``);
* ``L_grad = mean(| |grad F| - max(|grad V|, |grad I|) |)`` with the Sobel ``|Sx| + |Sy|``,
  ``alpha = 10``;
* ``L_load = 0.01 * cv2_FG + 0.01 * cv2_BG + 0.02 * cv2_MoGE`` (Shazeer's importance + load);
* ``L_att`` (our addition, see below): BCE of the learned attention heads to their saliency
  priors.

Deviations from the paper (documented with measured effects in ``docs/models/moefusion.md``):

* **No detector.** Faster R-CNN R50-FPN needs ImageNet weights and box labels we do not have.
  The default attention source :class:`LearnedAttention` keeps the paper's attention module
  (Conv1x1-BN-ReLU-Conv1x1-BN-Sigmoid on stride-4 features, cross-modal 1x1 mixing, max of the
  two maps, detached, bilinearly upsampled) on a small two-stream CNN instead of ResNet-50+FPN,
  and trains it on a label-free target: a centre-surround contrast prior (hot/bright compact
  regions, :func:`contrast_prior`) instead of detection losses. :class:`PriorAttention` uses the
  prior directly, :class:`NoAttention` makes everything background, :class:`BoxAttention` turns
  user boxes into masks (also used by the pixel loss, as the paper's GT-box mask), and
  :class:`CallableAttention` plugs in a user's own detector.
* **Gate input at any image size.** The code flattens features bilinearly resized by 1/4 (MoLE)
  and 1/8 (MoGE) at a fixed 640x480 input; we resize them to a fixed grid (``local_gate_size``,
  ``global_gate_size``), which at 640x480 with the paper's grids ``(120, 160)`` / ``(60, 80)`` is
  the same and lets any size run.
* **Small CPU variant only:** ``unshuffle=2`` runs the whole network on a pixel-unshuffled
  half-resolution grid (4 channels per position; Shi et al., CVPR 2016 sub-pixel convolution),
  the experts' output is pixel-shuffled back to full resolution and mapped to the fused image by
  a shared linear 3x3 convolution (``shuffle_head``), the global experts start with a 1x1
  reduction, and ``residual`` adds ``(IR + VIS) / 2`` to the decoder output. The paper config
  keeps ``unshuffle=1``, 3x3 layers and the plain linear output.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmfuse.errors import InputError, ShapeError
from mmfuse.models.registry import register_arch, register_learned
from mmfuse.nn.moe import MoE, MoEOutput
from mmfuse.nn.ops import crop_to, gradient_magnitude, luminance, pad_to_multiple

__all__ = [
    "AttentionSource",
    "LearnedAttention",
    "PriorAttention",
    "NoAttention",
    "BoxAttention",
    "CallableAttention",
    "Boxes",
    "boxes_to_mask",
    "contrast_prior",
    "DenseEncoder",
    "MoEFusion",
    "moefusion_losses",
]

Box = tuple[float, float, float, float]
Boxes = Sequence[Sequence[Box]]
"""Per image of the batch, a list of ``(x1, y1, x2, y2)`` boxes in pixels of the input."""


# --------------------------------------------------------------------------- attention sources


@runtime_checkable
class AttentionSource(Protocol):
    """Anything that gives the infrared and visible attention maps of a batch.

    ``__call__(ir, vis, feats) -> (att_ir, att_vis)``:

    * ``ir`` ``(B, 1, H, W)`` and ``vis`` ``(B, 1, H, W)`` (luminance) in ``[0, 1]``;
    * ``feats``: the encoders' outputs (``"ir_enc"``, ``"vis_enc"``, ``"ir_dense"``,
      ``"vis_dense"``, each ``(B, C, h, w)`` on the network grid), for sources that want them;
    * returns two ``(B, 1, h', w')`` maps in ``[0, 1]`` at any resolution (the network resizes
      them to its feature grid); ``1`` marks foreground (objects), ``0`` background.
    """

    def __call__(self, ir: Tensor, vis: Tensor, feats: dict[str, Tensor]) -> tuple[Tensor, Tensor]: ...


def _low_size(h: int, w: int, scale: int) -> tuple[int, int]:
    return max(1, math.ceil(h / scale)), max(1, math.ceil(w / scale))


def contrast_prior(
    x: Tensor,
    scale: int = 4,
    center_sigma: float = 1.0,
    surround_sigma: float = 8.0,
    min_contrast: float = 0.1,
    quantile: float = 0.99,
) -> Tensor:
    """Label-free object prior: positive centre-surround contrast (difference of Gaussians).

    A thermal target is a compact region warmer (brighter in the IR image) than its
    surroundings; the same test on visible luminance marks bright compact objects (lamps,
    light cars, lit signs). This is the classical centre-surround saliency of Itti, Koch &
    Niebur (IEEE TPAMI 1998) on a single intensity channel, keeping the positive part:
    ``S = max(G_c * x - G_s * x, 0)`` computed at ``1/scale`` resolution, divided by
    ``max(q-quantile of S, min_contrast)`` and clipped to ``[0, 1]``, then upsampled bilinearly.
    ``min_contrast`` keeps a scene without targets from being normalised up to full saliency.

    Args:
        x: ``(B, 1, H, W)`` intensity in ``[0, 1]``.
        scale: working down-sampling factor (area averaging).
        center_sigma: centre Gaussian std, in low-resolution pixels.
        surround_sigma: surround Gaussian std, in low-resolution pixels (8 = 32 input pixels).
        min_contrast: contrast mapped to full saliency at least (``0.1`` = 25 grey levels).
        quantile: robust per-image maximum.

    Returns:
        ``(B, 1, H, W)`` prior in ``[0, 1]``, no gradient.
    """
    from kornia.filters import gaussian_blur2d

    if x.ndim != 4 or x.shape[1] != 1:
        raise ShapeError(f"contrast_prior: expected (B, 1, H, W), got {tuple(x.shape)}")
    h, w = x.shape[-2:]
    with torch.no_grad():
        low = F.adaptive_avg_pool2d(x.float(), _low_size(h, w, scale))

        def blur(t: Tensor, sigma: float) -> Tensor:
            k = 2 * math.ceil(3 * sigma) + 1
            return gaussian_blur2d(t, (k, k), (sigma, sigma), border_type="replicate")

        s = (blur(low, center_sigma) - blur(low, surround_sigma)).clamp_min(0)
        q = torch.quantile(s.flatten(1), quantile, dim=1).clamp_min(min_contrast)
        s = (s / q.view(-1, 1, 1, 1)).clamp(0, 1)
        return F.interpolate(s, size=(h, w), mode="bilinear", align_corners=False).clamp(0, 1).to(x.dtype)


class PriorAttention(nn.Module):
    """Attention straight from the label-free :func:`contrast_prior` of each modality.

    No parameters. ``Att_I = prior(IR)``, ``Att_V = prior(VIS) * vis_weight``.

    Args:
        vis_weight: scale of the visible prior (``0`` gives a pure infrared prior).
        **prior_kwargs: passed to :func:`contrast_prior`.
    """

    name = "ir-prior"

    def __init__(self, vis_weight: float = 1.0, **prior_kwargs: Any) -> None:
        super().__init__()
        self.vis_weight = float(vis_weight)
        self.prior_kwargs = prior_kwargs

    def forward(self, ir: Tensor, vis: Tensor, feats: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        att_i = contrast_prior(ir, **self.prior_kwargs)
        att_v = contrast_prior(vis, **self.prior_kwargs) * self.vis_weight if self.vis_weight else torch.zeros_like(att_i)
        return att_i, att_v


class NoAttention(nn.Module):
    """Everything is background (``Att = 0``): the "no attention prior" reference."""

    name = "none"

    def forward(self, ir: Tensor, vis: Tensor, feats: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        z = ir.new_zeros(ir.shape[0], 1, 1, 1)
        return z, z


def boxes_to_mask(boxes: Boxes, size: tuple[int, int], device: torch.device | str = "cpu") -> Tensor:
    """Rasterise per-image boxes into a binary foreground mask (union of the boxes).

    Boxes are clipped to the image, as the authors' ``DetcropPixelLoss`` clips to 640x480.

    Args:
        boxes: for each image, a list of ``(x1, y1, x2, y2)`` in pixels (``x2``/``y2`` exclusive,
            fractional values are rounded outwards).
        size: ``(H, W)``.
        device: tensor device.

    Returns:
        ``(B, 1, H, W)`` float mask in ``{0, 1}``.

    Raises:
        InputError: a box is not four numbers or has ``x2 < x1`` / ``y2 < y1``.
    """
    h, w = size
    mask = torch.zeros(len(boxes), 1, h, w, device=device)
    for b, image_boxes in enumerate(boxes):
        for box in image_boxes:
            if len(box) != 4:
                raise InputError(f"box {tuple(box)!r} of image {b}: expected (x1, y1, x2, y2)")
            x1, y1, x2, y2 = (float(v) for v in box)
            if x2 < x1 or y2 < y1:
                raise InputError(f"box {(x1, y1, x2, y2)} of image {b}: x2 < x1 or y2 < y1")
            c1, r1 = max(0, math.floor(x1)), max(0, math.floor(y1))
            c2, r2 = min(w, math.ceil(x2)), min(h, math.ceil(y2))
            if c2 > c1 and r2 > r1:
                mask[b, 0, r1:r2, c1:c2] = 1.0
    return mask


class BoxAttention(nn.Module):
    """Attention from user boxes (e.g. ground-truth annotations or a detector's output).

    Both modalities get the union-of-boxes mask, so ``Att`` is that mask. Set the boxes of the
    next batch with :meth:`set_boxes` (or pass ``boxes=`` to :meth:`MoEFusion.forward`).

    Args:
        boxes: per image, ``(x1, y1, x2, y2)`` boxes in input pixels.
    """

    name = "boxes"

    def __init__(self, boxes: Boxes | None = None) -> None:
        super().__init__()
        self.boxes: Boxes | None = boxes

    def set_boxes(self, boxes: Boxes) -> None:
        """Boxes for the next forward pass."""
        self.boxes = boxes

    def forward(self, ir: Tensor, vis: Tensor, feats: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        if self.boxes is None:
            raise InputError("BoxAttention: no boxes set (call set_boxes or pass boxes=)")
        if len(self.boxes) != ir.shape[0]:
            raise InputError(f"BoxAttention: {len(self.boxes)} box lists for a batch of {ir.shape[0]} images")
        m = boxes_to_mask(self.boxes, tuple(ir.shape[-2:]), ir.device).to(ir.dtype)
        return m, m


class CallableAttention(nn.Module):
    """Wrap a user's detector or saliency model as an attention source.

    ``fn(ir, vis)`` receives ``(B, 1, H, W)`` tensors in ``[0, 1]`` and returns either

    * per-image box lists (``[[(x1, y1, x2, y2), ...], ...]``, pixels): rasterised to masks;
    * one ``(B, 1, h, w)`` map in ``[0, 1]``: used for both modalities;
    * a pair ``(att_ir, att_vis)`` of such maps.

    Args:
        fn: the callable.
        name: label shown in :meth:`MoEFusion.describe`.
    """

    def __init__(self, fn: Callable[[Tensor, Tensor], Any], name: str = "callable") -> None:
        super().__init__()
        self.fn = fn
        self.name = name

    def forward(self, ir: Tensor, vis: Tensor, feats: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        out = self.fn(ir, vis)
        if isinstance(out, Tensor):
            return out, out
        if isinstance(out, tuple) and len(out) == 2 and all(isinstance(t, Tensor) for t in out):
            return out[0], out[1]
        if isinstance(out, Sequence):
            m = boxes_to_mask(out, tuple(ir.shape[-2:]), ir.device).to(ir.dtype)  # type: ignore[arg-type]
            return m, m
        raise InputError(f"{self.name}: attention callable returned {type(out).__name__}; expected boxes or (B, 1, H, W) maps")


class _AttentionModule(nn.Sequential):
    """The paper's spatial attention: Conv1x1-BN-ReLU-Conv1x1-BN-Sigmoid (Sec. 3.2; bias-free as the code)."""

    def __init__(self, channels: int) -> None:
        mid = max(1, channels // 2)
        super().__init__(
            nn.Conv2d(channels, mid, 1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, 1, 1, bias=False),
            nn.BatchNorm2d(1),
            nn.Sigmoid(),
        )


class LearnedAttention(nn.Module):
    """Default attention source: a small two-stream auxiliary network trained without labels.

    Stand-in for the paper's two Faster R-CNN detectors (Sec. 3.2 and the authors' code): per
    modality, a 3-layer dilated CNN on the image at ``1/scale`` resolution (receptive field
    about 60 input pixels at ``scale=4``) replaces ResNet-50+FPN; the code's cross-modal mixing
    (``m = ReLU(Conv1x1(Cat(f_I, f_V)))`` added to both streams) and the paper's attention module
    then give ``Att_I`` and ``Att_V``, bilinearly upsampled (``align_corners=True``, as the code).
    Instead of detection losses, the maps are trained towards :func:`contrast_prior` of their own
    modality (:meth:`MoEFusion.training_losses`, term ``attention``); the fusion branch sees
    them detached, so the fusion loss does not shape them (as in the code).

    Args:
        channels: feature width of each stream.
        scale: working down-sampling factor (4 = the FPN P2 level the code uses).
    """

    name = "learned"

    def __init__(self, channels: int = 16, scale: int = 4) -> None:
        super().__init__()
        self.scale = int(scale)

        def stream() -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(1, channels, 3, padding=1),
                nn.ReLU(inplace=True),
                nn.Conv2d(channels, channels, 3, padding=2, dilation=2),
                nn.ReLU(inplace=True),
                nn.Conv2d(channels, channels, 3, padding=4, dilation=4),
                nn.ReLU(inplace=True),
            )

        self.stream_ir, self.stream_vis = stream(), stream()
        self.mix = nn.Sequential(nn.Conv2d(2 * channels, channels, 1), nn.ReLU(inplace=True))
        self.att_ir, self.att_vis = _AttentionModule(channels), _AttentionModule(channels)

    def forward(self, ir: Tensor, vis: Tensor, feats: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        h, w = ir.shape[-2:]
        low = _low_size(h, w, self.scale)
        f_i = self.stream_ir(F.adaptive_avg_pool2d(ir, low))
        f_v = self.stream_vis(F.adaptive_avg_pool2d(vis, low))
        m = self.mix(torch.cat([f_i, f_v], dim=1))
        a_i, a_v = self.att_ir(f_i + m), self.att_vis(f_v + m)

        def up(a: Tensor) -> Tensor:
            return F.interpolate(a, size=(h, w), mode="bilinear", align_corners=True)

        return up(a_i), up(a_v)


_ATTENTION_SOURCES: dict[str, Callable[[int], nn.Module]] = {
    "learned": lambda c: LearnedAttention(c),
    "ir-prior": lambda c: PriorAttention(vis_weight=0.0),
    "prior": lambda c: PriorAttention(vis_weight=1.0),
    "none": lambda c: NoAttention(),
}


# --------------------------------------------------------------------------- encoders and experts


class DenseEncoder(nn.Module):
    """DenseFuse-style encoder (Li & Wu, IEEE TIP 2019; MoE-Fusion Sec. 3.1, code layout).

    ``c0 = ReLU(Conv3x3(in -> stem))``; ``c_j = Conv3x3(Cat(c0..c_{j-1}) -> growth)`` for
    ``j = 1..layers`` (ReLU after each if ``dense_act``; the authors' code has none).

    Args:
        in_channels: input channels (1, or 4 after a 2x pixel-unshuffle).
        stem: width of ``c0``.
        growth: width of every dense layer.
        layers: number of dense layers (3 in the paper).
        dense_act: ReLU after the dense layers.
        padding_mode: convolution padding (``"zeros"`` in the code).

    Shape:
        ``(B, in, H, W)`` -> ``x_enc (B, growth, H, W)``, ``x_dense (B, stem + layers*growth, H, W)``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        stem: int = 16,
        growth: int = 16,
        layers: int = 3,
        dense_act: bool = False,
        padding_mode: str = "zeros",
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, stem, 3, padding=1, padding_mode=padding_mode), nn.ReLU(inplace=True))
        self.dense = nn.ModuleList()
        c = stem
        for _ in range(layers):
            conv = nn.Conv2d(c, growth, 3, padding=1, padding_mode=padding_mode)
            self.dense.append(nn.Sequential(conv, nn.ReLU(inplace=True)) if dense_act else conv)
            c += growth
        self.out_channels = c
        self.enc_channels = growth if layers else stem

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        feats = [self.stem(x)]
        for layer in self.dense:
            feats.append(layer(torch.cat(feats, dim=1)))
        return feats[-1], torch.cat(feats, dim=1)


class _ModalityExpert(nn.Module):
    """A local expert bound to one modality: reads slot ``modality`` of a ``(n, 2, C, H, W)`` stack."""

    def __init__(self, modality: int, channels: int, hidden: int, padding_mode: str) -> None:
        super().__init__()
        self.modality = modality
        # Paper: "2 convolution layers and 1 ReLU"; code: Conv3x3(C -> C/2) - ReLU - Conv3x3(C/2 -> C).
        self.body = nn.Sequential(
            nn.Conv2d(channels, hidden, 3, padding=1, padding_mode=padding_mode),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 3, padding=1, padding_mode=padding_mode),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x[:, self.modality])


def _global_expert(cin: int, widths: Sequence[int], cout: int, first_kernel: int, padding_mode: str) -> nn.Sequential:
    """A MoGE expert: ``len(widths) + 1`` conv layers with ReLU between them, linear output (code)."""
    layers: list[nn.Module] = []
    c = cin
    for i, wd in enumerate(widths):
        k = first_kernel if i == 0 else 3
        layers += [nn.Conv2d(c, wd, k, padding=k // 2, padding_mode=padding_mode), nn.ReLU(inplace=True)]
        c = wd
    layers.append(nn.Conv2d(c, cout, 3, padding=1, padding_mode=padding_mode))
    return nn.Sequential(*layers)


def _gate_vector(x: Tensor, size: tuple[int, int], mode: str) -> Tensor:
    """Flatten ``x`` resized to a fixed grid: ``(B, C, H, W) -> (B, C * size[0] * size[1])``."""
    if mode == "bilinear":
        g = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    else:
        g = F.adaptive_avg_pool2d(x, size)
    return g.flatten(1)


# --------------------------------------------------------------------------- losses


def moefusion_losses(
    fused: Tensor,
    ir: Tensor,
    vis: Tensor,
    mask: Tensor,
    grad_border: Literal["replicate", "constant", "reflect"] = "constant",
) -> dict[str, Tensor]:
    """The pixel and gradient losses of MoE-Fusion (authors' ``DetcropPixelLoss`` and grad loss).

    Args:
        fused: ``(B, 1, H, W)``.
        ir: ``(B, 1, H, W)`` in ``[0, 1]``.
        vis: ``(B, 1, H, W)`` visible luminance in ``[0, 1]``.
        mask: ``(B, 1, H, W)`` foreground weight in ``[0, 1]`` (box mask or ``Att``).
        grad_border: Sobel border handling (the code zero-pads).

    Returns:
        ``{"pixel": mean(M|F - max(V,I)|) + mean((1-M)|F - (V+I)/2|),
        "gradient": mean(| |grad F| - max(|grad V|, |grad I|) |)}`` (means over all pixels).
    """
    if not (fused.shape == ir.shape == vis.shape) or mask.shape[-2:] != fused.shape[-2:]:
        raise ShapeError(
            f"moefusion_losses: fused {tuple(fused.shape)}, ir {tuple(ir.shape)}, vis {tuple(vis.shape)}, "
            f"mask {tuple(mask.shape)} must agree"
        )
    pixel = (mask * (fused - torch.maximum(vis, ir)).abs()).mean() + ((1 - mask) * (fused - (vis + ir) / 2).abs()).mean()
    g = lambda t: gradient_magnitude(t, "abs_sum", grad_border)  # noqa: E731
    gradient = (g(fused) - torch.maximum(g(vis), g(ir))).abs().mean()
    return {"pixel": pixel, "gradient": gradient}


# --------------------------------------------------------------------------- the network


@register_arch("moefusion")
class MoEFusion(nn.Module):
    """MoE-Fusion (Cao et al., ICCV 2023): encoders, attention, MoLE (FG/BG) and MoGE decoder.

    Defaults are the paper's sizes (``configs/moefusion-paper.yaml``); ``moefusion-small`` uses
    ``unshuffle=2`` and narrower layers for CPU.

    Args:
        stem: encoder stem width (16 in the code).
        growth: encoder dense-layer width (16); ``x_enc`` has ``growth`` channels.
        dense_layers: dense layers per encoder (3).
        dense_act: ReLU after the dense layers (the code has none).
        num_experts: experts per mixture ``N`` (4; even, half visible / half infrared in MoLE).
        top_k: experts used per image ``K`` (2).
        local_hidden: hidden width of a local expert (``growth // 2`` in the code = 8).
        global_widths: hidden widths of a global expert (``[64, 32, 16]`` in the code).
        global_first_kernel: kernel of the first global-expert layer (3; 1 in the small model).
        local_gate_size: grid the MoLE gate input is resized to (``(120, 160)`` = 1/4 of 640x480).
        global_gate_size: grid of the MoGE gate input (``(60, 80)`` = 1/8 of 640x480).
        gate_pool: ``"bilinear"`` (code) or ``"avg"`` (area averaging, better for small grids).
        gate_noise: learned gating noise in training (Shazeer; ablation switch "no gate noise").
        noise_epsilon: minimum noise std (0.01 in the code).
        combine: ``"linear"`` (paper Eqs. 2, 4) or ``"logspace"`` (the code's dispatcher).
        local: ``"mole"`` (paper), ``"att-local"`` (Table 2 "Att-Local": attention-masked
            features + 1x1 conv, no experts) or ``"none"`` (Table 2 "w/o MoLE": MoGE sees
            ``Cat(x_dense^V, x_dense^I)`` only).
        moge: mixture of global experts (paper); ``False`` = Table 2 "w/o MoGE" (one decoder
            with the structure of a global expert).
        attention: default attention source: ``"learned"`` (:class:`LearnedAttention`),
            ``"prior"`` / ``"ir-prior"`` (:class:`PriorAttention` with / without the visible
            prior) or ``"none"`` (:class:`NoAttention`). Replace it with
            :meth:`set_attention_source` (boxes, a detector ...).
        attention_channels: width of :class:`LearnedAttention`.
        unshuffle: pixel-unshuffle factor of the working grid (1 = full resolution, paper).
        shuffle_head: with ``unshuffle > 1``, the experts output ``shuffle_head * unshuffle**2``
            channels, pixel-shuffled to ``shuffle_head`` full-resolution channels that a shared
            linear 3x3 convolution maps to the fused image (0: the experts output the
            ``unshuffle**2`` sub-pixels directly). Being linear, the head commutes with the
            gate-weighted sum (Eq. 4 still holds); it removes the sub-pixel checkerboard a
            plain pixel-shuffle output develops under the Sobel gradient loss (a Nyquist
            checkerboard has zero Sobel response).
        residual: add ``(IR + VIS) / 2`` to the decoder output, so the experts learn a
            correction (faster CPU training; the paper has no such skip).
        padding_mode: convolution padding (``"zeros"`` in the code).

    Shape:
        ``forward(ir (B, 1, H, W), vis (B, 1 | 3, H, W))``, values in ``[0, 1]``, any ``H, W``
        -> dict with ``"fused"`` ``(B, 1, H, W)`` (linear output, not clamped; clamp for
        display), ``"att"`` / ``"att_ir"`` / ``"att_vis"`` ``(B, 1, H, W)``, gate weights
        ``"gates_fg"`` / ``"gates_bg"`` / ``"gates_global"`` ``(B, N)`` and the load losses.
    """

    size_multiple: ClassVar[int] = 1
    vis_mode: ClassVar[str] = "y"
    default_loss_weights: ClassVar[dict[str, float]] = {
        "pixel": 1.0,
        "gradient": 10.0,
        "load_fg": 0.01,
        "load_bg": 0.01,
        "load_global": 0.02,
        "attention": 1.0,
    }

    def __init__(
        self,
        stem: int = 16,
        growth: int = 16,
        dense_layers: int = 3,
        dense_act: bool = False,
        num_experts: int = 4,
        top_k: int = 2,
        local_hidden: int = 8,
        global_widths: Sequence[int] = (64, 32, 16),
        global_first_kernel: int = 3,
        local_gate_size: Sequence[int] = (120, 160),
        global_gate_size: Sequence[int] = (60, 80),
        gate_pool: Literal["bilinear", "avg"] = "bilinear",
        gate_noise: bool = True,
        noise_epsilon: float = 0.01,
        combine: Literal["linear", "logspace"] = "linear",
        local: Literal["mole", "att-local", "none"] = "mole",
        moge: bool = True,
        attention: Literal["learned", "prior", "ir-prior", "none"] = "learned",
        attention_channels: int = 16,
        unshuffle: int = 1,
        shuffle_head: int = 0,
        residual: bool = False,
        padding_mode: Literal["zeros", "reflect", "replicate"] = "zeros",
    ) -> None:
        super().__init__()
        if num_experts < 2 or num_experts % 2:
            raise InputError(f"moefusion: num_experts must be even and >= 2 (half visible, half infrared), got {num_experts}")
        if not 1 <= top_k <= num_experts:
            raise InputError(f"moefusion: top_k must be in [1, {num_experts}], got {top_k}")
        if local not in ("mole", "att-local", "none"):
            raise InputError(f"moefusion: local {local!r} is unknown; valid: 'mole', 'att-local', 'none'")
        if attention not in _ATTENTION_SOURCES:
            raise InputError(f"moefusion: attention {attention!r} is unknown; valid: {', '.join(_ATTENTION_SOURCES)}")
        if gate_pool not in ("bilinear", "avg"):
            raise InputError(f"moefusion: gate_pool {gate_pool!r} is unknown; valid: 'bilinear', 'avg'")
        if unshuffle < 1:
            raise InputError(f"moefusion: unshuffle must be >= 1, got {unshuffle}")
        self.unshuffle = int(unshuffle)
        self.size_multiple = self.unshuffle  # type: ignore[misc]  # instance value overrides the class default
        self.num_experts, self.top_k = int(num_experts), int(top_k)
        self.local, self.use_moge = local, bool(moge)
        self.local_gate_size = (int(local_gate_size[0]), int(local_gate_size[1]))
        self.global_gate_size = (int(global_gate_size[0]), int(global_gate_size[1]))
        self.gate_pool = gate_pool
        cin = self.unshuffle**2

        # Fig. 2 (b): two modality encoders.
        self.enc_ir = DenseEncoder(cin, stem, growth, dense_layers, dense_act, padding_mode)
        self.enc_vis = DenseEncoder(cin, stem, growth, dense_layers, dense_act, padding_mode)
        c_enc, c_dense = self.enc_ir.enc_channels, self.enc_ir.out_channels

        # Auxiliary network / attention source (pluggable).
        self._attention_channels = int(attention_channels)
        self.attention: nn.Module = _ATTENTION_SOURCES[attention](attention_channels)

        # Fig. 2 (a): MoLE, a foreground and a background mixture of modality experts.
        half = self.num_experts // 2
        d_local = 2 * c_enc * self.local_gate_size[0] * self.local_gate_size[1]
        moe_kw = dict(k=self.top_k, gate_dim=d_local, granularity="image", combine=combine, noisy=gate_noise, noise_epsilon=noise_epsilon)
        self.mole_fg: MoE | None = None
        self.mole_bg: MoE | None = None
        self.att_local: nn.Conv2d | None = None
        if local == "mole":

            def experts() -> list[nn.Module]:
                return [_ModalityExpert(0 if i < half else 1, c_enc, local_hidden, padding_mode) for i in range(self.num_experts)]

            self.mole_fg = MoE(experts(), **moe_kw)  # type: ignore[arg-type]
            self.mole_bg = MoE(experts(), **moe_kw)  # type: ignore[arg-type]
            c_local = 2 * c_enc
        elif local == "att-local":
            self.att_local = nn.Conv2d(4 * c_enc, 2 * c_enc, 1)
            c_local = 2 * c_enc
        else:
            c_local = 0

        # Fig. 2 (c): MoGE, the decoder of gated global experts.
        c_f = 2 * c_dense + c_local
        self.residual = bool(residual)
        self.shuffle_head = int(shuffle_head) if self.unshuffle > 1 else 0
        cout = max(self.shuffle_head, 1) * self.unshuffle**2
        self.head: nn.Conv2d | None = (
            nn.Conv2d(self.shuffle_head, 1, 3, padding=1, padding_mode=padding_mode) if self.shuffle_head else None
        )
        d_global = c_f * self.global_gate_size[0] * self.global_gate_size[1]
        if self.use_moge:
            self.moge: nn.Module = MoE(
                [_global_expert(c_f, global_widths, cout, global_first_kernel, padding_mode) for _ in range(self.num_experts)],
                k=self.top_k,
                gate_dim=d_global,
                granularity="image",
                combine=combine,
                noisy=gate_noise,
                noise_epsilon=noise_epsilon,
            )
        else:
            self.moge = _global_expert(c_f, global_widths, cout, global_first_kernel, padding_mode)

    # -- attention --------------------------------------------------------------------------
    def set_attention_source(self, source: AttentionSource | nn.Module | str) -> None:
        """Replace the attention source (a name of the built-in ones, or any :class:`AttentionSource`).

        A user detector can be plugged in with ``set_attention_source(CallableAttention(fn))``,
        annotations with ``set_attention_source(BoxAttention(boxes))``. Replacing a trained
        :class:`LearnedAttention` removes it from :meth:`state_dict`; ``"learned"`` brings the
        trained head back (a fresh, untrained one if the model never had it).
        """
        current = self.attention
        if isinstance(source, str):
            if source not in _ATTENTION_SOURCES:
                raise InputError(f"moefusion: attention {source!r} is unknown; valid: {', '.join(_ATTENTION_SOURCES)}")
            saved = self.__dict__.get("_saved_learned")
            if source == "learned" and isinstance(current, LearnedAttention):
                return
            source = saved if source == "learned" and saved is not None else _ATTENTION_SOURCES[source](self._attention_channels)
        if not isinstance(source, nn.Module):
            source = CallableAttention(lambda ir, vis, _s=source: _s(ir, vis, {}), name=type(source).__name__)
        if isinstance(current, LearnedAttention):
            # keep the trained head outside the module tree (not in state_dict) so "learned" restores it
            self.__dict__["_saved_learned"] = current
        self.attention = source

    @property
    def attention_name(self) -> str:
        return str(getattr(self.attention, "name", type(self.attention).__name__))

    # -- forward ----------------------------------------------------------------------------
    def _mixture(self, moe: MoE, x_vis: Tensor, x_ir: Tensor) -> MoEOutput:
        s = _gate_vector(torch.cat([x_vis, x_ir], dim=1), self.local_gate_size, self.gate_pool)
        return moe(torch.stack([x_vis, x_ir], dim=1), gate_input=s)

    def forward(
        self,
        ir: Tensor,
        vis: Tensor,
        att: Tensor | None = None,
        boxes: Boxes | None = None,
    ) -> dict[str, Tensor]:
        """Fuse a batch.

        Args:
            ir: ``(B, 1, H, W)`` in ``[0, 1]``.
            vis: ``(B, 1, H, W)`` luminance (or ``(B, 3, H, W)`` RGB, converted to BT.601 Y).
            att: optional external foreground map ``(B, 1, h, w)`` in ``[0, 1]`` (overrides the
                attention source).
            boxes: optional per-image boxes (pixels); their union mask is used as ``Att``.

        Returns:
            See the class docstring.
        """
        if ir.ndim != 4 or vis.ndim != 4 or ir.shape[1] != 1 or vis.shape[1] not in (1, 3):
            raise ShapeError(f"moefusion expects ir (B, 1, H, W) and vis (B, 1|3, H, W), got {tuple(ir.shape)} and {tuple(vis.shape)}")
        if ir.shape[0] != vis.shape[0] or ir.shape[-2:] != vis.shape[-2:]:
            raise ShapeError(f"moefusion: infrared {tuple(ir.shape)} and visible {tuple(vis.shape)} differ in batch or size")
        vis = luminance(vis)
        size = (int(ir.shape[-2]), int(ir.shape[-1]))
        r = self.unshuffle
        ir_p, _ = pad_to_multiple(ir, r)
        vis_p, _ = pad_to_multiple(vis, r)
        x_ir = F.pixel_unshuffle(ir_p, r) if r > 1 else ir_p
        x_vis = F.pixel_unshuffle(vis_p, r) if r > 1 else vis_p

        enc_ir, dense_ir = self.enc_ir(x_ir)
        enc_vis, dense_vis = self.enc_vis(x_vis)
        feats = {"ir_enc": enc_ir, "vis_enc": enc_vis, "ir_dense": dense_ir, "vis_dense": dense_vis}

        # Att = max(Att_V, Att_I), detached (the fusion loss does not train the attention source).
        if boxes is not None:
            att_ir = att_vis = boxes_to_mask(boxes, size, ir.device).to(ir.dtype)
        elif att is not None:
            if att.ndim != 4 or att.shape[0] != ir.shape[0] or att.shape[1] != 1:
                raise ShapeError(f"moefusion: att must be (B, 1, h, w) with B = {ir.shape[0]}, got {tuple(att.shape)}")
            att_ir = att_vis = att.to(ir.dtype).clamp(0, 1)
        else:
            att_ir, att_vis = self.attention(ir, vis, feats)

        def full(a: Tensor) -> Tensor:
            a = a.expand(ir.shape[0], 1, *a.shape[-2:])
            return a if tuple(a.shape[-2:]) == size else F.interpolate(a, size=size, mode="bilinear", align_corners=False)

        att_ir, att_vis = full(att_ir), full(att_vis)
        att_full = torch.maximum(att_ir, att_vis).detach()
        grid = tuple(enc_ir.shape[-2:])
        a = F.adaptive_avg_pool2d(pad_to_multiple(att_full, r)[0], grid) if r > 1 else att_full

        out: dict[str, Tensor] = {"att": att_full, "att_ir": att_ir, "att_vis": att_vis}
        zero = ir.new_zeros(())
        load_fg = load_bg = load_global = zero
        if self.local == "mole":
            assert self.mole_fg is not None and self.mole_bg is not None
            fg = self._mixture(self.mole_fg, enc_vis * a, enc_ir * a)
            bg = self._mixture(self.mole_bg, enc_vis * (1 - a), enc_ir * (1 - a))
            y_local = torch.cat([fg.output, bg.output], dim=1)
            load_fg, load_bg = fg.loss, bg.loss
            out["gates_fg"], out["gates_bg"] = fg.gates, bg.gates
            x_f = torch.cat([dense_vis, dense_ir, y_local], dim=1)
        elif self.local == "att-local":
            assert self.att_local is not None
            y_local = self.att_local(torch.cat([enc_vis * a, enc_ir * a, enc_vis * (1 - a), enc_ir * (1 - a)], dim=1))
            x_f = torch.cat([dense_vis, dense_ir, y_local], dim=1)
        else:
            x_f = torch.cat([dense_vis, dense_ir], dim=1)

        if self.use_moge:
            g = self.moge(x_f, gate_input=_gate_vector(x_f, self.global_gate_size, self.gate_pool))
            y, load_global = g.output, g.loss
            out["gates_global"] = g.gates
        else:
            y = self.moge(x_f)
        fused = F.pixel_shuffle(y, r) if r > 1 else y
        if self.head is not None:
            fused = self.head(fused)
        fused = crop_to(fused, size)
        if self.residual:
            fused = fused + (ir + vis) / 2
        out["fused"] = fused
        out["load_fg"], out["load_bg"], out["load_global"] = load_fg, load_bg, load_global
        return out

    # -- training ---------------------------------------------------------------------------
    def training_losses(
        self,
        batch: dict[str, Any],
        outputs: dict[str, Tensor],
        stage: str,
        weights: dict[str, float],
    ) -> dict[str, Tensor]:
        """MoE-Fusion's fusion loss (Eq. 5, code weights) plus the attention-prior loss.

        Args:
            batch: ``ir (B, 1, H, W)``, ``vis (B, 1|3, H, W)``; optionally ``ir_clean`` /
                ``vis_clean`` (targets when present), ``fg_mask`` ``(B, 1, H, W)`` or ``boxes``
                (per-image pixel boxes) for the paper's box-masked pixel loss.
            outputs: :meth:`forward` 's result.
            stage: stage name (one objective for every stage).
            weights: overrides of :attr:`default_loss_weights` (``pixel``, ``gradient``,
                ``load_fg``, ``load_bg``, ``load_global``, ``attention``).

        Returns:
            ``pixel``, ``gradient``, ``load_fg``, ``load_bg``, ``load_global``, ``attention`` and
            the weighted ``total`` (scalar tensors).
        """
        w = {**self.default_loss_weights, **weights}
        unknown = set(weights) - set(self.default_loss_weights)
        if unknown:
            raise InputError(f"moefusion: unknown loss weight(s) {sorted(unknown)}; valid: {sorted(self.default_loss_weights)}")
        fused = outputs["fused"]
        ir = batch.get("ir_clean", batch["ir"])
        vis = luminance(batch.get("vis_clean", batch["vis"]))
        if batch.get("fg_mask") is not None:
            mask = batch["fg_mask"].to(fused.dtype)
        elif batch.get("boxes") is not None:
            mask = boxes_to_mask(batch["boxes"], tuple(fused.shape[-2:]), fused.device).to(fused.dtype)
        else:
            mask = outputs["att"].detach()
        terms = moefusion_losses(fused, ir, vis, mask)
        terms["load_fg"], terms["load_bg"], terms["load_global"] = outputs["load_fg"], outputs["load_bg"], outputs["load_global"]
        if isinstance(self.attention, LearnedAttention):
            eps = 1e-6
            t_ir, t_vis = contrast_prior(batch["ir"]), contrast_prior(luminance(batch["vis"]))
            terms["attention"] = F.binary_cross_entropy(outputs["att_ir"].clamp(eps, 1 - eps), t_ir) + F.binary_cross_entropy(
                outputs["att_vis"].clamp(eps, 1 - eps), t_vis
            )
        else:
            terms["attention"] = fused.new_zeros(())
        terms["total"] = sum(float(w[k]) * v for k, v in terms.items())  # type: ignore[assignment]
        return terms

    # -- introspection ----------------------------------------------------------------------
    def expert_names(self) -> dict[str, list[str]]:
        """Human names of the experts of every mixture (MoLE: ``vis-i`` / ``ir-i``; MoGE: ``global-i``)."""
        half = self.num_experts // 2
        local = [f"vis-{i + 1}" for i in range(half)] + [f"ir-{i + 1}" for i in range(half)]
        return {"fg": local, "bg": local, "global": [f"global-{i + 1}" for i in range(self.num_experts)]}

    def describe(self, outputs: dict[str, Tensor]) -> dict[str, Any]:
        """JSON-able summary of the first image of a batch: attention and expert usage.

        Returns:
            ``{"attention": {"source", "foreground_fraction", "mean_att"}, "experts": {"fg" |
            "bg" | "global": {"selected": [names], "weights": {name: weight}}}}``; weights are the
            gate values (zero for unused experts).
        """
        att = outputs["att"][0]
        info: dict[str, Any] = {
            "attention": {
                "source": self.attention_name,
                "foreground_fraction": round(float((att > 0.5).float().mean()), 4),
                "mean_att": round(float(att.mean()), 4),
            },
            "experts": {},
        }
        names = self.expert_names()
        for key, part in (("gates_fg", "fg"), ("gates_bg", "bg"), ("gates_global", "global")):
            if key not in outputs:
                continue
            g = outputs[key][0].detach().float().cpu().tolist()
            info["experts"][part] = {
                "selected": [n for n, v in zip(names[part], g) if v > 0],
                "weights": {n: round(v, 4) for n, v in zip(names[part], g)},
            }
        return info


register_learned(
    "moefusion-small",
    arch="moefusion",
    description="MoE-Fusion, CPU-sized (local FG/BG + global experts, label-free attention), trained on RoadScene+MSRS",
    paper="Cao, Sun, Zhu, Hu, Multi-modal Gated Mixture of Local-to-Global Experts for Dynamic Image Fusion, ICCV 2023",
    weights="moefusion-small.safetensors",
)
