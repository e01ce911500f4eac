"""Every degradation operator: contract (shape, dtype, range, purity, seeding, errors) and statistics."""
from __future__ import annotations

import json

import numpy as np
import pytest

from mmfuse import degrade as D
from mmfuse.errors import InputError, ShapeError

# Parameters that make every operator change the image visibly. Adding an operator to the
# registry without adding it here fails test_every_operator_is_tested.
OPS: dict[str, dict] = {
    "gaussian_noise": {"sigma": 25},
    "poisson_noise": {"peak": 50},
    "salt_pepper_noise": {"amount": 0.02},
    "defocus_blur": {"radius": 3},
    "gaussian_blur": {"sigma": 2},
    "motion_blur": {"length": 9, "angle": 30},
    "haze": {"beta": 0.1, "depth": "random"},
    "rain": {"density": 0.01},
    "snow": {"density": 5},
    "low_light": {},
    "over_exposure": {},
    "downsample": {"factor": 4},
    "jpeg": {"quality": 20},
    "stripe_noise": {},
    "low_contrast": {},
    "thermal_noise": {"lowfreq_sigma": 4},
}
RANDOM_OPS = {"gaussian_noise", "poisson_noise", "salt_pepper_noise", "haze", "rain", "snow", "low_light",
              "stripe_noise", "thermal_noise"}


def luma(x: np.ndarray) -> np.ndarray:
    return x @ np.array([0.299, 0.587, 0.114], np.float32) if x.ndim == 3 else x


def test_every_operator_is_tested():
    assert set(D.list_operators()) == set(OPS)
    assert RANDOM_OPS <= set(OPS)


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("modality", ["ir", "vis"])
def test_contract_shape_dtype_range_purity(name, modality, pair):
    img = pair[0] if modality == "ir" else pair[1]
    before = img.copy()
    out, used = D.get_operator(name)(img, 7, **OPS[name])
    assert out.dtype == np.float32 and out.shape == img.shape
    assert out.flags.c_contiguous
    assert 0.0 <= out.min() and out.max() <= 1.0
    np.testing.assert_array_equal(img, before)  # the input is never modified
    assert np.abs(out - img).mean() > 1e-3      # and the operator did something
    json.dumps(used)                            # parameters are JSON-serialisable
    for key in OPS[name]:
        assert key in used


@pytest.mark.parametrize("name", sorted(OPS))
def test_seeding(name, pair):
    img = pair[1][:64, :96]
    op = D.get_operator(name)
    a, pa = op(img, 123, **OPS[name])
    b, pb = op(img, np.random.default_rng(123), **OPS[name])
    np.testing.assert_array_equal(a, b)  # int seed == default_rng(seed)
    assert pa == pb
    c, _ = op(img, 124, **OPS[name])
    if name in RANDOM_OPS:
        assert not np.array_equal(a, c)
    else:
        np.testing.assert_array_equal(a, c)
    # a float64 input gives the same float32 result
    d, _ = op(img.astype(np.float64), 123, **OPS[name])
    np.testing.assert_allclose(d, a, atol=1e-6)


@pytest.mark.parametrize("name", sorted(OPS))
def test_bad_inputs_raise_one_line_errors(name):
    op = D.get_operator(name)
    good = np.full((16, 16), 0.5, np.float32)
    cases = [
        (np.full((16, 16), 128, np.uint8), InputError, "dtype uint8"),
        (np.zeros((16, 16, 4), np.float32), ShapeError, "(H, W) or (H, W, 3)"),
        (np.zeros((16,), np.float32), ShapeError, "(H, W) or (H, W, 3)"),
        (np.full((16, 16), 1.5, np.float32), InputError, "[0, 1]"),
        (np.full((16, 16), np.nan, np.float32), InputError, "NaN"),
        ([[0.5]], InputError, "numpy array"),
    ]
    for img, exc, text in cases:
        with pytest.raises(exc) as info:
            op(img, 0, **OPS[name])
        msg = str(info.value)
        assert name in msg and text in msg and "\n" not in msg
    for rng in (None, -1, 1.5, True):
        with pytest.raises(InputError, match="seed|Generator"):
            op(good, rng, **OPS[name])


@pytest.mark.parametrize("name,params", [
    ("gaussian_noise", {"sigma": -1}), ("poisson_noise", {"peak": 0}), ("salt_pepper_noise", {"amount": 2}),
    ("defocus_blur", {"radius": -1}), ("gaussian_blur", {"sigma": -1}), ("haze", {"beta": -0.1}),
    ("haze", {"depth": "spherical"}), ("haze", {"airlight": "max"}), ("rain", {"weight": 2}),
    ("snow", {"layers": 9}), ("low_light", {"gain": 0}), ("over_exposure", {"ev": -1}),
    ("downsample", {"factor": 2.5}), ("downsample", {"down": "lanczos9"}), ("jpeg", {"quality": 0}),
    ("stripe_noise", {"column_sigma": -3}), ("low_contrast", {"factor": 1.5}), ("thermal_noise", {"lowfreq_scale": 0}),
])
def test_bad_parameters(name, params):
    with pytest.raises(InputError, match=name):
        D.get_operator(name)(np.full((16, 16), 0.5, np.float32), 0, **params)


@pytest.mark.parametrize("name,params", [
    ("gaussian_noise", {"sigma": 0}), ("defocus_blur", {"radius": 0}), ("gaussian_blur", {"sigma": 0}),
    ("motion_blur", {"length": 0}), ("haze", {"beta": 0}), ("stripe_noise", {"column_sigma": 0, "pixel_sigma": 0}),
    ("low_contrast", {"factor": 1}), ("downsample", {"factor": 1}), ("salt_pepper_noise", {"amount": 0}),
    ("thermal_noise", {"sigma": 0}), ("rain", {"density": 0}),
])
def test_zero_strength_is_identity(name, params, pair):
    img = pair[1]
    out, _ = D.get_operator(name)(img, 3, **params)
    np.testing.assert_allclose(out, img, atol=1e-6)


def test_over_exposure_zero_ev_is_identity(pair):
    out, _ = D.over_exposure(pair[1], 0, ev=0.0)
    np.testing.assert_allclose(out, pair[1], atol=2e-6)


# --- noise statistics -------------------------------------------------------------------------

@pytest.mark.parametrize("sigma", [15, 25])
def test_gaussian_noise_std_away_from_clipping(sigma, pair):
    vi = pair[1]
    out, _ = D.gaussian_noise(vi, 0, sigma=sigma)
    far = (vi > 0.3) & (vi < 0.7)  # > 2.9 sigma from 0 and 1 for sigma <= 25
    assert far.sum() > 50_000
    res = (out - vi)[far]
    assert res.std() == pytest.approx(sigma / 255, rel=0.05)
    assert abs(res.mean()) < 3 * sigma / 255 / np.sqrt(far.sum())


def test_gaussian_noise_50_on_mid_gray():
    flat = np.full((300, 300), 0.5, np.float32)
    out, _ = D.gaussian_noise(flat, 1, sigma=50)
    # clipping at 2.55 sigma removes < 2 % of the std
    assert (out - flat).std() == pytest.approx(50 / 255, rel=0.05)


def test_gaussian_noise_independent_per_channel(pair):
    out, _ = D.gaussian_noise(pair[1], 4, sigma=25)
    res = (out - pair[1]).reshape(-1, 3)
    corr = np.corrcoef(res.T)
    assert np.all(np.abs(corr[np.triu_indices(3, 1)]) < 0.05)


def test_poisson_noise_variance_is_signal_over_peak():
    for level, peak in ((0.2, 60), (0.5, 60), (0.8, 200)):  # counts above `peak` clip: keep them rare
        flat = np.full((300, 300), level, np.float32)
        out, _ = D.poisson_noise(flat, 2, peak=peak)
        assert out.var() == pytest.approx(level / peak, rel=0.05)
        assert out.mean() == pytest.approx(level, abs=0.005)


def test_salt_pepper_fractions():
    flat = np.full((400, 400, 3), 0.5, np.float32)
    out, _ = D.salt_pepper_noise(flat, 5, amount=0.05, salt_ratio=0.25)
    white = np.all(out == 1.0, axis=2).mean()
    black = np.all(out == 0.0, axis=2).mean()
    assert white == pytest.approx(0.0125, rel=0.1)
    assert black == pytest.approx(0.0375, rel=0.1)
    changed = np.any(out != 0.5, axis=2)
    assert np.all(np.all(out != 0.5, axis=2) == changed)  # same positions in every channel


def test_stripe_noise_column_vs_row_statistics():
    flat = np.full((256, 512), 0.5, np.float32)
    out, used = D.stripe_noise(flat, 11, column_sigma=6.0, pixel_sigma=4.0)
    res = (out - flat).astype(np.float64)
    col_means, row_means = res.mean(axis=0), res.mean(axis=1)
    assert col_means.std() == pytest.approx(6.0 / 255, rel=0.1)
    # rows see the average of all column offsets plus pixel noise / sqrt(W): nearly constant
    assert row_means.std() < 4.0 / 255 / np.sqrt(512) * 1.3
    assert col_means.var() > 100 * row_means.var()
    # per-pixel noise around the column offsets
    assert (res - col_means[None, :]).std() == pytest.approx(4.0 / 255, rel=0.05)


def test_stripe_noise_on_real_ir_and_rgb(pair):
    ir = pair[0]
    out, _ = D.stripe_noise(ir, 3, column_sigma=8.0, pixel_sigma=3.0)
    res = out.astype(np.float64) - ir
    assert res.mean(axis=0).var() > 50 * res.mean(axis=1).var()
    rgb = np.repeat(ir[..., None], 3, axis=2)
    out3, _ = D.stripe_noise(rgb, 3, column_sigma=8.0, pixel_sigma=3.0)
    np.testing.assert_array_equal(out3[..., 0], out3[..., 2])  # same offsets in every channel
    np.testing.assert_allclose(out3[..., 0], out, atol=1e-6)


def test_stripe_noise_row_stripes():
    flat = np.full((256, 256), 0.5, np.float32)
    out, _ = D.stripe_noise(flat, 2, column_sigma=0.0, pixel_sigma=1.0, row_sigma=6.0)
    res = out - flat
    assert res.mean(axis=1).std() == pytest.approx(6 / 255, rel=0.15)
    assert res.mean(axis=0).std() < 1.5 / 255


def test_thermal_noise_components():
    flat = np.full((256, 256), 0.5, np.float32)
    white, _ = D.thermal_noise(flat, 1, sigma=6.0)
    assert (white - flat).std() == pytest.approx(6 / 255, rel=0.05)
    smooth, _ = D.thermal_noise(flat, 1, sigma=0.0, lowfreq_sigma=5.0, lowfreq_scale=0.1)
    res = smooth - flat
    assert res.std() == pytest.approx(5 / 255, rel=0.02)
    # smooth: neighbouring pixels differ far less than the field varies
    assert np.abs(np.diff(res, axis=1)).mean() < 0.05 * res.std()


# --- blur and resampling ------------------------------------------------------------------------

def _gradient_energy(x: np.ndarray) -> float:
    g = luma(x)
    return float((np.diff(g, axis=0) ** 2).mean() + (np.diff(g, axis=1) ** 2).mean())


def test_blurs_reduce_detail_monotonically(pair):
    vi = pair[1]
    e = [_gradient_energy(D.defocus_blur(vi, 0, radius=r)[0]) for r in (0, 1, 2, 3, 5)]
    assert all(a > b for a, b in zip(e, e[1:]))
    e = [_gradient_energy(D.gaussian_blur(vi, 0, sigma=s)[0]) for s in (0, 0.5, 1, 2, 4)]
    assert all(a > b for a, b in zip(e, e[1:]))
    e = [_gradient_energy(D.downsample(vi, 0, factor=f)[0]) for f in (1, 2, 4, 8)]
    assert all(a > b for a, b in zip(e, e[1:]))


def test_blurs_keep_the_mean(pair):
    vi = pair[1]
    for out in (D.defocus_blur(vi, 0, radius=4)[0], D.gaussian_blur(vi, 0, sigma=3)[0],
                D.motion_blur(vi, 0, length=15, angle=45)[0], D.downsample(vi, 0, factor=4)[0]):
        np.testing.assert_allclose(out.mean(axis=(0, 1)), vi.mean(axis=(0, 1)), atol=2e-3)


def test_motion_blur_smears_along_its_direction(pair):
    vi = luma(pair[1])
    horiz, _ = D.motion_blur(vi, 0, length=21, angle=0)
    vert, _ = D.motion_blur(vi, 0, length=21, angle=90)
    dx = lambda x: np.abs(np.diff(x, axis=1)).mean()  # noqa: E731
    dy = lambda x: np.abs(np.diff(x, axis=0)).mean()  # noqa: E731
    assert dx(horiz) / dx(vi) < 0.5 * dy(horiz) / dy(vi)
    assert dy(vert) / dy(vi) < 0.5 * dx(vert) / dx(vi)


def test_downsample_sizes_and_prefilter(pair):
    ir = pair[0]  # 264 x 518: not divisible by 8
    for f in (2, 4, 8):
        out, used = D.downsample(ir, 0, factor=f, down="cubic", up="cubic")
        assert out.shape == ir.shape and used["factor"] == f
    plain, _ = D.downsample(ir, 0, factor=4, down="cubic")
    pre, _ = D.downsample(ir, 0, factor=4, down="cubic", prefilter_sigma=2.6)
    assert _gradient_energy(pre) < _gradient_energy(plain)


def test_jpeg_quantises_and_quality_orders_error(pair):
    vi = pair[1]
    q10, _ = D.jpeg(vi, 0, quality=10)
    q90, _ = D.jpeg(vi, 0, quality=90)
    np.testing.assert_allclose(q10 * 255, np.rint(q10 * 255), atol=1e-3)
    assert np.abs(q10 - vi).mean() > 2 * np.abs(q90 - vi).mean()
    g, _ = D.jpeg(pair[0], 0, quality=30)
    assert g.shape == pair[0].shape


# --- atmosphere ---------------------------------------------------------------------------------

def rms_contrast(x: np.ndarray) -> float:
    return float(luma(x).std())


@pytest.mark.parametrize("depth", ["radial", "ramp", "random", "uniform"])
@pytest.mark.parametrize("airlight", ["mean", "mean-gray", 0.8])
def test_haze_lowers_rms_contrast_monotonically_in_beta(depth, airlight, pair):
    vi = pair[1]
    betas = [0.0, 0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.16, 0.2]
    c = [rms_contrast(D.haze(vi, 5, beta=b, depth=depth, airlight=airlight)[0]) for b in betas]
    assert c[0] == pytest.approx(rms_contrast(vi), rel=1e-5)
    assert all(a > b for a, b in zip(c, c[1:])), c


def test_haze_uniform_depth_follows_the_scattering_model_exactly(pair):
    vi = pair[1]
    out, used = D.haze(vi, 0, beta=0.05, depth="uniform", d_max=10.0, airlight="mean")
    t = np.exp(-0.5)
    a = vi.reshape(-1, 3).mean(axis=0, dtype=np.float64)
    np.testing.assert_allclose(out, vi * t + a * (1 - t), atol=1e-5)
    np.testing.assert_allclose(out.mean(axis=(0, 1), dtype=np.float64), a, atol=1e-5)  # A = mean(J) keeps the mean
    assert used["airlight"] == pytest.approx(a.tolist(), abs=1e-6)
    assert used["t_min"] == pytest.approx(t, rel=1e-5)


def test_haze_depth_models():
    h, w = 120, 160
    radial = D.haze_depth((h, w), 0, depth="radial")
    r, c = np.unravel_index(np.argmax(radial), radial.shape)
    assert abs(r - 100 / 480 * (h - 1)) <= 1 and abs(c - 300 / 640 * (w - 1)) <= 1  # EMS centre
    assert radial.max() == pytest.approx(17.0, abs=0.2) and radial.min() >= 0
    ramp = D.haze_depth((h, w), 0, depth="ramp", horizon=0.25, near=2.0)
    assert np.all(ramp[: int(0.25 * (h - 1))] == 17.0) and ramp[-1, 0] == pytest.approx(2.0)
    assert np.all(np.diff(ramp[:, 0]) <= 0)
    rnd = D.haze_depth((h, w), 3, depth="random", near=1.0)
    assert rnd.min() == pytest.approx(1.0, abs=1e-5) and rnd.max() == pytest.approx(17.0, abs=1e-4)
    assert not np.array_equal(rnd, D.haze_depth((h, w), 4, depth="random", near=1.0))


def test_haze_given_depth_map(pair):
    vi = pair[1]
    d = np.linspace(0, 10, vi.shape[1], dtype=np.float32)[None, :].repeat(vi.shape[0], axis=0)
    out, used = D.haze(vi, 0, beta=0.2, depth_map=d, airlight=1.0)
    assert used["depth"] == "given"
    np.testing.assert_allclose(out[:, 0], vi[:, 0], atol=1e-6)  # depth 0: untouched
    assert out[:, -1].mean() > vi[:, -1].mean()                  # far side: towards white airlight
    with pytest.raises(ShapeError, match="depth_map"):
        D.haze(vi, 0, depth_map=d[:10])
    with pytest.raises(InputError, match="depth_map"):
        D.haze(vi, 0, depth_map=-d)


def test_rain_streaks_are_bright_and_oriented():
    black = np.zeros((200, 200), np.float32)
    vert, _ = D.rain(black, 1, density=0.005, length=25, angle=0, weight=1.0, brightness=1.0)
    horiz, _ = D.rain(black, 1, density=0.005, length=25, angle=90, weight=1.0, brightness=1.0)
    assert 0.02 < (vert > 0.2).mean() < 0.5
    dx = lambda x: np.abs(np.diff(x, axis=1)).mean()  # noqa: E731
    dy = lambda x: np.abs(np.diff(x, axis=0)).mean()  # noqa: E731
    assert dy(vert) < 0.5 * dx(vert)
    assert dx(horiz) < 0.5 * dy(horiz)
    assert vert.max() == pytest.approx(1.0, abs=0.02)  # peak-normalised streaks at full brightness


def test_rain_density_and_weight_scale_the_effect(pair):
    vi = pair[1]
    d = [np.abs(D.rain(vi, 2, density=x)[0] - vi).mean() for x in (0.001, 0.004, 0.016)]
    assert d[0] < d[1] < d[2]
    w = [np.abs(D.rain(vi, 2, weight=x)[0] - vi).mean() for x in (0.2, 0.5, 0.9)]
    assert w[0] < w[1] < w[2]


def test_snow_flakes_and_veil(pair):
    black = np.zeros((128, 128, 3), np.float32)
    veil_only, _ = D.snow(black, 0, density=0.0, veil=0.2)
    np.testing.assert_allclose(veil_only, 0.2 * 0.9, atol=1e-6)
    few, _ = D.snow(black, 0, density=1.0, veil=0.0)
    many, _ = D.snow(black, 0, density=8.0, veil=0.0)
    assert (few > 0.5).mean() < (many > 0.5).mean()
    assert np.array_equal(many[..., 0], many[..., 1])  # white flakes
    vi = pair[1]
    out, used = D.snow(vi, 3)
    assert luma(out).mean() > luma(vi).mean() and used["layers"] == 3


# --- photometric --------------------------------------------------------------------------------

def test_low_light_darkens_and_follows_gain_gamma(pair):
    vi = pair[1]
    out, _ = D.low_light(vi, 0, gain=0.3, gamma=2.0, sigma=0.0)
    np.testing.assert_allclose(out, 0.3 * vi**2, atol=1e-6)
    noisy, _ = D.low_light(vi, 0, gain=0.3, gamma=2.0, sigma=5.0)
    assert noisy.mean() < 0.5 * vi.mean()
    assert (noisy - out)[out > 0.05].std() == pytest.approx(5 / 255, rel=0.1)


def test_over_exposure_clips_highlights_more_with_ev(pair):
    vi = pair[1]
    clipped = [(D.over_exposure(vi, 0, ev=ev)[0] >= 1.0).mean() for ev in (0.5, 1.0, 2.0, 3.0)]
    assert all(a < b for a, b in zip(clipped, clipped[1:]))
    out, _ = D.over_exposure(vi, 0, ev=1.0, gamma=1.0)
    np.testing.assert_allclose(out, np.minimum(2 * vi, 1.0), atol=1e-6)
    assert np.all(out >= vi - 1e-6)


def test_low_contrast_scales_rms_contrast_exactly(pair):
    ir = pair[0]
    out, used = D.low_contrast(ir, 0, factor=0.4)
    assert out.std() == pytest.approx(0.4 * ir.std(), rel=1e-4)
    assert out.mean() == pytest.approx(ir.mean(), abs=1e-5)
    assert used["center"] == pytest.approx(float(ir.mean()), abs=1e-6)
    lifted, _ = D.low_contrast(ir, 0, factor=0.6, center=0.5, shift=0.1)
    np.testing.assert_allclose(lifted, np.clip(0.5 + 0.6 * (ir - 0.5) + 0.1, 0, 1), atol=1e-6)
