"""Classical restorers: each improves the PSNR of its target degradation on a real image.

Degradations are synthesised with :mod:`mmfuse.degrade` operators (an independent
implementation) or, for haze, with the atmospheric scattering model written out here. PSNR is
measured on the BT.601 luminance against the clean image. Margins are well below the measured
gains (in comments) but far above what an identity or a plain blur would give.
"""
from __future__ import annotations

import numpy as np
import pytest

from mmfuse.degrade import defocus_blur, low_light, rain, snow
from mmfuse.errors import InputError, ShapeError
from mmfuse.io import read_image
from mmfuse.restore import (
    RESTORE_ORDER,
    RESTORERS,
    deblur_wiener,
    dehaze_dcp,
    denoise_nlm,
    derain_opening,
    desnow_opening,
    destripe_columns,
    destripe_wavelet_fft,
    enhance_lowlight,
    estimate_defocus_radius,
    estimate_noise_sigma,
    get_restorer,
    plan_restorers,
    stripe_amplitude,
    stripe_noise_floor,
    stripe_profile,
    stripe_profile_and_floor,
)
from mmfuse.restore.deblur import disk_psf
from mmfuse.restore.dehaze import estimate_airlight


def _y(img: np.ndarray) -> np.ndarray:
    return img if img.ndim == 2 else img @ np.array([0.299, 0.587, 0.114], np.float32)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    err = np.mean((_y(a).astype(np.float64) - _y(b).astype(np.float64)) ** 2)
    return float(10 * np.log10(1.0 / err))


@pytest.fixture(scope="module")
def vis(data_dir):
    return read_image(data_dir / "ivif" / "vi" / "FLIR_04722.jpg", mode="keep")


@pytest.fixture(scope="module")
def ir(data_dir):
    return read_image(data_dir / "ivif" / "ir" / "FLIR_04722.jpg", mode="gray")


def _noisy(img: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(img + rng.standard_normal(img.shape).astype(np.float32) * sigma / 255, 0, 1)


@pytest.mark.parametrize("sigma", [15, 25, 50])
def test_noise_estimate_follows_sigma(vis, sigma):
    est = estimate_noise_sigma(_noisy(vis, sigma)) * 255
    assert 0.8 * sigma < est < 1.1 * sigma  # measured 14.0 / 23.2 / 45.3
    assert estimate_noise_sigma(vis) * 255 < 2.0  # clean JPEG: 0.35


@pytest.mark.parametrize("modality", ["vis", "ir"])
def test_denoise_nlm_improves_noise25(vis, ir, modality):
    clean = vis if modality == "vis" else ir
    noisy = _noisy(clean, 25)
    out = denoise_nlm(noisy)
    assert out.shape == clean.shape and out.dtype == np.float32
    assert psnr(out, clean) > psnr(noisy, clean) + 5.0  # measured +7.4 dB (RGB), +8.2 dB (gray)


def test_denoise_leaves_clean_image_alone(vis):
    np.testing.assert_array_equal(denoise_nlm(vis), vis)


def _hazy(clean: np.ndarray, airlight: float = 0.8) -> np.ndarray:
    h, w = clean.shape[:2]
    depth = np.linspace(0.3, 1.0, h, dtype=np.float32)[:, None] * np.ones((1, w), np.float32)
    t = np.exp(-1.5 * depth)[..., None]  # transmission 0.22 .. 0.64
    return (clean * t + airlight * (1 - t)).astype(np.float32)


def test_airlight_includes_every_pixel_tied_at_the_cut() -> None:
    """The airlight is the mean colour over the top 0.1 % of the dark channel; pixels tied at the
    cut are all included (a fixed rule, independent of how a selection routine orders ties)."""
    rng = np.random.default_rng(0)
    img = rng.uniform(0.2, 0.6, (40, 50, 3)).astype(np.float32)
    dark = rng.uniform(0.0, 0.5, (40, 50)).astype(np.float32)  # top 0.1 % of 2000 pixels = 2
    tied = [(3, 4), (10, 20), (22, 7), (39, 49), (0, 0)]
    for k, (y, x) in enumerate(tied):
        dark[y, x] = 0.9
        img[y, x] = (0.7 + 0.05 * k, 0.8, 0.9 - 0.05 * k)
    expected = np.mean([img[y, x] for y, x in tied], axis=0)
    np.testing.assert_allclose(estimate_airlight(img, dark), expected, rtol=1e-6)
    dark[0, 0] = 0.95  # a unique maximum and four ties for the second place
    np.testing.assert_allclose(estimate_airlight(img, dark), expected, rtol=1e-6)
    dark[3, 4] = 0.97  # two distinct top values: exactly those two pixels
    np.testing.assert_allclose(estimate_airlight(img, dark), (img[0, 0] + img[3, 4]) / 2, rtol=1e-6)


def test_dehaze_dcp_improves_synthetic_haze(data_dir):
    clean = read_image(data_dir / "restore" / "vifb_man_vi.jpg", mode="keep")
    hazy = _hazy(clean)
    out = dehaze_dcp(hazy)
    assert psnr(out, clean) > psnr(hazy, clean) + 6.0  # measured 9.6 -> 23.8 dB
    assert out.shape == clean.shape


def test_destripe_removes_column_offsets(ir):
    rng = np.random.default_rng(3)
    striped = np.clip(ir + rng.standard_normal(ir.shape[1]).astype(np.float32)[None, :] * 6 / 255, 0, 1)
    assert psnr(destripe_columns(striped), ir) > psnr(striped, ir) + 5.0  # measured 33.1 -> 40.8 dB
    assert psnr(destripe_wavelet_fft(striped), ir) > psnr(striped, ir) + 4.0  # measured 39.4 dB
    assert psnr(destripe_columns(ir), ir) > 45.0  # clean image barely changed (49.3 dB)
    assert stripe_amplitude(striped) * 255 > 4.0 > 1.5 > stripe_amplitude(ir) * 255  # 5.6 vs 0.9


def test_stripe_noise_floor_removes_what_white_noise_adds(ir):
    """White noise raises the column-offset amplitude (the profile is estimated from noisy rows);
    the floor predicts that rise, so the noise-corrected amplitude stays low on a noisy unstriped
    image and keeps real stripes."""
    rng = np.random.default_rng(4)
    for shape in [(160, 160), (300, 420)]:  # pure Gaussian noise: amplitude ~ floor
        x = 0.5 + 0.04 * rng.standard_normal(shape)
        assert 0.9 < stripe_amplitude(x) / stripe_noise_floor(x) < 1.1  # measured 0.97, 0.97
    assert stripe_noise_floor(ir) * 255 < 0.5  # clean 8-bit image (measured 0.24, amplitude 0.87)
    noisy = np.clip(ir + rng.standard_normal(ir.shape).astype(np.float32) * 50 / 255, 0, 1)
    striped = np.clip(ir + rng.standard_normal(ir.shape[1]).astype(np.float32)[None, :] * 6 / 255, 0, 1)
    both = np.clip(striped + rng.standard_normal(ir.shape).astype(np.float32) * 25 / 255, 0, 1)
    a = {k: 255 * stripe_amplitude(v) for k, v in {"noisy": noisy, "striped": striped, "both": both}.items()}
    c = {k: 255 * stripe_amplitude(v, noise_corrected=True) for k, v in {"noisy": noisy, "striped": striped, "both": both}.items()}
    assert a["noisy"] > 2.0 and c["noisy"] < 0.5 * a["noisy"]  # measured 3.9 -> 0.0
    assert abs(c["striped"] - a["striped"]) < 0.1 and c["both"] > 0.85 * a["striped"]
    assert stripe_noise_floor(np.zeros((10, 2))) == 0.0
    profile, floor = stripe_profile_and_floor(both)  # the two computed together, as the TG-ECNet stripe expert does
    np.testing.assert_array_equal(profile, stripe_profile(both))
    assert floor == pytest.approx(stripe_noise_floor(both), rel=1e-6)


@pytest.mark.parametrize("radius", [2.0, 3.0, 4.0])
def test_deblur_estimates_radius_and_sharpens(vis, radius):
    blurred, _ = defocus_blur(vis, 0, radius=radius)
    assert abs(estimate_defocus_radius(blurred) - radius) <= 0.5  # measured: exact
    assert psnr(deblur_wiener(blurred), vis) > psnr(blurred, vis) + 2.0  # measured +3.0 .. +3.3 dB


def test_disk_psf_is_a_normalised_disk():
    psf = disk_psf(3.0)
    assert psf.shape == (7, 7)
    assert psf.sum() == pytest.approx(1.0)
    assert psf[3, 3] == psf.max() and psf[0, 0] == 0.0
    np.testing.assert_allclose(psf, psf.T)
    with pytest.raises(ValueError):
        disk_psf(0.0)


def test_lowlight_brightens(vis):
    dark, _ = low_light(vis, 0, gain=0.3, gamma=2.0, sigma=3.0)
    assert psnr(enhance_lowlight(dark), vis) > psnr(dark, vis) + 8.0  # measured 6.7 -> 19.2 dB


def test_derain_and_desnow_help_on_synthetic_weather(vis):
    rainy, _ = rain(vis, 0, density=0.004, length=25.0)
    assert psnr(derain_opening(rainy), vis) > psnr(rainy, vis) + 4.0  # measured 23.8 -> 30.5 dB
    snowy, _ = snow(vis, 0)
    assert psnr(desnow_opening(snowy), vis) > psnr(snowy, vis) + 1.0  # measured 20.6 -> 22.4 dB


@pytest.mark.parametrize("name", sorted(RESTORERS))
@pytest.mark.parametrize("colour", [False, True])
def test_every_restorer_keeps_shape_dtype_range(name, colour, vis, ir):
    img = (vis if colour else ir)[:64, :80]
    out = get_restorer(name)(_noisy(img, 15))
    assert out.shape == img.shape and out.dtype == np.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_restorer_errors():
    with pytest.raises(InputError, match="unknown restorer 'nope'"):
        get_restorer("nope")
    with pytest.raises(ShapeError, match="denoise"):
        denoise_nlm(np.zeros((4, 4, 2), np.float32))
    with pytest.raises(InputError, match="NaN"):
        dehaze_dcp(np.full((8, 8), np.nan, np.float32))


def test_plan_restorers_order_and_targets():
    assert plan_restorers(["haze", "defocus_blur", "gaussian_noise"]) == ["denoise", "deblur", "dehaze"]
    assert plan_restorers(["stripe_noise"]) == ["destripe", "denoise"]  # the operator adds white noise too
    assert plan_restorers(["jpeg"]) == []
    assert set(RESTORE_ORDER) == set(RESTORERS)
    for r in RESTORERS.values():
        assert r.modality in ("vis", "ir") and r.paper and r.description


def test_noise_estimate_of_flat_channels_is_zero():
    """A flat channel has no wavelet detail at all (skimage's estimate would be NaN): it counts as
    noise-free, and the colour estimate averages it with the others."""
    flat = np.full((16, 16), 0.3, np.float32)
    assert estimate_noise_sigma(flat) == 0.0
    noisy = _noisy(np.full((64, 64), 0.5, np.float32), 25)
    both = np.dstack([np.full((64, 64), 0.3, np.float32), noisy, noisy])
    assert estimate_noise_sigma(both) == pytest.approx(2 / 3 * estimate_noise_sigma(noisy), rel=1e-6)
