"""Degradation prompts: PromptIR's prompt generation block and TG-ECNet's prompt dictionary.

* :class:`PromptGenBlock`: Potlapalli, Zamir, Khan, Khan, "PromptIR: Prompting for All-in-One
  Blind Image Restoration", NeurIPS 2023 (arXiv:2306.13090), Sec. 3.1. ``L`` learnable prompt
  components ``(p, S, S)`` are mixed with softmax weights predicted from the globally pooled
  features, resized to the feature map and refined by a 3x3 conv. TG-ECNet's decoder uses three
  of them (concatenated to the features, then a transformer block and a 1x1 reduction).
* :class:`TaskPrompt`: the degradation-aware gating prompt of TG-ECNet (Sun et al.,
  "Task-Gated Multi-Expert Collaboration Network for Degraded Multi-Modal Image Fusion",
  ICML 2025; code ``Taskprompt``): a stride-3 conditioning CNN, global pooling, a softmax over
  a learnable dictionary of atoms and a GELU give one prompt vector per image, which drives the
  TaskMoE gates (authors' code, ``stage1/net/TG_ECNet.py``).
"""
from __future__ import annotations

from typing import Literal, overload

import torch
import torch.nn.functional as F
from torch import nn

from mmfuse.errors import ShapeError
from mmfuse.nn._checks import check_feature_map

__all__ = ["PromptGenBlock", "TaskPrompt"]


class PromptGenBlock(nn.Module):
    """PromptIR prompt generation block.

    ``w = softmax(Linear(GAP(x)))`` over ``L`` components, ``P = sum_l w_l P_l`` (each
    ``P_l`` is ``(p, S, S)``, uniform-random init), bilinearly resized to ``(H, W)``, then a 3x3
    conv without bias. Parameter names follow PromptIR (``prompt_param``, ``linear_layer``,
    ``conv3x3``).

    Args:
        prompt_dim: ``p``, channels of the prompt.
        prompt_len: ``L``, number of prompt components (PromptIR: 5).
        prompt_size: ``S``, spatial size of the components.
        lin_dim: channels ``C`` of the features the weights are predicted from.

    Shape:
        ``(B, C, H, W)`` -> prompt ``(B, p, H, W)``; concatenating it to the features is the
        caller's choice.
    """

    def __init__(self, prompt_dim: int = 128, prompt_len: int = 5, prompt_size: int = 96, lin_dim: int = 192) -> None:
        super().__init__()
        self.lin_dim = lin_dim
        self.prompt_param = nn.Parameter(torch.rand(1, prompt_len, prompt_dim, prompt_size, prompt_size))
        self.linear_layer = nn.Linear(lin_dim, prompt_len)
        self.conv3x3 = nn.Conv2d(prompt_dim, prompt_dim, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_feature_map(x, "PromptGenBlock", self.lin_dim)
        h, w = x.shape[-2:]
        weights = torch.softmax(self.linear_layer(x.mean(dim=(-2, -1))), dim=1)  # (B, L)
        prompt = (weights[:, :, None, None, None] * self.prompt_param).sum(dim=1)  # (B, p, S, S)
        prompt = F.interpolate(prompt, size=(h, w), mode="bilinear", align_corners=False)
        return self.conv3x3(prompt)


class TaskPrompt(nn.Module):
    """TG-ECNet degradation-aware prompt from a learnable atom dictionary.

    Conditioning CNN (convs with bias): ``Conv3x3/s3(C_in -> hidden)``, LeakyReLU(0.1),
    ``Conv3x3/s3(hidden -> hidden)``, LeakyReLU, two ``Conv1x1(hidden -> hidden)`` + LeakyReLU,
    ``Conv1x1(hidden -> cond_dim)``; global average pooling; ``Linear(cond_dim -> num_atoms)``;
    softmax coefficients ``a``; prompt ``GELU(a @ D)`` with the dictionary ``D``
    ``(num_atoms, atom_dim)`` initialised from a standard normal.

    Args:
        in_channels: channels of the input (1 for a gray image, ``2d`` for TG-ECNet's fusion
            prompt on decoder features).
        hidden: width of the conditioning CNN (TG-ECNet: 64).
        cond_dim: channels before pooling (TG-ECNet: 32).
        num_atoms: dictionary size (TG-ECNet: 32).
        atom_dim: prompt size (TG-ECNet: 256).

    Shape:
        ``(B, C_in, H, W)`` with ``H, W >= 9`` (two unpadded stride-3 convs) -> ``(B, atom_dim)``;
        with ``return_coefficients=True`` also the ``(B, num_atoms)`` coefficients.
    """

    def __init__(
        self, in_channels: int = 1, hidden: int = 64, cond_dim: int = 32, num_atoms: int = 32, atom_dim: int = 256
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.cond = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 3, stride=3),
            nn.LeakyReLU(0.1),
            nn.Conv2d(hidden, hidden, 3, stride=3),
            nn.LeakyReLU(0.1),
            nn.Conv2d(hidden, hidden, 1),
            nn.LeakyReLU(0.1),
            nn.Conv2d(hidden, hidden, 1),
            nn.LeakyReLU(0.1),
            nn.Conv2d(hidden, cond_dim, 1),
        )
        self.to_coefficients = nn.Linear(cond_dim, num_atoms)
        self.dictionary = nn.Parameter(torch.randn(num_atoms, atom_dim))

    @overload
    def forward(self, x: torch.Tensor, return_coefficients: Literal[False] = ...) -> torch.Tensor: ...

    @overload
    def forward(self, x: torch.Tensor, return_coefficients: Literal[True]) -> tuple[torch.Tensor, torch.Tensor]: ...

    def forward(
        self, x: torch.Tensor, return_coefficients: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        check_feature_map(x, "TaskPrompt", self.in_channels)
        if x.shape[-2] < 9 or x.shape[-1] < 9:
            raise ShapeError(f"TaskPrompt: input must be at least 9x9 pixels, got shape {tuple(x.shape)}")
        feat = self.cond(x).mean(dim=(-2, -1))
        coeffs = torch.softmax(self.to_coefficients(feat), dim=-1)
        prompt = F.gelu(coeffs @ self.dictionary)
        return (prompt, coeffs) if return_coefficients else prompt
