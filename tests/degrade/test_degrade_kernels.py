"""Blur kernels: normalisation, symmetry, size and support; the convolution routine."""
from __future__ import annotations

import numpy as np
import pytest

from mmfuse.degrade import disk_kernel, gaussian_kernel, motion_kernel
from mmfuse.degrade.kernels import convolve
from mmfuse.errors import InputError


@pytest.mark.parametrize("radius", [0.0, 0.4, 1.0, 2.0, 2.5, 3.7, 5.0, 8.0])
def test_disk_kernel_sums_to_one_and_is_round(radius):
    k = disk_kernel(radius)
    assert k.ndim == 2 and k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
    assert k.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(k >= 0)
    np.testing.assert_allclose(k, k.T, atol=1e-15)          # isotropic: symmetric under transposition
    np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-15)
    if radius >= 1:
        # the covered area approaches pi r^2 (coverage of the centre pixel is 1)
        area = k.sum() / k.max()
        assert area == pytest.approx(np.pi * radius**2, rel=0.05)
        assert k.shape[0] == 2 * int(np.ceil(radius)) + 1


def test_disk_kernel_grows_with_radius():
    areas = [1.0 / disk_kernel(r).max() for r in (1.0, 1.5, 2.0, 3.0, 4.0)]
    assert all(a < b for a, b in zip(areas, areas[1:]))


@pytest.mark.parametrize("sigma", [0.0, 0.5, 1.0, 2.6, 4.0])
def test_gaussian_kernel_sums_to_one_with_right_spread(sigma):
    k = gaussian_kernel(sigma)
    assert k.sum() == pytest.approx(1.0, abs=1e-12)
    if sigma >= 1:  # below 1 px a sampled Gaussian is narrower than sigma (0.5 -> variance 0.21)
        half = k.shape[0] // 2
        assert half == int(np.ceil(3 * sigma))
        yy, xx = np.mgrid[-half:half + 1, -half:half + 1]
        var_x = float((k * xx**2).sum())
        assert var_x == pytest.approx(sigma**2, rel=0.05)  # truncation at 3 sigma loses < 5 %


@pytest.mark.parametrize("length,angle", [(0.0, 0.0), (1.0, 10.0), (9.0, 0.0), (15.0, 90.0), (12.5, 33.0), (20.0, 135.0)])
def test_motion_kernel_sums_to_one_and_points_along_angle(length, angle):
    k = motion_kernel(length, angle)
    assert k.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-15)  # point-symmetric
    if length >= 9:
        half = k.shape[0] // 2
        yy, xx = np.mgrid[-half:half + 1, -half:half + 1]
        # principal direction of the kernel's second moments = the motion direction
        cov = np.array([[(k * xx * xx).sum(), (k * xx * -yy).sum()], [(k * xx * -yy).sum(), (k * yy * yy).sum()]])
        w, v = np.linalg.eigh(cov)
        direction = np.degrees(np.arctan2(v[1, 1], v[0, 1])) % 180
        assert min(abs(direction - angle % 180), 180 - abs(direction - angle % 180)) < 2.0
        # spread along the line is that of a uniform segment: length^2 / 12
        assert w[1] == pytest.approx(length**2 / 12, rel=0.1)


def test_kernel_argument_errors():
    with pytest.raises(InputError, match="radius"):
        disk_kernel(-1)
    with pytest.raises(InputError, match="sigma"):
        gaussian_kernel(float("nan"))
    with pytest.raises(InputError, match="length"):
        motion_kernel(-2, 0)


def test_convolve_preserves_constants_and_is_a_true_convolution():
    flat = np.full((20, 30, 3), 0.4, np.float32)
    for k in (disk_kernel(3), gaussian_kernel(2), motion_kernel(11, 20)):
        np.testing.assert_allclose(convolve(flat, k), flat, atol=1e-6)  # reflect border + sum 1
    # an impulse reproduces the (asymmetric) kernel itself, not its mirror image
    k = np.zeros((3, 3))
    k[0, 2] = 1.0
    img = np.zeros((7, 7), np.float32)
    img[3, 3] = 1.0
    out = convolve(img, k)
    assert out[2, 4] == pytest.approx(1.0)  # correlation would put it at the mirrored place (4, 2)
    assert out.sum() == pytest.approx(1.0)


def test_combine_kernels_is_the_full_convolution():
    from scipy.signal import convolve2d

    from mmfuse.degrade.kernels import combine_kernels

    rng = np.random.default_rng(0)
    a, b = rng.random((7, 5)), rng.random((3, 9))
    np.testing.assert_allclose(combine_kernels(a, b), convolve2d(a, b, mode="full"), atol=1e-12)
    k = combine_kernels(motion_kernel(15, 30), gaussian_kernel(1.0))
    assert k.sum() == pytest.approx(1.0, abs=1e-12)


def test_smooth_field_is_smooth_and_zero_mean():
    from mmfuse.degrade.kernels import smooth_field

    noise = np.random.default_rng(1).standard_normal((200, 300))
    f = smooth_field(noise, 10.0)
    assert f.shape == noise.shape
    # variance of white noise filtered by a 2-D Gaussian: 1 / (4 pi sigma^2)
    assert f.var() == pytest.approx(1 / (4 * np.pi * 100), rel=0.35)
    assert np.abs(np.diff(f, axis=0)).mean() < 0.15 * f.std()
