"""Paired comparison of two methods (mmfuse.bench.stats)."""
from __future__ import annotations

import numpy as np
import pytest

from mmfuse.bench.stats import compare_records, paired_difference
from mmfuse.errors import InputError


def test_interval_matches_the_normal_approximation_on_a_large_sample() -> None:
    """For 400 normal differences the BCa interval is close to mean ± 1.96·s/√n."""
    d = np.random.default_rng(0).normal(0.5, 1.0, 400)
    r = paired_difference(d, np.zeros_like(d))
    half = 1.96 * d.std(ddof=1) / np.sqrt(d.size)
    assert r.mean == pytest.approx(d.mean())
    assert r.low == pytest.approx(d.mean() - half, abs=0.1 * half)
    assert r.high == pytest.approx(d.mean() + half, abs=0.1 * half)
    assert r.verdict == "better" and r.better + r.worse == 400 and r.n == 400


def test_direction_ties_and_losses() -> None:
    rng = np.random.default_rng(1)
    b = rng.random(40)
    worse = b + 0.05 + 0.01 * rng.standard_normal(40)  # clearly larger: worse when lower is better
    r = paired_difference(worse, b, higher_is_better=False)
    assert r.verdict == "worse" and r.mean < 0 and r.worse == 40 and r.high < 0
    assert paired_difference(worse, b, higher_is_better=True).verdict == "better"
    tie = b + np.where(np.arange(40) % 2 == 0, 0.01, -0.01)  # zero mean advantage
    r = paired_difference(tie, b)
    assert r.verdict == "tie" and r.low < 0 < r.high and r.better == r.worse == 20


def test_constant_difference_and_reproducibility() -> None:
    b = np.linspace(0, 1, 10)
    r = paired_difference(b + 0.25, b)
    assert r.low == r.high == pytest.approx(0.25) and r.verdict == "better"
    d = np.random.default_rng(2).normal(0.0, 1.0, 30)
    assert paired_difference(d, np.zeros(30), seed=5) == paired_difference(d, np.zeros(30), seed=5)


@pytest.mark.parametrize(
    ("a", "b", "kw", "msg"),
    [([1.0, 2.0], [1.0], {}, "same images"), ([1.0], [2.0], {}, "at least 2"),
     ([1.0, np.inf], [1.0, 2.0], {}, "non-finite"), ([1.0, 2.0], [0.0, 1.0], {"confidence": 1.0}, "confidence")],
)
def test_bad_input(a: list, b: list, kw: dict, msg: str) -> None:
    with pytest.raises(InputError, match=msg):
        paired_difference(a, b, **kw)


def test_compare_records_pairs_by_name() -> None:
    """Records are matched by image name whatever their order; images missing a value are skipped."""
    recs = [{"method": "a", "name": f"p{i}", "metrics": {"SSIM": 0.5 + 0.01 * i}} for i in range(5)]
    recs += [{"method": "b", "name": f"p{i}", "metrics": {"SSIM": 0.4 + 0.01 * i}} for i in reversed(range(5))]
    recs += [{"method": "b", "name": "extra", "metrics": {"SSIM": 0.9}}, {"method": "a", "name": "p9", "metrics": {}}]
    r = compare_records(recs, "a", "b", "SSIM", True)
    assert r.n == 5 and r.mean == pytest.approx(0.1) and r.verdict == "better"
    with pytest.raises(InputError, match="a vs c: 0 images"):
        compare_records(recs, "a", "c", "SSIM", True)
