"""mmfuse: all-in-one degraded multi-modal (infrared-visible) image fusion.

Quick use::

    import mmfuse
    from mmfuse.io import read_image
    fused = mmfuse.fuse(read_image("ir.png"), read_image("vis.png"))   # default method
    method = mmfuse.load("gff")                                        # any registered method
    mmfuse.list_methods()

The package root stays light: submodules (``mmfuse.io``, ``mmfuse.degrade``, ``mmfuse.metrics``,
``mmfuse.models``, ...) are imported when first used.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

__version__ = "0.1.0"
__all__ = ["__version__", "list_methods", "load", "fuse"]

if TYPE_CHECKING:
    from mmfuse.models.base import FusionMethod


def list_methods() -> list[str]:
    """Names of all registered fusion methods (``cascade:...`` family names are built on demand)."""
    from mmfuse.models.registry import list_methods as _list

    return [spec.name for spec in _list()]


def load(name: str = "default", weights: str | None = None, device: str = "cpu", self_ensemble: int | None = None) -> FusionMethod:
    """Build a fusion method by name (``"default"`` = the registry's default); see
    :func:`mmfuse.models.registry.load`."""
    from mmfuse.models.registry import load as _load

    return _load(name, weights=weights, device=device, self_ensemble=self_ensemble)


def fuse(ir: np.ndarray, vis: np.ndarray, method: str = "default", **kwargs: Any) -> np.ndarray:
    """Fuse a pair of numpy images with ``method``.

    Args:
        ir: infrared image ``(H, W)`` (float in ``[0, 1]`` or uint8/uint16).
        vis: visible image ``(H, W)`` or ``(H, W, 3)`` RGB.
        method: registered method name or ``"default"``.
        **kwargs: passed to :meth:`mmfuse.models.base.FusionMethod.fuse` (``resize``, ``gray``).

    Returns:
        Fused image, float32 in ``[0, 1]``, same size as ``vis``; colour if ``vis`` is colour.
    """
    return load(method).fuse(ir, vis, **kwargs)
