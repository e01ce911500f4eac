"""evaluate_folders(): pairing by stem, skipped items, CSV and JSON outputs."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import mmfuse.metrics as M
from metrics_testdata import triplet
from mmfuse.errors import InputError, OutputExistsError

METRICS = "EN,SD,SSIM,PSNR"


def _save(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


@pytest.fixture()
def folders(tmp_path: Path) -> Path:
    """fused/ ir/ vi/ (+ clean ir_ref/ vi_ref/) with one good pair per case and bad ones."""
    crop = (slice(0, 64), slice(0, 80))
    f1, ir1, vi1 = (x[crop] for x in triplet("walking", "ADF"))
    f2, ir2, vi2 = (x[crop] for x in triplet("running", "GTF"))
    # good: "a" (extensions differ between folders), "b"
    _save(tmp_path / "fused" / "a.png", f1)
    _save(tmp_path / "ir" / "a.bmp", ir1)
    _save(tmp_path / "vi" / "a.png", vi1)
    _save(tmp_path / "fused" / "b.png", f2)
    _save(tmp_path / "ir" / "b.png", ir2)
    _save(tmp_path / "vi" / "b.png", vi2)
    # missing visible image
    _save(tmp_path / "fused" / "c_missing.png", f1)
    _save(tmp_path / "ir" / "c_missing.png", ir1)
    # size mismatch
    _save(tmp_path / "fused" / "d_size.png", f1[:50])
    _save(tmp_path / "ir" / "d_size.png", ir1)
    _save(tmp_path / "vi" / "d_size.png", vi1)
    # unreadable fused file
    (tmp_path / "fused" / "e_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    _save(tmp_path / "ir" / "e_broken.png", ir1)
    _save(tmp_path / "vi" / "e_broken.png", vi1)
    # ambiguous: two visible files with the same stem
    _save(tmp_path / "fused" / "g_twice.png", f1)
    _save(tmp_path / "ir" / "g_twice.png", ir1)
    _save(tmp_path / "vi" / "g_twice.png", vi1)
    _save(tmp_path / "vi" / "g_twice.bmp", vi1)
    # a source pair without fused image is not a failure (the fused folder drives the list)
    _save(tmp_path / "ir" / "z_unused.png", ir1)
    _save(tmp_path / "vi" / "z_unused.png", vi1)
    # clean references for the degraded-fusion protocol
    for stem, ir, vi in (("a", ir1, vi1), ("b", ir2, vi2)):
        _save(tmp_path / "ir_ref" / f"{stem}.png", ir)
        _save(tmp_path / "vi_ref" / f"{stem}.png", vi)
    return tmp_path


def test_folder_evaluation_skips_and_reports(folders: Path) -> None:
    out = folders / "res" / "scores.csv"
    res = M.evaluate_folders(
        folders / "fused", folders / "ir", folders / "vi", metrics=METRICS, output_csv=out, progress=False
    )
    assert [r["name"] for r in res.rows] == ["a", "b"]
    reasons = dict(res.failures)
    assert set(reasons) == {"c_missing", "d_size", "e_broken", "g_twice"}
    assert "no image with this name in vi" in reasons["c_missing"]
    assert "size mismatch" in reasons["d_size"]
    assert "fused/e_broken.png" in reasons["e_broken"]  # the reader's one-line message names the file
    assert "several vi files share this name" in reasons["g_twice"]
    # the numbers are evaluate() on the files' pixels
    expect = M.evaluate(*(np.asarray(Image.open(folders / d / n)) for d, n in (("fused", "a.png"), ("ir", "a.bmp"), ("vi", "a.png"))), metrics=METRICS)
    assert {k: res.rows[0][k] for k in expect} == expect
    # CSV: name + one column per metric
    with open(out, newline="") as fh:
        table = list(csv.reader(fh))
    assert table[0] == ["name", "EN", "SD", "SSIM", "PSNR"]
    assert [row[0] for row in table[1:]] == ["a", "b"]
    assert float(table[1][3]) == expect["SSIM"]
    # means and the JSON sidecar
    assert res.mean["EN"] == pytest.approx((res.rows[0]["EN"] + res.rows[1]["EN"]) / 2)
    meta = json.loads(Path(f"{out}.json").read_text())
    assert meta["profile"] == "mmfuse" and meta["references"] == {"ir": "input", "vi": "input"}
    assert meta["n_scored"] == 2 and len(meta["failures"]) == 4
    assert rows_unpack(res) == (res.rows, res.failures)


def rows_unpack(res: M.FolderEvaluation) -> tuple[list, list]:
    rows, failures = res
    return rows, failures


def test_folder_evaluation_with_clean_references(folders: Path) -> None:
    plain = M.evaluate_folders(folders / "fused", folders / "ir", folders / "vi", metrics=METRICS, progress=False)
    refs = M.evaluate_folders(
        folders / "fused",
        folders / "ir",
        folders / "vi",
        folders / "ir_ref",
        folders / "vi_ref",
        metrics=METRICS,
        progress=False,
    )
    assert refs.references == {"ir": "clean", "vi": "clean"}
    assert [r["name"] for r in refs.rows] == ["a", "b"]  # the others lack references too
    assert refs.rows == plain.rows  # identical images in ir_ref/ and ir/


def test_folder_evaluation_errors(folders: Path, tmp_path: Path) -> None:
    out = folders / "scores.csv"
    out.write_text("old\n")
    with pytest.raises(OutputExistsError):
        M.evaluate_folders(folders / "fused", folders / "ir", folders / "vi", output_csv=out, progress=False)
    assert out.read_text() == "old\n"  # nothing written
    res = M.evaluate_folders(
        folders / "fused", folders / "ir", folders / "vi", metrics="EN", output_csv=out, overwrite=True, progress=False
    )
    assert out.read_text().startswith("name,EN\n")
    assert not math.isnan(res.mean["EN"])
    with pytest.raises(InputError, match="folder not found"):
        M.evaluate_folders(folders / "nope", folders / "ir", folders / "vi", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no fused images"):
        M.evaluate_folders(tmp_path / "empty", folders / "ir", folders / "vi", progress=False)
