"""build_benchmark: layout, manifest, byte-identical reproducibility, subset/order independence, bad inputs."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mmfuse import degrade as D
from mmfuse.degrade.benchmark import MANIFEST_NAME, SUBFOLDERS
from mmfuse.errors import InputError, OutputExistsError
from mmfuse.io import read_image, read_raw, write_image

NAMES = ["FLIR_00455", "FLIR_04593", "FLIR_04722"]


def digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def full(tmp_path_factory, ivif_dir):
    out = tmp_path_factory.mktemp("bench") / "demmi"
    summary = D.build_benchmark(ivif_dir, out, "demmi-rf", seed=0, progress=False)
    return out, summary


def test_layout_and_summary(full):
    out, s = full
    p = D.load_preset("demmi-rf")
    assert s.ok and s.pairs == 3 and s.settings == p.names and s.unmatched == []
    assert s.written == 3 * 24 * 4
    assert sorted(x.name for x in out.iterdir()) == sorted(p.names + [MANIFEST_NAME])
    for setting in p.names:
        for sub in SUBFOLDERS:
            assert sorted(f.name for f in (out / setting / sub).iterdir()) == [f"{n}.png" for n in NAMES]
    assert s.manifest == out / MANIFEST_NAME
    assert s.lines()[0].startswith("3 pair(s) x 24 setting(s) of preset demmi-rf (seed 0)")


def test_references_are_exact_and_unaffected_modalities_are_copied(full, ivif_dir):
    out, _ = full
    for n in NAMES:
        src_vi = read_raw(ivif_dir / "vi" / f"{n}.jpg")
        src_ir = read_raw(ivif_dir / "ir" / f"{n}.jpg")
        np.testing.assert_array_equal(read_raw(out / "haze" / "vi_clean" / f"{n}.png"), src_vi)
        np.testing.assert_array_equal(read_raw(out / "haze" / "ir_clean" / f"{n}.png"), src_ir)
        # VIS-only setting: the IR input is the clean IR (same bytes); IR-only: VIS is clean
        assert (out / "noise25" / "ir" / f"{n}.png").read_bytes() == (out / "noise25" / "ir_clean" / f"{n}.png").read_bytes()
        assert (out / "stripe" / "vi" / f"{n}.png").read_bytes() == (out / "stripe" / "vi_clean" / f"{n}.png").read_bytes()
        for sub in ("ir", "vi"):
            assert (out / "clean" / sub / f"{n}.png").read_bytes() == (out / "clean" / f"{sub}_clean" / f"{n}.png").read_bytes()
        assert not np.array_equal(read_raw(out / "noise50+haze+defocus+stripe" / "ir" / f"{n}.png"), src_ir)
        assert not np.array_equal(read_raw(out / "noise50+haze+defocus+stripe" / "vi" / f"{n}.png"), src_vi)


def test_manifest_records_every_file(full):
    out, _ = full
    m = json.loads((out / MANIFEST_NAME).read_text())
    assert m["preset"] == "demmi-rf" and m["seed"] == 0 and m["failures"] == []
    assert [s["name"] for s in m["settings"]] == D.load_preset("demmi-rf").names
    assert len(m["items"]) == 72
    four = [i for i in m["items"] if i["setting"] == "noise50+haze+defocus+stripe"]
    assert [i["name"] for i in four] == NAMES
    item = four[0]
    assert item["vis_chain"] == "haze+defocus+noise50" and item["ir_chain"] == "stripe"
    assert [r["op"] for r in item["vis"]] == ["haze", "defocus_blur", "gaussian_noise"]
    assert item["seed"] == D.item_seed(0, "noise50+haze+defocus+stripe", NAMES[0])
    assert item["files"]["vi"] == f"noise50+haze+defocus+stripe/vi/{NAMES[0]}.png"
    assert item["source"] == {"ir": f"ir/{NAMES[0]}.jpg", "vi": f"vi/{NAMES[0]}.jpg"}
    for entry in m["items"]:
        for rel in entry["files"].values():
            assert (out / rel).is_file()


def test_a_file_is_reproducible_from_its_manifest_entry(full, ivif_dir):
    out, _ = full
    m = json.loads((out / MANIFEST_NAME).read_text())
    item = next(i for i in m["items"] if i["setting"] == "haze+defocus+stripe" and i["name"] == NAMES[1])
    ir = read_image(ivif_dir / item["source"]["ir"], "gray")
    vi = read_image(ivif_dir / item["source"]["vi"], "keep")
    ir_d, vi_d, rec = D.apply_setting(ir, vi, D.load_preset("demmi-rf").setting(item["setting"]), item["seed"])
    assert rec["vis"] == item["vis"] and rec["ir"] == item["ir"]
    # write_image quantises in float64: rint(float64(x) * 255)
    quant = lambda x: np.rint(x.astype(np.float64) * 255).astype(np.uint8)  # noqa: E731
    np.testing.assert_array_equal(read_raw(out / item["files"]["vi"]), quant(vi_d))
    np.testing.assert_array_equal(read_raw(out / item["files"]["ir"]), quant(ir_d))


def test_noise25_statistics_in_the_written_pngs(full):
    out, _ = full
    res, n = [], 0
    for name in NAMES:
        clean = read_raw(out / "noise25" / "vi_clean" / f"{name}.png").astype(np.float64)
        noisy = read_raw(out / "noise25" / "vi" / f"{name}.png").astype(np.float64)
        far = (clean > 80) & (clean < 175)  # > 3 sigma away from 0 and 255
        res.append((noisy - clean)[far])
    res = np.concatenate(res)
    assert res.size > 100_000
    assert res.std() == pytest.approx(25.0, rel=0.05)  # 8-bit rounding adds only 1/12 LSB^2


def test_same_seed_gives_byte_identical_output(full, tmp_path, ivif_dir):
    out, _ = full
    again = tmp_path / "again"
    D.build_benchmark(ivif_dir, again, "demmi-rf", seed=0, progress=False)
    assert digest(again) == digest(out)
    other = tmp_path / "seed1"
    D.build_benchmark(ivif_dir, other, "demmi-rf", seed=1, settings="noise25,stripe", progress=False)
    a, b = digest(out), digest(other)
    assert a["noise25/vi_clean/FLIR_00455.png"] == b["noise25/vi_clean/FLIR_00455.png"]
    assert a["noise25/vi/FLIR_00455.png"] != b["noise25/vi/FLIR_00455.png"]
    assert a["stripe/ir/FLIR_00455.png"] != b["stripe/ir/FLIR_00455.png"]


def test_output_independent_of_subset_and_of_other_images(full, tmp_path, ivif_dir):
    out, _ = full
    subset = tmp_path / "subset"
    s = D.build_benchmark(ivif_dir, subset, "demmi-rf", seed=0, settings=["stripe", "noise25"], progress=False)
    assert s.settings == ["noise25", "stripe"]  # preset order
    full_digest = digest(out)
    for rel, h in digest(subset).items():
        if rel != MANIFEST_NAME:
            assert full_digest[rel] == h, rel
    # a folder with only one of the pairs gives the same files for it
    single = tmp_path / "single_in"
    for sub in ("ir", "vi"):
        (single / sub).mkdir(parents=True)
        shutil.copy(ivif_dir / sub / f"{NAMES[2]}.jpg", single / sub)
    one = tmp_path / "one"
    D.build_benchmark(single, one, "demmi-rf", seed=0, settings="noise50+haze+defocus+stripe", progress=False)
    for rel, h in digest(one).items():
        if rel != MANIFEST_NAME:
            assert full_digest[rel] == h, rel


def test_bad_input_folders_raise_before_writing(tmp_path, ivif_dir):
    out = tmp_path / "out"
    with pytest.raises(InputError, match="folder not found"):
        D.build_benchmark(tmp_path / "missing", out, progress=False)
    empty = tmp_path / "empty"
    (empty / "ir").mkdir(parents=True)
    (empty / "vi").mkdir()
    with pytest.raises(InputError, match="no infrared/visible pairs found"):
        D.build_benchmark(empty, out, progress=False)
    with pytest.raises(InputError, match="unknown setting 'noise30'"):
        D.build_benchmark(ivif_dir, out, settings="noise30", progress=False)
    with pytest.raises(InputError, match="unknown preset"):
        D.build_benchmark(ivif_dir, out, "nope", progress=False)
    with pytest.raises(InputError, match="seed"):
        D.build_benchmark(ivif_dir, out, seed=-1, progress=False)
    assert not out.exists()


def test_non_empty_output_needs_overwrite(tmp_path, ivif_dir):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(OutputExistsError, match="not empty"):
        D.build_benchmark(ivif_dir, out, settings="noise15", progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    s = D.build_benchmark(ivif_dir, out, settings="noise15", overwrite=True, progress=False)
    assert s.written == 12 and (out / "keep.txt").exists()
    before = digest(out)
    D.build_benchmark(ivif_dir, out, settings="noise15", overwrite=True, progress=False)
    assert digest(out) == before
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        D.build_benchmark(ivif_dir, tmp_path / "file", progress=False)


def test_bad_pairs_are_skipped_and_reported(tmp_path, ivif_dir):
    src = tmp_path / "in"
    for sub in ("ir", "vi"):
        (src / sub).mkdir(parents=True)
        shutil.copy(ivif_dir / sub / f"{NAMES[0]}.jpg", src / sub)
    (src / "ir" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage")
    shutil.copy(ivif_dir / "vi" / f"{NAMES[1]}.jpg", src / "vi" / "broken.jpg")
    ir_small = read_image(ivif_dir / "ir" / f"{NAMES[1]}.jpg", "gray")[:100, :100]
    write_image(src / "ir" / "small.png", ir_small)
    shutil.copy(ivif_dir / "vi" / f"{NAMES[1]}.jpg", src / "vi" / "small.jpg")
    shutil.copy(ivif_dir / "vi" / f"{NAMES[2]}.jpg", src / "vi" / "lonely.jpg")
    out = tmp_path / "out"
    s = D.build_benchmark(src, out, settings="noise25,stripe", progress=False)
    assert s.pairs == 1 and not s.ok
    assert [n for n, _ in s.failed] == ["broken", "small"]
    assert "broken.png" in s.failed[0][1] and "same size" in s.failed[1][1]
    assert all("\n" not in m for _, m in s.failed)
    assert len(s.unmatched) == 1 and "lonely.jpg" in s.unmatched[0]
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert len(written) == 8 and all(NAMES[0] in w for w in written)  # nothing for the bad pairs
    m = json.loads((out / MANIFEST_NAME).read_text())
    assert [f["name"] for f in m["failures"]] == ["broken", "small"]
    assert "2 pair(s) failed" in s.lines()[-1]
