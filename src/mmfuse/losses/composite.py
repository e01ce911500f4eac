"""A weighted sum of named loss terms whose weights and options come from the config.

Usage in a model's ``training_losses``::

    loss = CompositeLoss({"intensity": 1.0, "gradient": 10.0, "load": 0.01},
                         options={"gradient": {"mode": "abs_sum"}})
    terms = loss(fused=out, ir=ir, vis=vis, load_loss=moe_losses)
    terms["total"].backward()

The table :data:`LOSS_TERMS` lists every term, the named inputs it needs and the options it
accepts. An unknown term or option is a :class:`mmfuse.errors.ConfigError` that names it and
lists the valid ones; a missing input is an :class:`mmfuse.errors.InputError` naming the term.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from mmfuse.errors import ConfigError, InputError
from mmfuse.losses import functional as LF

__all__ = ["LossTerm", "LOSS_TERMS", "CompositeLoss", "FusionLoss"]


@dataclass(frozen=True)
class LossTerm:
    """One entry of :data:`LOSS_TERMS`.

    Attributes:
        fn: the loss function; called as ``fn(*required, **optional_present, **options)``.
        inputs: names of the required inputs, in the order of ``fn``'s positional arguments.
        optional_inputs: inputs passed by keyword when given (e.g. the intensity ``mask``).
        options: keyword options that the config may set.
        description: one line for the docs and error messages.
    """

    fn: Callable[..., torch.Tensor]
    inputs: tuple[str, ...]
    optional_inputs: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    description: str = ""


def _pixel_loss(pred: torch.Tensor, target: torch.Tensor, charbonnier: bool = False, eps: float = 1e-3) -> torch.Tensor:
    return LF.restoration_loss(pred, target, 0.0, charbonnier, eps)


def _load_term(load_loss: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    if isinstance(load_loss, torch.Tensor):
        return load_loss.sum()
    parts = list(load_loss)
    if not parts:
        raise InputError("CompositeLoss: input 'load_loss' is an empty sequence")
    return torch.stack([p.reshape(()) for p in parts]).sum()


LOSS_TERMS: dict[str, LossTerm] = {
    "intensity": LossTerm(
        LF.intensity_loss, ("fused", "ir", "vis"), ("mask",), (),
        "L1 of fused luminance to max(VIS, IR); with a mask, max inside and mean outside",
    ),
    "intensity_mean": LossTerm(LF.intensity_mean_loss, ("fused", "ir", "vis"), (), (), "L1 to mean(VIS, IR)"),
    "l1_vis": LossTerm(LF.luminance_l1_loss, ("fused", "vis"), (), (), "L1 of fused luminance to the visible image"),
    "l1_ir": LossTerm(LF.luminance_l1_loss, ("fused", "ir"), (), (), "L1 of fused luminance to the infrared image"),
    "gradient": LossTerm(
        LF.gradient_loss, ("fused", "ir", "vis"), (), ("mode", "border"),
        "L1 of fused Sobel strength to max of the sources'",
    ),
    "signed_gradient": LossTerm(
        LF.signed_max_gradient_loss, ("fused", "ir", "vis"), (), (), "TC-MoA signed max-gradient L1"
    ),
    "ssim": LossTerm(
        LF.fusion_ssim_loss, ("fused", "ir", "vis"), (), ("window_size", "vis_weight", "data_range"),
        "two-source 1 - SSIM",
    ),
    "color": LossTerm(LF.color_loss, ("fused", "vis"), (), (), "CbCr L1 to the visible image (RGB)"),
    "restoration": LossTerm(
        _pixel_loss, ("pred", "target"), (), ("charbonnier", "eps"), "L1 (or Charbonnier) to the clean target"
    ),
    "restoration_gradient": LossTerm(
        LF.gradient_l1_loss, ("pred", "target"), (), ("mode", "border"), "Sobel-gradient L1 to the clean target"
    ),
    "alignment": LossTerm(
        LF.cosine_alignment_loss, ("latent", "latent_ref"), (), ("detach_ref",), "1 - cosine of latents (LURE)"
    ),
    "prompt": LossTerm(LF.prompt_regularizer, ("prompt_x", "prompt_y"), (), ("mode",), "|P_x + P_y - 1| (TC-MoA)"),
    "load": LossTerm(_load_term, ("load_loss",), (), (), "sum of MoE load-balancing losses"),
}


def _valid(names: Sequence[str] | Mapping[str, Any]) -> str:
    return ", ".join(sorted(names)) if names else "none"


class CompositeLoss(nn.Module):
    """Weighted sum of named loss terms.

    Args:
        weights: term name -> weight (a finite number >= 0). Terms with weight 0 are neither
            computed nor reported.
        options: term name -> keyword options of that term (e.g. ``{"gradient": {"mode":
            "magnitude"}}``); only for terms listed in ``weights``.

    Raises:
        ConfigError: unknown term or option, non-numeric or negative weight, or no positive
            weight at all.

    Shape:
        ``forward(**inputs)`` with the named tensors the active terms need (``fused``, ``ir``,
        ``vis``, ``mask``, ``pred``, ``target``, ``latent``, ``latent_ref``, ``prompt_x``,
        ``prompt_y``, ``load_loss``) -> ``{term: unweighted scalar, ..., "total": weighted sum}``.
    """

    def __init__(
        self, weights: Mapping[str, float], options: Mapping[str, Mapping[str, Any]] | None = None
    ) -> None:
        super().__init__()
        if not isinstance(weights, Mapping):
            raise ConfigError(f"loss weights must be a mapping of term -> weight, got {type(weights).__name__}")
        clean: dict[str, float] = {}
        for name, w in weights.items():
            if name not in LOSS_TERMS:
                raise ConfigError(f"loss term {name!r} is unknown; valid: {_valid(LOSS_TERMS)}")
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
                raise ConfigError(f"loss weight of {name!r} must be a finite number >= 0, got {w!r}")
            clean[name] = float(w)
        opts: dict[str, dict[str, Any]] = {}
        for name, term_opts in (options or {}).items():
            if name not in LOSS_TERMS:
                raise ConfigError(f"loss options given for unknown term {name!r}; valid: {_valid(LOSS_TERMS)}")
            if name not in clean:
                raise ConfigError(f"loss options given for term {name!r}, which has no weight")
            if not isinstance(term_opts, Mapping):
                raise ConfigError(f"loss options of {name!r} must be a mapping, got {type(term_opts).__name__}")
            allowed = LOSS_TERMS[name].options
            for key in term_opts:
                if key not in allowed:
                    raise ConfigError(f"loss option {name}.{key} is unknown; valid: {_valid(allowed)}")
            opts[name] = dict(term_opts)
        self.weights = {k: v for k, v in clean.items() if v > 0}
        if not self.weights:
            raise ConfigError("no loss term has a positive weight")
        self.options = opts

    @property
    def terms(self) -> list[str]:
        """Names of the active (positively weighted) terms."""
        return list(self.weights)

    def required_inputs(self) -> set[str]:
        """Inputs that :meth:`forward` needs for the active terms."""
        return {i for name in self.weights for i in LOSS_TERMS[name].inputs}

    def forward(self, **inputs: Any) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        total: torch.Tensor | None = None
        for name, weight in self.weights.items():
            term = LOSS_TERMS[name]
            missing = [i for i in term.inputs if inputs.get(i) is None]
            if missing:
                raise InputError(f"loss term {name!r} needs input {missing[0]!r}")
            args = [inputs[i] for i in term.inputs]
            kwargs = {i: inputs[i] for i in term.optional_inputs if inputs.get(i) is not None}
            value = term.fn(*args, **kwargs, **self.options.get(name, {}))
            out[name] = value
            total = weight * value if total is None else total + weight * value
        assert total is not None  # at least one positive weight, checked in __init__
        out["total"] = total
        return out

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v:g}" for k, v in self.weights.items())


FusionLoss = CompositeLoss
"""Alias: a :class:`CompositeLoss` configured with fusion terms."""
