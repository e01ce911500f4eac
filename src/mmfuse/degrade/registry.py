"""The operator registry: one explicit dict from operator name to function.

Every operator has the signature ``op(img, rng, **params) -> (out, params_used)``
(see :mod:`mmfuse.degrade.noise`). Presets (YAML) and chains refer to operators by these names.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from mmfuse.degrade.atmosphere import haze, rain, snow
from mmfuse.degrade.blur import defocus_blur, downsample, gaussian_blur, jpeg, motion_blur
from mmfuse.degrade.noise import gaussian_noise, poisson_noise, salt_pepper_noise, stripe_noise, thermal_noise
from mmfuse.degrade.photometric import low_contrast, low_light, over_exposure
from mmfuse.errors import InputError

__all__ = [
    "Operator", "OPERATORS", "VIS_OPERATORS", "IR_OPERATORS", "get_operator", "list_operators", "operator_defaults",
]

#: Type of a degradation operator.
Operator = Callable[..., tuple[np.ndarray, dict[str, Any]]]

#: All operators by name. Explicit on purpose: adding an operator means adding a line here.
OPERATORS: dict[str, Operator] = {
    # visible
    "gaussian_noise": gaussian_noise,
    "poisson_noise": poisson_noise,
    "salt_pepper_noise": salt_pepper_noise,
    "defocus_blur": defocus_blur,
    "gaussian_blur": gaussian_blur,
    "motion_blur": motion_blur,
    "haze": haze,
    "rain": rain,
    "snow": snow,
    "low_light": low_light,
    "over_exposure": over_exposure,
    "downsample": downsample,
    "jpeg": jpeg,
    # infrared
    "stripe_noise": stripe_noise,
    "low_contrast": low_contrast,
    "thermal_noise": thermal_noise,
}

#: Operators the papers apply to visible images (informative; any operator runs on any image).
VIS_OPERATORS = (
    "gaussian_noise", "poisson_noise", "salt_pepper_noise", "defocus_blur", "gaussian_blur", "motion_blur",
    "haze", "rain", "snow", "low_light", "over_exposure", "downsample", "jpeg",
)
#: Operators the papers apply to infrared images.
IR_OPERATORS = ("stripe_noise", "low_contrast", "thermal_noise", "gaussian_blur", "downsample", "gaussian_noise",
                "poisson_noise", "salt_pepper_noise")


def get_operator(name: str) -> Operator:
    """Return the operator registered as ``name``.

    Raises:
        InputError: Unknown name (the message lists the known ones).
    """
    try:
        return OPERATORS[name]
    except KeyError:
        raise InputError(f"unknown degradation operator {name!r}; known: {', '.join(OPERATORS)}") from None


def list_operators() -> list[str]:
    """Names of all registered operators, in registry order."""
    return list(OPERATORS)


def operator_defaults(name: str) -> dict[str, Any]:
    """Keyword parameters of operator ``name`` with their default values."""
    sig = inspect.signature(get_operator(name))
    return {
        p.name: p.default
        for p in sig.parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
