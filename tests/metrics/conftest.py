"""Fixtures of the metric tests."""
from __future__ import annotations

import numpy as np
import pytest

from metrics_testdata import triplet


@pytest.fixture(scope="session")
def small_triplet() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A small real triplet (grey, 0..255 float64): VIFB 'fight' ADF, 200x240 crop (large
    enough for the 5 scales of MS-SSIM)."""
    f, ir, vi = triplet("fight", "ADF")
    crop = (slice(60, 260), slice(100, 340))
    return (
        f[crop + (0,)].astype(np.float64),
        ir[crop + (0,)].astype(np.float64),
        vi[crop + (1,)].astype(np.float64),
    )
