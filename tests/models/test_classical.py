"""Classical baselines: real pairs, identities, size/colour handling through FusionMethod."""
from __future__ import annotations

import numpy as np
import pytest

import mmfuse
from mmfuse.errors import InputError, ShapeError
from mmfuse.io import read_image, rgb_to_ycbcr
from mmfuse.models.classical import fuse_average, fuse_gff, fuse_laplacian, fuse_max, guided_filter

CLASSICAL = ["average", "max", "laplacian", "gff"]


@pytest.fixture(scope="module")
def pair(ivif_dir):
    return read_image(ivif_dir / "ir" / "FLIR_04722.jpg"), read_image(ivif_dir / "vi" / "FLIR_04722.jpg")


@pytest.mark.parametrize("name", CLASSICAL)
def test_real_pair(pair, name):
    ir, vi = pair
    fused = mmfuse.fuse(ir, vi, method=name)
    assert fused.shape == vi.shape and fused.dtype == np.float32
    assert np.isfinite(fused).all()
    y = rgb_to_ycbcr(fused)[..., 0]
    vy = rgb_to_ycbcr(vi)[..., 0]
    lo, hi = min(ir.min(), vy.min()), max(ir.max(), vy.max())
    # luminance stays within the sources' range (pyramid/filter methods may overshoot a little at edges)
    tol = 0.0 if name in ("average", "max") else 0.08
    assert y.min() >= lo - tol - 2e-3 and y.max() <= hi + tol + 2e-3
    # the fused image is not just one of the sources
    assert np.abs(y - ir).mean() > 0.01 and np.abs(y - vy).mean() > 0.01


@pytest.mark.parametrize("fn", [fuse_average, fuse_max, fuse_laplacian, fuse_gff])
def test_identity(fn, pair):
    y = pair[0]
    np.testing.assert_allclose(fn(y, y), y, atol=2e-5)


def test_max_and_average_values():
    a = np.array([[0.1, 0.9]], np.float32)
    b = np.array([[0.5, 0.3]], np.float32)
    np.testing.assert_allclose(fuse_max(a, b), [[0.5, 0.9]])
    np.testing.assert_allclose(fuse_average(a, b), [[0.3, 0.6]])


def test_detail_selection():
    """Laplacian and GFF keep the detail of the textured source over a flat one."""
    rng = np.random.default_rng(0)
    tex = np.clip(0.5 + 0.2 * rng.standard_normal((64, 64)), 0, 1).astype(np.float32)
    flat = np.full((64, 64), 0.5, np.float32)
    for fn in (fuse_laplacian, fuse_gff):
        f = fn(tex, flat)
        assert np.corrcoef(f.ravel(), tex.ravel())[0, 1] > 0.9
        assert f.std() > 0.6 * tex.std()


def test_guided_filter_edge_preserving():
    step = np.zeros((32, 32))
    step[:, 16:] = 1.0
    out = guided_filter(step, step, radius=4, eps=1e-6)
    np.testing.assert_allclose(out, step, atol=1e-3)  # guide = input, tiny eps: edges kept
    smooth = guided_filter(step, step, radius=4, eps=10.0)
    assert np.abs(smooth - step).max() > 0.1  # large eps: behaves like a box filter


@pytest.mark.parametrize("shape", [(1, 1), (3, 517), (641, 479), (7, 5)])
@pytest.mark.parametrize("name", CLASSICAL)
def test_any_size(shape, name):
    rng = np.random.default_rng(1)
    ir = rng.random(shape).astype(np.float32)
    vi = rng.random((*shape, 3)).astype(np.float32)
    out = mmfuse.load(name).fuse(ir, vi)
    assert out.shape == (*shape, 3) and np.isfinite(out).all()
    gray = mmfuse.load(name).fuse(ir, vi[..., 0])
    assert gray.shape == shape


def test_colour_and_gray_output(pair):
    ir, vi = pair
    m = mmfuse.load("average")
    f = m.fuse(ir, vi)
    ycc_f, ycc_v = rgb_to_ycbcr(f), rgb_to_ycbcr(vi)
    # chroma re-attached from the visible image (up to clipping at the gamut border)
    assert np.median(np.abs(ycc_f[..., 1:] - ycc_v[..., 1:])) < 2 / 255
    g = m.fuse(ir, vi, gray=True)
    np.testing.assert_allclose(g, 0.5 * (ir + ycc_v[..., 0]), atol=1e-5)
    u8 = m.fuse((ir * 255).round().astype(np.uint8), (vi * 255).round().astype(np.uint8))
    assert np.abs(u8 - f).max() < 2 / 255


def test_size_mismatch_and_resize(pair):
    ir, vi = pair
    small = ir[::2, ::2]
    with pytest.raises(ShapeError, match="sizes differ"):
        mmfuse.fuse(small, vi, method="average")
    out = mmfuse.fuse(small, vi, method="average", resize=True)
    assert out.shape == vi.shape


def test_bad_arrays():
    with pytest.raises(ShapeError, match="ir"):
        mmfuse.fuse(np.zeros((4, 4, 5)), np.zeros((4, 4)), method="max")
    with pytest.raises(ShapeError, match="empty"):
        mmfuse.fuse(np.zeros((0, 4)), np.zeros((0, 4)), method="max")
    with pytest.raises(InputError, match="NaN"):
        mmfuse.fuse(np.full((2, 2), np.nan), np.zeros((2, 2)), method="max")


def test_registry():
    names = mmfuse.list_methods()
    assert set(CLASSICAL) <= set(names)
    from mmfuse.models.registry import DEFAULT_METHOD, get_spec

    assert DEFAULT_METHOD in names
    assert mmfuse.load("default").name == DEFAULT_METHOD
    assert get_spec("default").name == DEFAULT_METHOD
    with pytest.raises(InputError, match="did you mean 'gff'"):
        mmfuse.load("gf")
    with pytest.raises(InputError, match="takes no weights"):
        mmfuse.load("max", weights=__file__)
