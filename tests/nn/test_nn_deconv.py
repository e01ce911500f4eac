"""Tests of mmfuse.nn.deconv: the torch Wiener–Hunt filter against scikit-image, deblurring of a
real defocused image, per-image radii, gradients and errors; the total-variation deconvolution."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.restoration import wiener

from mmfuse.degrade import defocus_blur
from mmfuse.errors import InputError
from mmfuse.io import read_image
from mmfuse.nn.deconv import disk_tv, disk_wiener, transfer_function, tv_deconvolution, wiener_hunt
from mmfuse.restore.deblur import disk_psf


@pytest.mark.parametrize(("shape", "radius", "balance"), [((37, 50), 3.0, 0.012), ((64, 48), 4.5, 0.1)])
def test_wiener_hunt_matches_scikit_image(shape, radius, balance) -> None:
    """Without padding the filter is scikit-image's ``restoration.wiener`` (Laplacian regulariser)."""
    x = np.random.default_rng(0).random(shape)
    psf = disk_psf(radius)
    ref = wiener(x, psf, balance, clip=False)
    out = wiener_hunt(torch.from_numpy(x)[None, None], torch.from_numpy(psf), balance, pad=0)[0, 0].numpy()
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-10)


def test_transfer_function_of_a_delta_is_one() -> None:
    delta = torch.zeros(5, 5, dtype=torch.float64)
    delta[2, 2] = 1.0
    tf = transfer_function(delta, (16, 12))
    assert tf.shape == (16, 7)
    torch.testing.assert_close(tf, torch.ones_like(tf))
    with pytest.raises(InputError):
        transfer_function(delta, (4, 16))


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2)))


def test_disk_wiener_deblurs_a_real_image_with_its_own_radius(data_dir) -> None:
    """Two defocused crops of a real image, each with its own radius, in one batch."""
    y = read_image(data_dir / "ivif" / "vi" / "FLIR_04722.jpg", mode="gray")[:160, :200]
    clean, blurred = [], []
    for r in (2.0, 4.0):
        b, _ = defocus_blur(y, 0, radius=r)
        clean.append(y)
        blurred.append(b)
    x = torch.from_numpy(np.stack(blurred))[:, None]
    out = disk_wiener(x, [2.0, 4.0], 0.012).numpy()[:, 0]
    for i in range(2):
        gain = _psnr(out[i][8:-8, 8:-8], clean[i][8:-8, 8:-8]) - _psnr(blurred[i][8:-8, 8:-8], clean[i][8:-8, 8:-8])
        assert gain > 2.0  # measured: +3.3 dB (r = 2), +3.7 dB (r = 4)
    swapped = disk_wiener(x, [4.0, 2.0], 0.012).numpy()[:, 0]  # the wrong radius: 3.6 dB worse (r = 4 image)
    assert _psnr(swapped[1][8:-8, 8:-8], clean[1][8:-8, 8:-8]) < _psnr(out[1][8:-8, 8:-8], clean[1][8:-8, 8:-8]) - 1.0


def test_gradients_reach_image_and_balance() -> None:
    x = torch.rand(1, 1, 24, 30, requires_grad=True)
    lam = torch.tensor(0.02, requires_grad=True)
    disk_wiener(x, [2.5], lam).square().mean().backward()
    assert x.grad.abs().sum() > 0 and lam.grad.abs() > 0


def test_balance_bank_equals_separate_filters() -> None:
    x = torch.rand(2, 3, 20, 26, dtype=torch.float64)
    lams = torch.tensor([0.004, 0.012, 0.05], dtype=torch.float64, requires_grad=True)
    bank = disk_wiener(x, [2.0, 3.5], lams)
    assert bank.shape == (2, 9, 20, 26)
    for j, lam in enumerate(lams.detach().tolist()):  # channel j*C + c: balance j, channel c
        torch.testing.assert_close(bank[:, 3 * j : 3 * j + 3], disk_wiener(x, [2.0, 3.5], lam), rtol=0, atol=1e-12)
    bank[:, 6:].sum().backward()  # only the third balance feeds these channels
    assert lams.grad[2] != 0 and lams.grad[0] == 0 and lams.grad[1] == 0
    with pytest.raises(InputError, match="balance"):
        disk_wiener(x, [2.0, 3.5], torch.ones(2, 2))


def test_disk_wiener_errors() -> None:
    x = torch.rand(2, 1, 16, 16)
    with pytest.raises(InputError):
        disk_wiener(x, [2.0], 0.01)
    with pytest.raises(InputError):
        disk_wiener(x, [2.0, 0.0], 0.01)
    with pytest.raises(InputError):
        wiener_hunt(torch.rand(16, 16), torch.from_numpy(disk_psf(2.0)), 0.01)


def test_tv_deconvolution_beats_wiener_hunt_on_a_real_defocused_image(data_dir) -> None:
    """On a real image blurred by a 3 px disk (8-bit rounded, as benchmark images are) the TV
    deconvolution restores more than the best of three Wiener–Hunt balances."""
    y = read_image(data_dir / "ivif" / "vi" / "FLIR_04722.jpg", mode="gray")[:160, :200]
    b, _ = defocus_blur(y, 0, radius=3.0)
    b = np.round(b * 255) / 255
    x = torch.from_numpy(b.astype(np.float32))[None, None]
    crop = (slice(8, -8), slice(8, -8))
    tv = _psnr(disk_tv(x, [3.0], 5e-4)[0, 0].numpy()[crop], y[crop])
    wh = max(_psnr(disk_wiener(x, [3.0], lam)[0, 0].numpy()[crop], y[crop]) for lam in (0.006, 0.012, 0.024))
    assert tv > wh + 0.3 and tv > _psnr(b[crop], y[crop]) + 3.0, (tv, wh)  # measured 35.26 vs 34.17 (input 30.10)


def test_disk_tv_batches_per_image_kernels_and_passes_gradients() -> None:
    """One pass over a batch with per-image radii equals the images deconvolved one by one (same
    padding; smaller disks are zero-padded around their centre); gradients reach the image and λ."""
    torch.manual_seed(0)
    x = torch.rand(3, 1, 40, 52, dtype=torch.float64)
    radii = [2.0, 3.5, 5.0]
    batch = disk_tv(x, radii, 5e-4)
    pad = 2 * disk_psf(5.0).shape[0] + 4
    for i, r in enumerate(radii):
        one = tv_deconvolution(x[i : i + 1], torch.from_numpy(disk_psf(r)), 5e-4, pad=pad)
        torch.testing.assert_close(batch[i : i + 1], one, rtol=0, atol=1e-9)
    xg = x[:1].clone().requires_grad_(True)
    lam = torch.tensor(5e-4, dtype=torch.float64, requires_grad=True)
    disk_tv(xg, [2.5], lam, inner=1, steps=2).square().mean().backward()
    assert xg.grad.abs().sum() > 0 and lam.grad.abs() > 0
    with pytest.raises(InputError, match="radii"):
        disk_tv(x, [2.0, 3.0], 5e-4)
    with pytest.raises(InputError, match="radii must be > 0"):
        disk_tv(x, [2.0, 0.0, 3.0], 5e-4)
    with pytest.raises(InputError, match="kernels for a batch"):
        tv_deconvolution(x, torch.zeros(2, 5, 5, dtype=torch.float64), 5e-4)
