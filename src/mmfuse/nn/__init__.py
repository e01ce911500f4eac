"""Neural building blocks shared by the mmfuse models.

Each block is a small ``nn.Module`` (with a functional core where one exists) whose docstring
gives its input/output shapes and the paper it comes from; ``docs/nn.md`` lists which model uses
which block. Submodules:

* :mod:`~mmfuse.nn.norm` - channel LayerNorm (with bias / bias-free);
* :mod:`~mmfuse.nn.restormer` - MDTA, GDFN, TransformerBlock, patch embedding, down/up-sampling;
* :mod:`~mmfuse.nn.nafnet` - SimpleGate, simplified channel attention, NAFBlock;
* :mod:`~mmfuse.nn.moe` - noisy top-k gating, mixture of experts, load-balancing loss;
* :mod:`~mmfuse.nn.prompt` - PromptIR prompt block, TG-ECNet prompt dictionary;
* :mod:`~mmfuse.nn.attention` - channel and spatial (windowed) cross-attention;
* :mod:`~mmfuse.nn.fusion` - cross-attention / text-guided / mask-guided cross-modal blocks;
* :mod:`~mmfuse.nn.histoformer` - histogram self-attention and the HTB;
* :mod:`~mmfuse.nn.adapter` - bottleneck adapters;
* :mod:`~mmfuse.nn.conv` - residual conv block;
* :mod:`~mmfuse.nn.vit` - ViT/MAE with MAE checkpoint names, sin-cos position embeddings;
* :mod:`~mmfuse.nn.ops` - Sobel gradients, YCbCr, padding, windows, DenseFuse fusion rules.
"""
from __future__ import annotations

from mmfuse.nn.adapter import BottleneckAdapter, ConvAdapter
from mmfuse.nn.attention import ChannelCrossAttention, SpatialCrossAttention, channel_attention, spatial_attention
from mmfuse.nn.conv import ResidualBlock
from mmfuse.nn.fusion import (
    CrossAttentionBlock,
    MaskGuidedCrossAttention,
    MaskGuidedFusion,
    TextGuidedBlock,
    modality_mask,
)
from mmfuse.nn.histoformer import DualDWFeedForward, HistogramSelfAttention, HistogramTransformerBlock
from mmfuse.nn.moe import (
    MoE,
    MoEOutput,
    NoisyTopKGate,
    GateOutput,
    cv_squared,
    load_balancing_loss,
    noisy_top_k_gating,
)
from mmfuse.nn.nafnet import NAFBlock, SimpleGate, SimplifiedChannelAttention
from mmfuse.nn.norm import LayerNorm2d, layer_norm_2d
from mmfuse.nn.prompt import PromptGenBlock, TaskPrompt
from mmfuse.nn.restormer import GDFN, MDTA, Downsample, OverlapPatchEmbed, TransformerBlock, Upsample
from mmfuse.nn.vit import (
    Attention,
    Block,
    MaskedAutoencoderViT,
    Mlp,
    PatchEmbed,
    RelativePositionBias,
    get_2d_sincos_pos_embed,
    load_mae_weights,
)

__all__ = [
    "Attention",
    "Block",
    "BottleneckAdapter",
    "ChannelCrossAttention",
    "ConvAdapter",
    "CrossAttentionBlock",
    "Downsample",
    "DualDWFeedForward",
    "GDFN",
    "GateOutput",
    "HistogramSelfAttention",
    "HistogramTransformerBlock",
    "LayerNorm2d",
    "MDTA",
    "MaskGuidedCrossAttention",
    "MaskGuidedFusion",
    "MaskedAutoencoderViT",
    "Mlp",
    "MoE",
    "MoEOutput",
    "NAFBlock",
    "NoisyTopKGate",
    "OverlapPatchEmbed",
    "PatchEmbed",
    "PromptGenBlock",
    "RelativePositionBias",
    "ResidualBlock",
    "SimpleGate",
    "SimplifiedChannelAttention",
    "SpatialCrossAttention",
    "TaskPrompt",
    "TextGuidedBlock",
    "TransformerBlock",
    "Upsample",
    "channel_attention",
    "cv_squared",
    "get_2d_sincos_pos_embed",
    "layer_norm_2d",
    "load_balancing_loss",
    "load_mae_weights",
    "modality_mask",
    "noisy_top_k_gating",
    "spatial_attention",
]
