"""Paired comparison of two methods on the same images.

A benchmark mean hides how much of a difference between two methods is the images' draw: with
40 pairs a 0.0003 SSIM gap can be one image. :func:`paired_difference` takes the per-image
values of two methods on the same images and returns the mean advantage of the first with a
bootstrap confidence interval (BCa, Efron & Tibshirani, *An Introduction to the Bootstrap*, 1993,
ch. 14; computed by :func:`scipy.stats.bootstrap`) and the number of images on which it is
better. :func:`compare_records` does that for ``mmfuse bench`` records, pairing them by image.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from mmfuse.errors import InputError

__all__ = ["PairedDifference", "compare_records", "paired_difference"]


@dataclass(frozen=True)
class PairedDifference:
    """Advantage of method A over method B on one metric (positive = A better, in the metric's
    own units, whatever its direction).

    Attributes:
        mean: mean per-image advantage.
        low, high: bounds of its confidence interval (equal to ``mean`` when every image gives
            the same advantage).
        better, worse: images on which A is strictly better / worse.
        n: images compared.
        confidence: level of the interval.
    """

    mean: float
    low: float
    high: float
    better: int
    worse: int
    n: int
    confidence: float

    @property
    def verdict(self) -> str:
        """``"better"`` when the whole interval is above 0, ``"worse"`` when below, else ``"tie"``."""
        if self.low > 0:
            return "better"
        if self.high < 0:
            return "worse"
        return "tie"


def paired_difference(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    higher_is_better: bool = True,
    *,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    seed: int = 0,
) -> PairedDifference:
    """Mean per-image advantage of A over B with a BCa bootstrap confidence interval.

    Args:
        a, b: per-image values of the two methods, same length, same image order.
        higher_is_better: the metric's direction (``mmfuse.metrics.METRIC_DIRECTION`` > 0).
        confidence: level of the interval, in ``(0, 1)``.
        n_resamples: bootstrap resamples.
        seed: seed of the resampling (the result is reproducible).

    Returns:
        :class:`PairedDifference`.

    Raises:
        InputError: different lengths, fewer than 2 images, non-finite values, or a confidence
            outside ``(0, 1)``.
    """
    x, y = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise InputError(f"paired comparison needs the same images for both methods: got {x.size} and {y.size} values")
    if x.size < 2:
        raise InputError(f"paired comparison needs at least 2 images, got {x.size}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise InputError("paired comparison got non-finite metric values (e.g. PSNR of identical images)")
    if not 0 < confidence < 1:
        raise InputError(f"confidence must be in (0, 1), got {confidence}")
    d = x - y if higher_is_better else y - x
    mean = float(d.mean())
    if np.ptp(d) <= 1e-12 * max(1.0, abs(mean)):  # (numerically) constant: every resample has the same mean
        low = high = mean
    else:
        low, high = math.nan, math.nan
        for method in ("BCa", "percentile"):  # BCa is undefined on near-degenerate samples
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                warnings.simplefilter("ignore", stats.DegenerateDataWarning)
                res = stats.bootstrap((d,), np.mean, confidence_level=confidence, n_resamples=n_resamples,
                                      method=method, rng=np.random.default_rng(seed))
            low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
            if math.isfinite(low) and math.isfinite(high):
                break
    return PairedDifference(mean, low, high, int((d > 0).sum()), int((d < 0).sum()), int(d.size), confidence)


def compare_records(
    records: Sequence[dict[str, Any]], method: str, other: str, metric: str, higher_is_better: bool, **kwargs: Any
) -> PairedDifference:
    """:func:`paired_difference` of ``method`` against ``other`` on ``metric`` over ``mmfuse bench``
    records (dicts with ``"method"``, ``"name"``, ``"metrics"``; give the records of one setting),
    paired by image name; images that lack either method's value are left out.

    Raises:
        InputError: fewer than 2 images with both values (and see :func:`paired_difference`).
    """
    vals: dict[str, dict[str, float]] = {method: {}, other: {}}
    for r in records:
        if r.get("method") in vals and metric in r.get("metrics", {}):
            vals[r["method"]][r["name"]] = float(r["metrics"][metric])
    names = sorted(set(vals[method]) & set(vals[other]))
    if len(names) < 2:
        raise InputError(f"{method} vs {other}: {len(names)} images with {metric} for both, need at least 2")
    return paired_difference([vals[method][n] for n in names], [vals[other][n] for n in names], higher_is_better, **kwargs)
