"""A tiny benchmark (2 pairs x 2 settings: stripe, noise25+stripe) built from cropped test images with mmfuse.degrade."""
from __future__ import annotations

from pathlib import Path

import pytest

from mmfuse.degrade import build_benchmark
from mmfuse.io import read_image, write_image

NAMES = ("FLIR_04593", "FLIR_04722")


def make_tiny_benchmark(data_dir: Path, root: Path) -> Path:
    """Crop two RoadScene pairs to 96x128 and build the stripe and noise25+stripe settings of demmi-rf."""
    src = root / "src"
    for name in NAMES:
        ir = read_image(data_dir / "ivif" / "ir" / f"{name}.jpg", mode="gray")[40:136, 60:188]
        vi = read_image(data_dir / "ivif" / "vi" / f"{name}.jpg", mode="keep")[40:136, 60:188]
        write_image(src / "ir" / f"{name}.png", ir)
        write_image(src / "vi" / f"{name}.png", vi)
    bench = root / "bench"
    build_benchmark(src, bench, "demmi-rf", settings="stripe,noise25+stripe", seed=0, progress=False)
    return bench


@pytest.fixture(scope="module")
def tiny_bench(data_dir, tmp_path_factory) -> Path:
    return make_tiny_benchmark(data_dir, tmp_path_factory.mktemp("tinybench"))
