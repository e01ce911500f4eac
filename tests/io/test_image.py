"""Reading and writing images: bit depths, channel layouts, sizes, EXIF, errors."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mmfuse.errors import ImageReadError, InputError, OutputExistsError
from mmfuse.io import read_image, read_raw, to_float, write_image

SIZES = [(1, 1), (3, 517), (641, 479)]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("channels", [1, 3])
def test_roundtrip_8bit(tmp_path, size, channels):
    rng = np.random.default_rng(0)
    shape = size if channels == 1 else (*size, 3)
    raw = rng.integers(0, 256, shape, dtype=np.uint8)
    p = write_image(tmp_path / "a.png", raw.astype(np.float32) / 255.0)
    back = read_raw(p)
    assert back.dtype == np.uint8 and back.shape == raw.shape
    np.testing.assert_array_equal(back, raw)
    f = read_image(p)
    assert f.dtype == np.float32 and f.shape == raw.shape
    np.testing.assert_allclose(f * 255.0, raw, atol=1e-4)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("channels", [1, 3])
def test_roundtrip_16bit(tmp_path, size, channels):
    rng = np.random.default_rng(1)
    shape = size if channels == 1 else (*size, 3)
    raw = rng.integers(0, 65536, shape, dtype=np.uint16)
    p = write_image(tmp_path / "a.png", raw)
    back = read_raw(p)
    assert back.dtype == np.uint16 and back.shape == raw.shape
    np.testing.assert_array_equal(back, raw)
    # float -> 16-bit -> float keeps values to 1/65535
    x = rng.random(shape).astype(np.float32)
    q = write_image(tmp_path / "b.png", x, bits=16)
    np.testing.assert_allclose(read_image(q, normalization="full"), x, atol=1.0 / 65535)


def test_sixteen_bit_policies():
    # a raw radiometric frame: counts 7000..7999 in a ramp, plus one hot pixel
    raw = (7000 + np.arange(100 * 100) % 1000).astype(np.uint16).reshape(100, 100)
    raw[0, 0] = 65000
    pct = to_float(raw, normalization="percentile")
    mm = to_float(raw, normalization="minmax")
    full = to_float(raw, normalization="full")
    assert full.max() == pytest.approx(65000 / 65535)
    assert mm[0, 0] == 1.0 and mm[9, 99] < 0.02  # hot pixel squeezes the rest
    assert pct[0, 0] == 1.0 and pct[9, 99] > 0.98  # percentile clip ignores the hot pixel
    assert abs(float(np.median(pct)) - 0.5) < 0.01
    # auto: narrow radiometric band -> percentile; a full-range 16-bit picture -> full
    np.testing.assert_array_equal(to_float(raw), pct)
    wide = np.linspace(0, 65535, 20).astype(np.uint16).reshape(4, 5)
    np.testing.assert_array_equal(to_float(wide), to_float(wide, normalization="full"))
    with pytest.raises(InputError, match="unknown normalization"):
        to_float(raw, normalization="bogus")


def test_rgba_palette_gray_alpha(tmp_path):
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (6, 7, 1), dtype=np.uint8)
    Image.fromarray(np.concatenate([rgb, alpha], 2), "RGBA").save(tmp_path / "rgba.png")
    np.testing.assert_allclose(read_image(tmp_path / "rgba.png") * 255, rgb, atol=1e-3)
    pal = Image.fromarray(rgb, "RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    pal.save(tmp_path / "pal.png")
    expected = np.asarray(pal.convert("RGB"))
    got = read_image(tmp_path / "pal.png")
    assert got.shape == (6, 7, 3)
    np.testing.assert_allclose(got * 255, expected, atol=1e-3)
    la = Image.fromarray(rgb[..., 0], "L").convert("LA")
    la.save(tmp_path / "la.png")
    assert read_image(tmp_path / "la.png").shape == (6, 7)


def test_modes(tmp_path):
    rgb = np.zeros((4, 4, 3), np.float32)
    rgb[..., 0] = 1.0
    p = write_image(tmp_path / "red.png", rgb)
    assert read_image(p, mode="gray") == pytest.approx(np.full((4, 4), 0.299), abs=1e-6)
    g = write_image(tmp_path / "g.png", np.full((4, 4), 0.5, np.float32))
    assert read_image(g, mode="rgb").shape == (4, 4, 3)


def test_exif_orientation(tmp_path):
    arr = np.zeros((2, 3), np.uint8)
    arr[0, 0] = 255  # top-left marker in the stored raster
    im = Image.fromarray(arr, "L")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise for display
    im.save(tmp_path / "o.jpg", exif=exif, quality=100)
    out = read_raw(tmp_path / "o.jpg")
    assert out.shape == (3, 2)
    assert out[0, 1] > 200  # marker now top-right


def test_tiff_16bit(tmp_path):
    raw = (np.arange(12, dtype=np.uint16) * 5000).reshape(3, 4)
    Image.fromarray(raw).save(tmp_path / "t.tif")
    back = read_raw(tmp_path / "t.tif")
    np.testing.assert_array_equal(back, raw)


def test_real_jpeg(ivif_dir):
    ir = read_image(ivif_dir / "ir" / "FLIR_00455.jpg")
    vi = read_image(ivif_dir / "vi" / "FLIR_00455.jpg")
    assert ir.ndim == 2 and vi.shape == (*ir.shape, 3)
    assert 0.0 <= ir.min() < ir.max() <= 1.0


@pytest.mark.parametrize(
    "content, match",
    [(None, "file not found"), (b"", "empty file"), (b"hello, not an image", "not an image"), ("trunc", "cannot read image")],
)
def test_read_errors(tmp_path, ivif_dir, content, match):
    p = tmp_path / "bad.png"
    if content == "trunc":
        data = (ivif_dir / "vi" / "FLIR_00455.jpg").read_bytes()
        p = tmp_path / "bad.jpg"
        p.write_bytes(data[: len(data) // 3])
    elif content is not None:
        p.write_bytes(content)
    with pytest.raises(ImageReadError, match=match) as err:
        read_image(p)
    assert str(p) in str(err.value) and "\n" not in str(err.value)


def test_write_refuses_overwrite_and_is_atomic(tmp_path):
    p = write_image(tmp_path / "x.png", np.zeros((3, 3), np.float32))
    before = p.read_bytes()
    with pytest.raises(OutputExistsError):
        write_image(p, np.ones((3, 3), np.float32))
    assert p.read_bytes() == before
    with pytest.raises(InputError, match="NaN"):
        write_image(tmp_path / "nan.png", np.full((2, 2), np.nan, np.float32))
    assert not (tmp_path / "nan.png").exists()
    assert sorted(x.name for x in tmp_path.iterdir()) == ["x.png"]  # no temp files left
    write_image(p, np.ones((3, 3), np.float32), overwrite=True)
    assert read_raw(p).max() == 255
