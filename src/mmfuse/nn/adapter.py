"""Bottleneck adapters for parameter-efficient tuning of frozen backbones.

* :class:`BottleneckAdapter`: ``Linear(D -> r) -> act -> Linear(r -> D_out)`` on the last axis,
  optionally scaled and added to its input (Houlsby et al., "Parameter-Efficient Transfer
  Learning for NLP", ICML 2019; Chen et al., "AdaptFormer", NeurIPS 2022). TC-MoA's adapters
  are ``Linear(C/4 -> C/32) -> ReLU -> Linear(C/32 -> C/4)`` without residual, shared by all
  tasks and mixed by task-specific routers (Zhu et al., "Task-Customized Mixture of Adapters
  for General Image Fusion", CVPR 2024, Sec. 3.2): build that mixture as
  ``MoE(experts=[BottleneckAdapter(...) for _ in range(4)], k=2, num_routers=3, ...)``.
* :class:`ConvAdapter`: ``Conv1x1(C -> r) -> [act] -> Conv3x3(r -> r) -> [act] -> Conv1x1(r -> C)``
  on feature maps; TC-MoA's prompting fusion layer is this with no activation and no biases.

The rest of a TC-MoA module (pairing projection, prompt split, source embeddings, lambda
mixing) is model glue and lives with the model.
"""
from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from mmfuse.errors import InputError, ShapeError
from mmfuse.nn._checks import check_feature_map

__all__ = ["BottleneckAdapter", "ConvAdapter"]

Activation = Literal["relu", "gelu", "none"]


def _activation(name: Activation) -> nn.Module:
    if name == "relu":
        return nn.ReLU()
    if name == "gelu":
        return nn.GELU()
    if name == "none":
        return nn.Identity()
    raise InputError(f"adapter activation {name!r} is unknown; valid: 'relu', 'gelu', 'none'")


class BottleneckAdapter(nn.Module):
    """Two-layer bottleneck MLP on the last axis, optionally residual.

    ``y = scale * up(act(down(x)))``, plus ``x`` if ``residual``.

    Args:
        dim: input size ``D``.
        hidden_dim: bottleneck size ``r``.
        out_dim: output size (default ``D``; must equal ``D`` when ``residual``).
        activation: ``"relu"`` (TC-MoA, Houlsby), ``"gelu"`` or ``"none"``.
        scale: output scale (AdaptFormer uses 0.1).
        residual: add the input to the output.
        zero_init: initialise ``up`` to zero so that the adapter starts as the zero map (or the
            identity when residual).
        bias: biases of the two linear layers.

    Shape:
        ``(*, D)`` -> ``(*, D_out)``.
    """

    def __init__(
        self,
        dim: int,
        hidden_dim: int,
        out_dim: int | None = None,
        activation: Activation = "relu",
        scale: float = 1.0,
        residual: bool = False,
        zero_init: bool = False,
        bias: bool = True,
    ) -> None:
        super().__init__()
        out_dim = dim if out_dim is None else out_dim
        if residual and out_dim != dim:
            raise InputError(f"BottleneckAdapter: residual needs out_dim == dim, got {out_dim} and {dim}")
        self.dim, self.out_dim, self.scale, self.residual = dim, out_dim, scale, residual
        self.down = nn.Linear(dim, hidden_dim, bias=bias)
        self.act = _activation(activation)
        self.up = nn.Linear(hidden_dim, out_dim, bias=bias)
        if zero_init:
            nn.init.zeros_(self.up.weight)
            if self.up.bias is not None:
                nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.dim:
            raise ShapeError(f"BottleneckAdapter: last axis must be {self.dim}, got shape {tuple(x.shape)}")
        y = self.up(self.act(self.down(x))) * self.scale
        return x + y if self.residual else y


class ConvAdapter(nn.Module):
    """Convolutional bottleneck ``Conv1x1(C -> r) -> Conv3x3(r -> r) -> Conv1x1(r -> C)``.

    Args:
        dim: channels ``C``.
        hidden_dim: bottleneck channels ``r`` (TC-MoA: ``C/4``).
        activation: between the convolutions (TC-MoA: ``"none"``).
        bias: conv biases (TC-MoA: ``False``).

    Shape:
        ``(B, C, H, W)`` -> ``(B, C, H, W)``.
    """

    def __init__(self, dim: int, hidden_dim: int, activation: Activation = "none", bias: bool = False) -> None:
        super().__init__()
        self.dim = dim
        self.body = nn.Sequential(
            nn.Conv2d(dim, hidden_dim, 1, bias=bias),
            _activation(activation),
            nn.Conv2d(hidden_dim, hidden_dim, 3, padding=1, bias=bias),
            _activation(activation),
            nn.Conv2d(hidden_dim, dim, 1, bias=bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_feature_map(x, "ConvAdapter", self.dim)
        return self.body(x)
