"""Per-stage parameter freezing, optimizers and learning-rate schedules.

Schedule: with peak rate ``lr``, ``w`` warm-up steps, ``n`` stage steps and floor ``min_lr``,
the rate used by update ``t = 0 .. n-1`` is

* ``lr · (t + 1) / w`` for ``t < w`` (linear warm-up, never exactly zero),
* ``min_lr + (lr − min_lr) · (1 + cos(π · (t − w) / (n − w))) / 2`` afterwards (``cosine``,
  Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017,
  without restarts), or ``lr`` (``constant``).

It is a :class:`torch.optim.lr_scheduler.LambdaLR` stepped once per optimisation step.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from mmfuse.errors import ConfigError
from mmfuse.train.config import StageConfig

__all__ = ["apply_freeze", "build_optimizer", "lr_factor", "build_scheduler", "set_frozen_eval"]


def _top_level(model: nn.Module) -> list[str]:
    return sorted({n.split(".")[0] for n, _ in model.named_parameters()})


def apply_freeze(model: nn.Module, stage: StageConfig) -> list[tuple[str, nn.Parameter]]:
    """Set ``requires_grad`` for a stage: ``trainable`` prefixes (if given), minus ``freeze`` prefixes.

    Returns:
        The trainable ``(name, parameter)`` pairs.

    Raises:
        ConfigError: a prefix that matches no parameter (a typo), or nothing left to train.
    """
    names = [n for n, _ in model.named_parameters()]
    for key, prefixes in (("freeze", stage.freeze), ("trainable", stage.trainable or [])):
        for p in prefixes:
            if not any(n.startswith(p) for n in names):
                raise ConfigError(
                    f"stages.{stage.name}.{key}: prefix {p!r} matches no parameter "
                    f"(top-level modules: {', '.join(_top_level(model))})"
                )
    trainable = []
    for n, p in model.named_parameters():
        on = stage.trainable is None or any(n.startswith(t) for t in stage.trainable)
        on = on and not any(n.startswith(f) for f in stage.freeze)
        p.requires_grad_(on)
        if on:
            trainable.append((n, p))
    if not trainable:
        raise ConfigError(f"stages.{stage.name}: every parameter is frozen; nothing to train")
    return trainable


def set_frozen_eval(model: nn.Module) -> list[str]:
    """Put sub-modules whose parameters are all frozen into eval mode (after ``model.train()``).

    Returns:
        Names of the modules switched to eval mode (outermost only).
    """
    switched: list[str] = []
    for name, mod in model.named_modules():
        if not name or any(name.startswith(s + ".") for s in switched):
            continue
        params = list(mod.parameters())
        if params and not any(p.requires_grad for p in params):
            mod.eval()
            switched.append(name)
    return switched


def build_optimizer(params: list[tuple[str, nn.Parameter]], stage: StageConfig) -> torch.optim.Optimizer:
    """Adam or AdamW over the trainable parameters of a stage.

    Parameters with fewer than two dimensions (biases, normalisation scales) get no weight decay
    unless ``decay_1d`` is set.
    """
    decay = [p for n, p in params if stage.decay_1d or p.ndim >= 2]
    no_decay = [p for n, p in params if not (stage.decay_1d or p.ndim >= 2)]
    groups = [{"params": decay, "weight_decay": stage.weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    cls = torch.optim.AdamW if stage.optimizer == "adamw" else torch.optim.Adam
    return cls(groups, lr=stage.lr, betas=tuple(stage.betas), eps=stage.eps)


def lr_factor(stage: StageConfig) -> Callable[[int], float]:
    """The schedule of a stage as a multiplier of ``lr`` for update ``t`` (module docstring)."""
    w, n = stage.warmup_steps, stage.steps
    floor = stage.min_lr / stage.lr

    def factor(t: int) -> float:
        if t < w:
            return (t + 1) / w
        if stage.schedule == "constant":
            return 1.0
        progress = min((t - w) / max(n - w, 1), 1.0)
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def build_scheduler(optimizer: torch.optim.Optimizer, stage: StageConfig) -> torch.optim.lr_scheduler.LambdaLR:
    """The stage's schedule as a ``LambdaLR`` (step it after every ``optimizer.step()``)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(stage))
