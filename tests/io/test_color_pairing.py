"""YCbCr round trip, luminance replacement, folder pairing, padding."""
from __future__ import annotations

import numpy as np
import pytest

from mmfuse.errors import InputError, ShapeError
from mmfuse.io import (
    crop_to,
    find_pairs,
    pad_to_multiple,
    pair_folders,
    read_image,
    replace_luminance,
    rgb_to_ycbcr,
    ycbcr_to_rgb,
)


def test_ycbcr_roundtrip_real_image(ivif_dir):
    vi = read_image(ivif_dir / "vi" / "FLIR_04593.jpg")
    back = ycbcr_to_rgb(rgb_to_ycbcr(vi))
    assert np.abs(back - vi).max() * 255 < 1.0  # < 1 grey level


def test_ycbcr_matches_opencv():
    import cv2

    rng = np.random.default_rng(0)
    x = rng.random((5, 6, 3)).astype(np.float32)
    ycrcb = cv2.cvtColor(x, cv2.COLOR_RGB2YCrCb)
    ours = rgb_to_ycbcr(x)
    np.testing.assert_allclose(ours[..., 0], ycrcb[..., 0], atol=1e-5)
    np.testing.assert_allclose(ours[..., 1], ycrcb[..., 2], atol=1e-5)
    np.testing.assert_allclose(ours[..., 2], ycrcb[..., 1], atol=1e-5)


def test_replace_luminance_keeps_chroma():
    rng = np.random.default_rng(1)
    rgb = rng.uniform(0.2, 0.8, (8, 8, 3)).astype(np.float32)
    y = rng.uniform(0.3, 0.7, (8, 8)).astype(np.float32)
    out = replace_luminance(rgb, y)
    ycc_in, ycc_out = rgb_to_ycbcr(rgb), rgb_to_ycbcr(out)
    np.testing.assert_allclose(ycc_out[..., 0], y, atol=2e-3)  # up to clipping
    with pytest.raises(ShapeError):
        replace_luminance(rgb, y[:4])
    assert ycc_in.shape == ycc_out.shape


def _touch(p):
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"x")


def test_pairing_by_stem_not_order(tmp_path):
    for n in ["b.png", "a.png", "c.png", "zz.jpg"]:
        _touch(tmp_path / "Infrared" / n)
    for n in ["a.jpg", "b.PNG", "c.bmp", "d.png", "notes.txt"]:
        _touch(tmp_path / "Visible" / n)
    ps = find_pairs(tmp_path)
    assert [(p.name, p.ir.name, p.vi.name) for p in ps.pairs] == [
        ("a", "a.png", "a.jpg"),
        ("b", "b.png", "b.PNG"),
        ("c", "c.png", "c.bmp"),
    ]
    assert [p.name for p in ps.unmatched_ir] == ["zz.jpg"]
    assert [p.name for p in ps.unmatched_vi] == ["d.png"]
    lines = ps.problems()
    assert any("zz.jpg" in line and "no visible" in line for line in lines)
    assert any("d.png" in line and "no infrared" in line for line in lines)


@pytest.mark.parametrize("names", [("ir", "vi"), ("ir", "vis"), ("IR", "VI"), ("infrared", "visible")])
def test_folder_names(tmp_path, names):
    _touch(tmp_path / names[0] / "x.png")
    _touch(tmp_path / names[1] / "x.png")
    assert [p.name for p in find_pairs(tmp_path).pairs] == ["x"]


def test_ambiguous_and_empty(tmp_path):
    for n in ["a.png", "a.jpg"]:
        _touch(tmp_path / "ir" / n)
    _touch(tmp_path / "vi" / "a.png")
    ps = pair_folders(tmp_path / "ir", tmp_path / "vi")
    assert not ps.pairs and len(ps.ambiguous) == 2
    with pytest.raises(InputError, match="no infrared/visible pairs"):
        find_pairs(tmp_path)
    (tmp_path / "e" / "ir").mkdir(parents=True)
    (tmp_path / "e" / "vi").mkdir()
    with pytest.raises(InputError, match="folders are empty"):
        find_pairs(tmp_path / "e")
    with pytest.raises(InputError, match="no infrared/visible sub-folders"):
        find_pairs(tmp_path / "e" / "ir")


@pytest.mark.parametrize("shape", [(1, 1), (3, 517), (641, 479), (5, 2, 3)])
@pytest.mark.parametrize("multiple", [1, 8, 16])
def test_pad_crop(shape, multiple):
    x = np.random.default_rng(0).random(shape).astype(np.float32)
    p, size = pad_to_multiple(x, multiple)
    assert p.shape[0] % multiple == 0 and p.shape[1] % multiple == 0
    assert p.shape[2:] == x.shape[2:]
    np.testing.assert_array_equal(crop_to(p, size), x)


@pytest.mark.parametrize("shape, multiple, min_size, expected", [((1, 1), 32, 36, (64, 64)), ((31, 500), 32, 36, (64, 512)), ((40, 36), 32, 36, (64, 64)), ((7, 5, 3), 8, 9, (16, 16)), ((70, 90), 32, 36, (96, 96))])
def test_pad_to_min_size(shape, multiple, min_size, expected):
    """Sides below ``min_size`` are padded up to it (then to the multiple); larger ones only to the multiple."""
    x = np.random.default_rng(1).random(shape).astype(np.float32)
    p, size = pad_to_multiple(x, multiple, min_size=min_size)
    assert p.shape[:2] == expected and p.shape[2:] == x.shape[2:]
    np.testing.assert_array_equal(crop_to(p, size), x)
