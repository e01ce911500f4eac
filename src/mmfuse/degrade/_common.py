"""Shared helpers of the degradation operators: seeding, input checks, output finishing.

Every operator in :mod:`mmfuse.degrade` has the signature ``op(img, rng, **params) ->
(out, params_used)``. The helpers here keep that contract in one place:

- :func:`as_rng` turns an ``int`` seed or a :class:`numpy.random.Generator` into a generator
  (no global random state is ever used);
- :func:`check_image` validates the input image (float, ``(H, W)`` or ``(H, W, 3)``, finite,
  in ``[0, 1]``) and raises :class:`mmfuse.errors.InputError` / :class:`~mmfuse.errors.ShapeError`
  with a one-line message otherwise;
- :func:`finish` clips to ``[0, 1]`` and casts to ``float32``;
- :func:`jsonable` converts sampled parameters (numpy scalars, tuples, arrays) to plain JSON types.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Union

import numpy as np

from mmfuse.errors import InputError, ShapeError

__all__ = [
    "RngLike",
    "as_rng",
    "check_image",
    "finish",
    "jsonable",
    "require",
    "SCALE_255",
]

#: Anything accepted where an operator needs randomness: a generator or a non-negative int seed.
RngLike = Union[np.random.Generator, int]

#: Intensities and noise levels documented "on the 0–255 scale" are divided by this value.
SCALE_255 = 255.0

# Images may leave [0, 1] by float rounding only (e.g. 1.0000001 after a colour conversion).
_RANGE_TOLERANCE = 1e-4


def as_rng(rng: RngLike, *, where: str = "rng") -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` for ``rng``.

    Args:
        rng: A generator (returned unchanged, so the caller's stream advances) or a
            non-negative ``int`` seed (``numpy.random.default_rng(seed)``).
        where: Name used in the error message.

    Returns:
        The generator.

    Raises:
        InputError: ``rng`` is ``None``, a negative int, a bool, or another type. ``None`` is
            refused on purpose: every degradation in mmfuse must be reproducible.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (bool, np.bool_)) or not isinstance(rng, numbers.Integral):
        raise InputError(
            f"{where}: expected a numpy.random.Generator or a non-negative int seed, got {type(rng).__name__}"
        )
    if int(rng) < 0:
        raise InputError(f"{where}: seed must be a non-negative int, got {int(rng)}")
    return np.random.default_rng(int(rng))


def check_image(img: Any, op: str) -> np.ndarray:
    """Validate an operator input and return it as a float32 array (no copy when possible).

    Args:
        img: Image array, float dtype, shape ``(H, W)`` (gray) or ``(H, W, 3)`` (RGB), values in
            ``[0, 1]``.
        op: Operator name used in error messages.

    Returns:
        ``img`` as ``float32`` (a view when it already is ``float32``).

    Raises:
        InputError: Not a numpy array, not a float dtype, NaN/inf values or values outside
            ``[0, 1]``.
        ShapeError: Wrong number of dimensions or channels, or an empty image.
    """
    if not isinstance(img, np.ndarray):
        raise InputError(f"{op}: expected a numpy array, got {type(img).__name__}")
    if not np.issubdtype(img.dtype, np.floating):
        raise InputError(
            f"{op}: expected a float image in [0, 1], got dtype {img.dtype} (divide 8-bit images by 255)"
        )
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)):
        raise ShapeError(f"{op}: expected an image of shape (H, W) or (H, W, 3), got {img.shape}")
    if img.shape[0] < 1 or img.shape[1] < 1:
        raise ShapeError(f"{op}: empty image of shape {img.shape}")
    lo, hi = float(np.min(img)), float(np.max(img))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InputError(f"{op}: image contains NaN or infinite values")
    if lo < -_RANGE_TOLERANCE or hi > 1.0 + _RANGE_TOLERANCE:
        raise InputError(f"{op}: image values must lie in [0, 1], got [{lo:.4g}, {hi:.4g}]")
    return img.astype(np.float32, copy=False)


def finish(out: np.ndarray) -> np.ndarray:
    """Clip to ``[0, 1]`` and return a C-contiguous ``float32`` array (same shape)."""
    out = np.clip(out, 0.0, 1.0, out=out if out.dtype == np.float32 else None)
    return np.ascontiguousarray(out, dtype=np.float32)


def require(condition: bool, op: str, message: str) -> None:
    """Raise :class:`InputError` ``"<op>: <message>"`` when ``condition`` is false."""
    if not condition:
        raise InputError(f"{op}: {message}")


def jsonable(value: Any) -> Any:
    """Convert a parameter value to plain JSON types (``int``, ``float``, ``str``, lists, dicts).

    Floats are kept at full precision (Python's ``repr`` round-trips), so a manifest written with
    :func:`json.dumps` is byte-identical for identical inputs.
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"cannot convert {type(value).__name__} to JSON")
