"""Paired folder datasets, split files, clean references, labels, image folders."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mmfuse.data import ImageFolderDataset, PairedFolderDataset, load_split
from mmfuse.errors import InputError
from mmfuse.io import read_image

NAMES = ["FLIR_00455", "FLIR_04593", "FLIR_04722"]


def test_pairs_match_read_image_exactly(ivif_dir):
    ds = PairedFolderDataset(ivif_dir)
    assert ds.names == NAMES and len(ds) == 3
    for i, name in enumerate(NAMES):
        item = ds[i]
        assert item["name"] == name
        ir, vis = item["ir"], item["vis"]
        assert ir.dtype == np.float32 and vis.dtype == np.float32
        assert ir.ndim == 2 and vis.ndim == 3 and vis.shape[2] == 3 and ir.shape == vis.shape[:2]
        # the uint8 cache must reproduce read_image bit for bit
        assert np.array_equal(ir, read_image(ivif_dir / "ir" / f"{name}.jpg", "gray"))
        assert np.array_equal(vis, read_image(ivif_dir / "vi" / f"{name}.jpg", "rgb"))
    assert set(ds[0]) == {"name", "ir", "vis"}


def test_cached_items_are_independent_copies(ivif_dir):
    ds = PairedFolderDataset(ivif_dir).preload()
    a = ds[1]
    a["ir"][:] = 0.0  # a caller modifying an item must not corrupt the cache
    assert ds[1]["ir"].max() > 0.0
    assert ds._images._store[(str(ivif_dir / "ir" / "FLIR_04593.jpg"), "gray")].dtype == np.uint8


def test_uncached_matches_cached(ivif_dir):
    a, b = PairedFolderDataset(ivif_dir, cache=False)[2], PairedFolderDataset(ivif_dir)[2]
    assert np.array_equal(a["ir"], b["ir"]) and np.array_equal(a["vis"], b["vis"])


def test_split_file(ivif_dir, tmp_path):
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": ["FLIR_04722", "FLIR_00455"], "val": ["FLIR_04593"]}))
    assert load_split(split, "val") == ["FLIR_04593"]
    ds = PairedFolderDataset(ivif_dir, split_file=split, split="train")
    assert ds.names == ["FLIR_04722", "FLIR_00455"]  # split-file order, not sorted
    assert ds[0]["name"] == "FLIR_04722"
    with pytest.raises(InputError, match=r"no split 'test'.*train, val"):
        PairedFolderDataset(ivif_dir, split_file=split, split="test")
    split.write_text(json.dumps({"train": ["FLIR_04722", "FLIR_99999"]}))
    with pytest.raises(InputError, match="FLIR_99999"):
        PairedFolderDataset(ivif_dir, split_file=split, split="train")
    split.write_text("{not json")
    with pytest.raises(InputError, match="cannot read split file"):
        load_split(split, "train")
    with pytest.raises(InputError, match="split file not found"):
        load_split(tmp_path / "missing.json", "train")


def _degraded_layout(ivif_dir: Path, root: Path, drop_clean: str | None = None) -> Path:
    """ir_degraded/vi_degraded inputs + ir/vi clean references (the drmf-lowlight layout)."""
    for sub, src in (("ir_degraded", "ir"), ("vi_degraded", "vi"), ("ir", "ir"), ("vi", "vi")):
        shutil.copytree(ivif_dir / src, root / sub)
    if drop_clean:
        (root / "vi" / f"{drop_clean}.jpg").unlink()
    return root


def test_clean_references_and_label(ivif_dir, tmp_path):
    root = _degraded_layout(ivif_dir, tmp_path / "deg")
    ds = PairedFolderDataset(root, ir_dir="ir_degraded", vis_dir="vi_degraded", ir_clean_dir="ir", vis_clean_dir="vi", label=3)
    item = ds[0]
    assert set(item) == {"name", "ir", "vis", "ir_clean", "vis_clean", "label"}
    assert item["label"] == 3
    assert item["ir_clean"].shape == item["ir"].shape and item["vis_clean"].shape == item["vis"].shape
    assert np.array_equal(item["ir_clean"], item["ir"])  # copies of the same files


def test_missing_clean_reference_is_named(ivif_dir, tmp_path):
    root = _degraded_layout(ivif_dir, tmp_path / "deg", drop_clean="FLIR_04593")
    with pytest.raises(InputError, match="FLIR_04593"):
        PairedFolderDataset(root, ir_dir="ir_degraded", vis_dir="vi_degraded", vis_clean_dir="vi")


def test_folder_errors(ivif_dir, tmp_path):
    with pytest.raises(InputError, match="dataset folder not found"):
        PairedFolderDataset(tmp_path / "nope")
    with pytest.raises(InputError, match="no infrared/visible sub-folders"):
        PairedFolderDataset(tmp_path)
    with pytest.raises(InputError, match="both ir_dir and vis_dir"):
        PairedFolderDataset(ivif_dir, ir_dir="ir")
    (tmp_path / "ir").mkdir()
    (tmp_path / "vi").mkdir()
    with pytest.raises(InputError, match="no infrared/visible pairs"):
        PairedFolderDataset(tmp_path)


def test_size_mismatch_names_the_pair(ivif_dir, tmp_path):
    root = tmp_path / "bad"
    (root / "ir").mkdir(parents=True)
    (root / "vi").mkdir()
    shutil.copy(ivif_dir / "ir" / "FLIR_00455.jpg", root / "ir" / "a.jpg")
    shutil.copy(ivif_dir / "vi" / "FLIR_04593.jpg", root / "vi" / "a.jpg")
    with pytest.raises(InputError, match="'a' differ in size"):
        PairedFolderDataset(root).preload()


def test_corrupt_image_is_named(ivif_dir, tmp_path):
    root = tmp_path / "bad"
    shutil.copytree(ivif_dir, root)
    (root / "vi" / "FLIR_04593.jpg").write_bytes(b"not an image")
    with pytest.raises(InputError, match="FLIR_04593.jpg"):
        PairedFolderDataset(root).preload()


def test_image_folder(ivif_dir):
    ds = ImageFolderDataset(ivif_dir / "ir")
    assert ds.names == NAMES
    img = ds[0]["image"]
    assert img.shape == (311, 536, 3) and img.dtype == np.float32
    assert np.array_equal(img[..., 0], img[..., 2])  # gray replicated
    assert ImageFolderDataset(ivif_dir / "vi", names=["FLIR_04722"]).names == ["FLIR_04722"]
    with pytest.raises(InputError, match="FLIR_1"):
        ImageFolderDataset(ivif_dir / "vi", names=["FLIR_1"])
