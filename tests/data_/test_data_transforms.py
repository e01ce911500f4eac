"""Joint random crops / flips and the synthetic multi-exposure / multi-focus pairs."""
from __future__ import annotations

import numpy as np
import pytest

from mmfuse.data import (
    RandomCropFlip,
    SyntheticPairs,
    center_crop_item,
    defocus,
    make_multi_exposure_pair,
    make_multi_focus_pair,
    pad_to_size,
    random_focus_mask,
)
from mmfuse.errors import InputError, ShapeError


class _Items:
    """Items whose images encode their pixel coordinates, so a crop's origin can be read back."""

    def __init__(self, h: int = 40, w: int = 50, n: int = 4) -> None:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        self.n = n
        self.coords = (yy, xx)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        yy, xx = self.coords
        return {"name": f"s{i}", "ir": yy.copy(), "vis": np.stack([xx, yy, xx + i], axis=-1), "label": i}


def _check_consistent(item: dict) -> None:
    # ir == vis[..., 1] before any transform: every joint transform must keep it
    assert np.array_equal(item["ir"], item["vis"][..., 1])


def test_crop_is_joint_and_within_bounds():
    ds = RandomCropFlip(_Items(), 16, flip=False, seed=3)
    for i in range(4):
        item = ds[i]
        assert item["ir"].shape == (16, 16) and item["vis"].shape == (16, 16, 3)
        _check_consistent(item)
        top, left = int(item["ir"][0, 0]), int(item["vis"][0, 0, 0])
        assert 0 <= top <= 40 - 16 and 0 <= left <= 50 - 16
        # a contiguous window
        assert np.array_equal(item["ir"][:, 0], np.arange(top, top + 16, dtype=np.float32))
        assert item["label"] == i and item["name"] == f"s{i}"


def test_flips_and_rot90_are_joint():
    ds = RandomCropFlip(_Items(), 16, flip=True, rot90=True, seed=0)
    seen = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        for i in range(4):
            item = ds[i]
            _check_consistent(item)
            seen.add((item["ir"][0, 0] > item["ir"][-1, -1], item["vis"][0, 0, 0] > item["vis"][-1, -1, 0]))
    assert len(seen) > 1  # orientation actually varies


def test_randomness_depends_on_seed_epoch_index_only():
    a = RandomCropFlip(_Items(), 16, seed=5)
    b = RandomCropFlip(_Items(), 16, seed=5)
    assert all(np.array_equal(a[i]["vis"], b[i]["vis"]) for i in range(4))
    b.set_epoch(1)
    assert not all(np.array_equal(a[i]["vis"], b[i]["vis"]) for i in range(4))
    c = RandomCropFlip(_Items(), 16, seed=6)
    assert not all(np.array_equal(a[i]["vis"], c[i]["vis"]) for i in range(4))
    # reading order does not matter
    assert np.array_equal(a[2]["vis"], [a[i] for i in (3, 2, 1)][1]["vis"])


def test_small_items_are_mirror_padded():
    ds = RandomCropFlip(_Items(h=10, w=12), 32, flip=False)
    item = ds[0]
    assert item["ir"].shape == (32, 32)
    _check_consistent(item)
    # reflect-101: row 10 mirrors row 8
    assert np.array_equal(item["ir"][10], item["ir"][8])
    img = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert pad_to_size(img, 9, 9).shape == (9, 9)  # pads larger than the image
    assert pad_to_size(img[..., None], 4, 4).shape == (4, 4, 1)
    assert pad_to_size(img, 1, 1) is img


def test_center_crop_and_bad_args():
    item = center_crop_item(_Items()[0], 20)
    assert item["ir"][0, 0] == 10 and item["vis"][0, 0, 0] == 15
    with pytest.raises(InputError, match="crop size"):
        RandomCropFlip(_Items(), 0)
    with pytest.raises(InputError, match="rot90"):
        RandomCropFlip(_Items(), None, rot90=True)
    bad = {"name": "x", "ir": np.zeros((4, 4), np.float32), "vis": np.zeros((5, 4, 3), np.float32)}
    with pytest.raises(InputError, match="differ in size"):
        center_crop_item(bad, 2)


def test_multi_exposure_pair():
    rng = np.random.default_rng(0)
    img = rng.uniform(0.05, 0.95, (24, 24, 3)).astype(np.float32)
    under, over = make_multi_exposure_pair(img, rng)
    assert under.shape == img.shape and under.dtype == np.float32
    assert np.all(under <= img * 0.4 + 1e-6)  # scale <= 0.4 and gamma >= 1 on [0, 1]
    assert np.all(over >= np.minimum(img * 2.5, 1.0) - 1e-6)
    assert 0.0 <= under.min() and over.max() <= 1.0
    # fixed parameters reproduce the formula exactly
    u, o = make_multi_exposure_pair(img, rng, under_scale=(0.3, 0.3), under_gamma=(1.2, 1.2), over_scale=(3, 3), over_gamma=(0.8, 0.8))
    np.testing.assert_allclose(u, (img * 0.3) ** 1.2, rtol=1e-5)
    np.testing.assert_allclose(o, np.clip(img * 3, 0, 1) ** 0.8, rtol=1e-5)


def test_multi_focus_pair_identities():
    rng = np.random.default_rng(1)
    img = rng.uniform(0, 1, (48, 40, 3)).astype(np.float32)
    a, b, mask = make_multi_focus_pair(img, np.random.default_rng(7), sigma=(3, 3), softness=0)
    assert set(np.unique(mask)) == {0.0, 1.0}
    assert 0.2 < mask.mean() < 0.8  # both focus regions present
    blurred = defocus(img, 3.0)
    m = mask.astype(bool)
    np.testing.assert_allclose(a[m], img[m], atol=1e-6)  # A is sharp where the mask is 1
    np.testing.assert_allclose(b[m], blurred[m], atol=1e-6)
    np.testing.assert_allclose(a[~m], blurred[~m], atol=1e-6)
    np.testing.assert_allclose(a + b, img + blurred, atol=1e-5)
    soft = random_focus_mask(48, 40, np.random.default_rng(7))
    assert ((soft > 0) & (soft < 1)).any()  # softened edge


def test_defocus_kernels():
    flat = np.full((20, 20), 0.4, np.float32)
    for kind in ("gaussian", "disk"):
        np.testing.assert_allclose(defocus(flat, 2.0, kind), flat, atol=1e-6)  # normalised kernels
    edge = np.zeros((21, 21), np.float32)
    edge[:, 10:] = 1.0
    assert defocus(edge, 2.0, "disk")[10, 9] > 0.0 and defocus(edge, 2.0)[10, 9] > 0.0
    with pytest.raises(InputError, match="unknown defocus"):
        defocus(flat, 1.0, "box")  # type: ignore[arg-type]
    with pytest.raises(ShapeError):
        defocus(np.zeros((4, 4, 2), np.float32), 1.0)


class _Images:
    def __len__(self) -> int:
        return 3

    def __getitem__(self, i: int) -> dict:
        rng = np.random.default_rng(i)
        return {"name": f"im{i}", "image": rng.uniform(0, 1, (16, 16, 3)).astype(np.float32)}


@pytest.mark.parametrize("kind,task", [("multi-exposure", "mef"), ("multi-focus", "mff")])
def test_synthetic_pairs_dataset(kind, task):
    ds = SyntheticPairs(_Images(), kind, seed=2)
    item = ds[1]
    assert item["task"] == task and item["name"] == "im1"
    assert item["a"].shape == item["b"].shape == item["ref"].shape == (16, 16, 3)
    assert ("mask" in item) == (kind == "multi-focus")
    assert np.array_equal(ds[1]["a"], item["a"])  # deterministic
    ds.set_epoch(1)
    assert not np.array_equal(ds[1]["a"], item["a"])  # new parameters each epoch
    with pytest.raises(InputError, match="unknown synthetic"):
        SyntheticPairs(_Images(), "hdr")  # type: ignore[arg-type]
