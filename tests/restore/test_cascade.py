"""cascade:<restorers>+<fuser> methods and the degradation context of ``auto``.

(The cascade method lives in ``mmfuse.models.cascade``; its tests sit with the restorers it
drives.)
"""
from __future__ import annotations

import numpy as np
import pytest

from mmfuse.api import fuse_file
from mmfuse.errors import InputError
from mmfuse.io import read_image
from mmfuse.models import load
from mmfuse.models.cascade import CascadeMethod, parse_cascade_name
from mmfuse.models.registry import get_spec, list_families
from mmfuse.restore import DegradationContext, context_from_manifest, context_from_setting_name, estimate_context


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


@pytest.fixture(scope="module")
def pair(data_dir):
    ir = read_image(data_dir / "ivif" / "ir" / "FLIR_04722.jpg", mode="gray")
    vis = read_image(data_dir / "ivif" / "vi" / "FLIR_04722.jpg", mode="keep")
    return ir, vis


def _noisy(img: np.ndarray, sigma: float) -> np.ndarray:
    rng = np.random.default_rng(7)
    return np.clip(img + rng.standard_normal(img.shape).astype(np.float32) * sigma / 255, 0, 1)


def test_parse_cascade_names():
    assert parse_cascade_name("cascade:auto+gff") == ("auto", "gff")
    assert parse_cascade_name("cascade:denoise+destripe+gff") == ([("denoise", "vis"), ("destripe", "ir")], "gff")
    assert parse_cascade_name("cascade:denoise@ir+laplacian") == ([("denoise", "ir")], "laplacian")
    for bad, msg in [
        ("cascade:gff", "expected cascade:"),
        ("cascade:denoise+", "expected cascade:"),
        ("cascade:nope+gff", "unknown restorer 'nope'"),
        ("cascade:auto+denoise+gff", "cannot be combined"),
        ("cascade:denoise@uv+gff", "@vis or @ir"),
        ("cascade:gff+denoise", "must be a fusion method"),
    ]:
        with pytest.raises(InputError, match=msg):
            parse_cascade_name(bad)


def test_cascade_is_a_registered_family():
    assert "cascade:" in list_families()
    spec = get_spec("cascade:denoise+dehaze+gff")
    assert spec.kind == "cascade" and "denoise@vis -> dehaze@vis" in spec.description
    with pytest.raises(InputError, match="unknown method 'nosuch'"):
        load("cascade:denoise+nosuch")
    with pytest.raises(InputError):
        load("cascade:denoise+cascade:auto+gff")


def test_cascade_denoise_brings_fusion_closer_to_clean_fusion(pair):
    ir, vis = pair
    noisy = _noisy(vis, 25)
    reference = load("gff").fuse(ir, vis, gray=True)
    plain = load("gff").fuse(ir, noisy, gray=True)
    cascade = load("cascade:denoise+gff")
    out, info = cascade.fuse(ir, noisy, gray=True, return_info=True)
    assert info["restorers"] == ["denoise@vis"] and info["fuser"]["method"] == "gff"
    assert psnr(out, reference) > psnr(plain, reference) + 4.0  # measured +6.9 dB


def test_auto_uses_the_context_it_is_given(pair):
    ir, vis = pair
    m = load("cascade:auto+gff")
    assert isinstance(m, CascadeMethod)
    m.set_context(DegradationContext(vis=("haze", "gaussian_noise"), ir=("stripe_noise",), source="manifest"))
    _, info = m.fuse(ir, vis, return_info=True)
    assert info["restorers"] == ["destripe@ir", "denoise@ir", "denoise@vis", "dehaze@vis"]
    assert info["context"]["source"] == "manifest"
    m.set_context(None)  # back to blind estimation: the clean pair needs nothing
    _, info = m.fuse(ir, vis, return_info=True)
    assert info["restorers"] == [] and info["context"]["source"] == "estimated"
    with pytest.raises(TypeError):
        m.set_context({"vis": ["haze"]})  # type: ignore[arg-type]


def test_auto_without_context_estimates_noise_and_stripes(pair):
    ir, vis = pair
    rng = np.random.default_rng(0)
    striped = np.clip(ir + rng.standard_normal(ir.shape[1]).astype(np.float32)[None, :] * 6 / 255, 0, 1)
    ctx = estimate_context(striped, _noisy(vis, 25))
    assert ctx == DegradationContext(vis=("gaussian_noise",), ir=("stripe_noise",), source="estimated")
    assert estimate_context(ir, vis) == DegradationContext(source="estimated")
    assert estimate_context(ir, vis * 0.2).vis == ("low_light",)
    noisy_ir = _noisy(ir, 50)  # white noise alone raises the column-offset amplitude to 3.9/255 (corrected: 0)
    assert estimate_context(noisy_ir, vis).ir == ("gaussian_noise",)


def test_context_from_setting_name():
    ctx = context_from_setting_name("noise50+haze+defocus+stripe")
    assert ctx == DegradationContext(vis=("gaussian_noise", "haze", "defocus_blur"), ir=("stripe_noise",), source="setting")
    assert context_from_setting_name("clean") == DegradationContext(source="setting")
    assert context_from_setting_name("defocus_blur+lowlight+thermal_noise") == DegradationContext(
        vis=("defocus_blur", "low_light"), ir=("thermal_noise",), source="setting")
    assert context_from_setting_name("my-own-setting") is None


def test_context_from_manifest():
    manifest = {
        "settings": [{"name": "haze+stripe", "vis_chain": "haze", "ir_chain": "stripe",
                      "steps": {"haze": {"op": "haze"}, "stripe": {"op": "stripe_noise"}}}],
        "items": [{"setting": "haze+stripe", "name": "a", "vis": [{"step": "haze", "op": "haze", "params": {}}],
                   "ir": [{"step": "stripe", "op": "stripe_noise", "params": {}}]}],
    }
    per_file = context_from_manifest(manifest, "haze+stripe", "a")
    assert per_file == DegradationContext(vis=("haze",), ir=("stripe_noise",), source="manifest")
    assert context_from_manifest(manifest, "haze+stripe", "unlisted") == per_file  # from the setting entry
    assert context_from_manifest(manifest, "other", "a") is None


def test_cascade_through_fuse_file_gray_and_colour(pair, tmp_path, data_dir):
    m = load("cascade:denoise+laplacian")
    ir_path = data_dir / "ivif" / "ir" / "FLIR_04722.jpg"
    vi_path = data_dir / "ivif" / "vi" / "FLIR_04722.jpg"
    info = fuse_file(ir_path, vi_path, tmp_path / "rgb.png", m)
    assert read_image(tmp_path / "rgb.png", mode="keep").shape == pair[1].shape
    assert info["method"] == "cascade:denoise+laplacian"
    out = m.fuse(pair[0], pair[1][..., 1])  # gray visible -> gray fused
    assert out.shape == pair[0].shape


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (2, 2), (5, 3), (31, 120)])
def test_cascade_fuses_tiny_and_thin_images(shape):
    """Sides shorter than the restorers' estimators need are padded and cropped back: any size in,
    the same size out (a 1x1 pair once failed with "too small (need at least 2x2)")."""
    rng = np.random.default_rng(3)
    ir = rng.random(shape).astype(np.float32)
    vis = rng.random((*shape, 3)).astype(np.float32)
    for name in ("cascade:auto+gff", "cascade:denoise+destripe+laplacian"):
        out, info = load(name).fuse(ir, vis, return_info=True)
        assert out.shape == (*shape, 3) and np.isfinite(out).all() and info["method"] == name
