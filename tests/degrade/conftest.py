"""Fixtures for the degradation tests: one real RoadScene pair and one MSRS pair (tests/data)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmfuse.io import read_image

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="session")
def pair() -> tuple[np.ndarray, np.ndarray]:
    """RoadScene FLIR_04593: IR ``(264, 518)`` and VIS ``(264, 518, 3)``, float32 in [0, 1]."""
    ir = read_image(DATA / "ivif" / "ir" / "FLIR_04593.jpg", "gray")
    vi = read_image(DATA / "ivif" / "vi" / "FLIR_04593.jpg", "rgb")
    return ir, vi


@pytest.fixture(scope="session")
def msrs_pair() -> tuple[np.ndarray, np.ndarray]:
    """MSRS 00001D: IR ``(480, 640)`` and VIS ``(480, 640, 3)``."""
    ir = read_image(DATA / "msrs" / "ir" / "00001D.png", "gray")
    vi = read_image(DATA / "msrs" / "vi" / "00001D.png", "rgb")
    return ir, vi
