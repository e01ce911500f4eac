"""`mmfuse eval` through a subprocess (python -m mmfuse, PYTHONPATH=src)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from metrics_testdata import triplet


def _save(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


@pytest.fixture()
def bench(tmp_path: Path) -> Path:
    crop = (slice(0, 60), slice(0, 70))
    for stem, (image, method) in {"p1": ("walking", "ADF"), "p2": ("snow", "CBF")}.items():
        f, ir, vi = (x[crop] for x in triplet(image, method))
        _save(tmp_path / "fused" / f"{stem}.png", f)
        _save(tmp_path / "ir" / f"{stem}.jpg", ir)  # extensions may differ between folders
        _save(tmp_path / "vi" / f"{stem}.png", vi)
        _save(tmp_path / "ir_clean" / f"{stem}.png", ir)
        _save(tmp_path / "vi_clean" / f"{stem}.png", vi)
    return tmp_path


def test_eval_writes_csv_and_prints_means(cli, bench: Path) -> None:
    out = bench / "results.csv"
    r = cli("eval", "--fused", bench / "fused", "--ir", bench / "ir", "--vi", bench / "vi",
            "--metrics", "EN,SSIM,Qabf", "-o", out)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "mean of 2 image(s), profile mmfuse" in r.stdout and "references ir=input, vi=input" in r.stdout
    for name in ("EN", "SSIM", "Qabf"):
        assert name in r.stdout
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [row["name"] for row in rows] == ["p1", "p2"]
    assert list(rows[0]) == ["name", "EN", "Qabf", "SSIM"]  # columns in the canonical METRICS order
    mean_en = np.mean([float(row["EN"]) for row in rows])
    assert f"{mean_en:.6g}" in r.stdout
    meta = json.loads(Path(f"{out}.json").read_text())
    assert meta["profile"] == "mmfuse" and meta["n_scored"] == 2 and meta["failures"] == []


def test_eval_skips_bad_items_and_exits_1(cli, bench: Path) -> None:
    f, ir, vi = triplet("walking", "ADF")
    _save(bench / "fused" / "p3_missing.png", f[:60, :70])  # no ir/vi partner
    _save(bench / "fused" / "p4_size.png", f[:50, :70])
    _save(bench / "ir" / "p4_size.png", ir[:60, :70])
    _save(bench / "vi" / "p4_size.png", vi[:60, :70])
    out = bench / "r.csv"
    r = cli("eval", "--fused", bench / "fused", "--ir", bench / "ir", "--vi", bench / "vi",
            "--profile", "vifb", "--metrics", "EN,SSIM", "-o", out)  # fmt: skip
    assert r.returncode == 1
    assert "2 failed:" in r.stderr
    assert "p3_missing: no image with this name in ir" in r.stderr
    assert "p4_size: size mismatch" in r.stderr
    assert "mean of 2 image(s), profile vifb" in r.stdout
    assert out.read_text().count("\n") == 3  # header + the two good images


def test_eval_with_clean_references(cli, bench: Path) -> None:
    r = cli("eval", "--fused", bench / "fused", "--ir", bench / "ir", "--vi", bench / "vi",
            "--ir-ref", bench / "ir_clean", "--vi-ref", bench / "vi_clean", "--metrics", "PSNR")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "references ir=clean, vi=clean" in r.stdout


def test_eval_user_errors_exit_2(cli, bench: Path) -> None:
    base = ["eval", "--fused", bench / "fused", "--ir", bench / "ir", "--vi", bench / "vi"]
    r = cli("eval", "--fused", bench / "nope", "--ir", bench / "ir", "--vi", bench / "vi")
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "folder not found" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = cli(*base, "--profile", "matlab")
    assert r.returncode == 2 and "unknown metric profile" in r.stderr
    r = cli(*base, "--metrics", "EN,XYZ")
    assert r.returncode == 2 and "unknown metric 'XYZ'" in r.stderr
    (bench / "taken.csv").write_text("keep\n")
    r = cli(*base, "-o", bench / "taken.csv")
    assert r.returncode == 2 and "--overwrite" in r.stderr
    assert (bench / "taken.csv").read_text() == "keep\n"
