"""Seeded, pure degradation operators, presets and the benchmark builder.

Operators (``op(img, rng, **params) -> (out, params_used)``, float images in ``[0, 1]``,
``(H, W)`` or ``(H, W, 3)``, float32 output of the same shape):

- visible: :func:`gaussian_noise`, :func:`poisson_noise`, :func:`salt_pepper_noise`,
  :func:`defocus_blur`, :func:`gaussian_blur`, :func:`motion_blur`, :func:`haze`, :func:`rain`,
  :func:`snow`, :func:`low_light`, :func:`over_exposure`, :func:`downsample`, :func:`jpeg`;
- infrared: :func:`stripe_noise`, :func:`low_contrast`, :func:`thermal_noise` (and blur +
  :func:`downsample`).

Composition: chains such as ``haze+defocus+noise50`` (:func:`parse_chain`, :func:`apply_chain`),
settings ``(name, vis chain, ir chain)`` grouped in YAML presets (:func:`list_presets`,
:func:`load_preset`, :func:`apply_setting`), and :func:`build_benchmark`, which writes a
DeMMI-RF-like benchmark from clean ``ir/`` + ``vi/`` pairs. See ``docs/degradations.md``.
"""
from __future__ import annotations

from mmfuse.degrade._common import RngLike, as_rng
from mmfuse.degrade.atmosphere import DEPTH_MODELS, haze, haze_depth, rain, snow
from mmfuse.degrade.benchmark import BenchmarkSummary, build_benchmark, item_seed
from mmfuse.degrade.blur import defocus_blur, downsample, gaussian_blur, jpeg, motion_blur
from mmfuse.degrade.kernels import disk_kernel, gaussian_kernel, motion_kernel
from mmfuse.degrade.noise import gaussian_noise, poisson_noise, salt_pepper_noise, stripe_noise, thermal_noise
from mmfuse.degrade.photometric import low_contrast, low_light, over_exposure
from mmfuse.degrade.presets import PRESET_FILES, Preset, Setting, apply_setting, list_presets, load_preset
from mmfuse.degrade.registry import OPERATORS, get_operator, list_operators, operator_defaults
from mmfuse.degrade.steps import BUILTIN_STEPS, Step, apply_chain, chain_text, parse_chain

__all__ = [
    "RngLike", "as_rng",
    # operators
    "gaussian_noise", "poisson_noise", "salt_pepper_noise", "defocus_blur", "gaussian_blur", "motion_blur",
    "haze", "haze_depth", "DEPTH_MODELS", "rain", "snow", "low_light", "over_exposure", "downsample", "jpeg",
    "stripe_noise", "low_contrast", "thermal_noise",
    # kernels
    "disk_kernel", "gaussian_kernel", "motion_kernel",
    # registry, steps, chains
    "OPERATORS", "get_operator", "list_operators", "operator_defaults",
    "Step", "BUILTIN_STEPS", "parse_chain", "apply_chain", "chain_text",
    # presets
    "Setting", "Preset", "PRESET_FILES", "list_presets", "load_preset", "apply_setting",
    # benchmark
    "build_benchmark", "BenchmarkSummary", "item_seed",
]
