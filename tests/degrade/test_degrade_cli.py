"""`mmfuse degrade` through a subprocess: --list, a benchmark build, reproducibility and every bad input."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest


def digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def one_line_error(res, *needles: str) -> str:
    assert res.returncode == 2, res.stderr + res.stdout
    lines = [line for line in res.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert "Traceback" not in res.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def test_list(cli):
    res = cli("degrade", "--list")
    assert res.returncode == 0, res.stderr
    for name in ("demmi-rf", "ems", "weather", "lure", "drmf", "noise50+haze+defocus+stripe", "ir-lowcontrast"):
        assert name in res.stdout
    res = cli("degrade", "--list", "--preset", "demmi-rf")
    assert res.returncode == 0, res.stderr
    assert "haze+defocus+noise50" in res.stdout and "gaussian_noise(sigma=50)" in res.stdout
    assert "TG-ECNet" in res.stdout


def test_build_and_reproduce(cli, ivif_dir, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    res = cli("degrade", "--preset", "demmi-rf", "--input-dir", ivif_dir, "--output-dir", a, "--seed", "0",
              "--settings", "noise25,noise50+haze+defocus+stripe")
    assert res.returncode == 0, res.stderr
    assert "3 pair(s) x 2 setting(s)" in res.stdout and "manifest" in res.stdout
    assert sorted(p.name for p in a.iterdir()) == ["manifest.json", "noise25", "noise50+haze+defocus+stripe"]
    assert len(list(a.rglob("*.png"))) == 24
    res = cli("degrade", "-p", "demmi-rf", "--input-dir", ivif_dir, "--output-dir", b, "--seed", "0",
              "--settings", "noise25,noise50+haze+defocus+stripe")
    assert res.returncode == 0, res.stderr
    assert digest(a) == digest(b)
    m = json.loads((a / "manifest.json").read_text())
    assert m["seed"] == 0 and len(m["items"]) == 6
    # an existing output needs --overwrite; with it the files are rewritten identically
    one_line_error(cli("degrade", "--input-dir", ivif_dir, "--output-dir", a, "--settings", "noise25"),
                   str(a), "not empty", "--overwrite")
    before = digest(a)
    res = cli("degrade", "--input-dir", ivif_dir, "--output-dir", a, "--settings", "noise25", "--overwrite")
    assert res.returncode == 0, res.stderr
    after = digest(a)
    assert all(after[k] == before[k] for k in after if k.startswith("noise25/"))


@pytest.mark.parametrize("case", ["missing", "empty", "no_dirs", "preset", "setting", "seed", "no_output"])
def test_bad_inputs_one_line_error_exit_2_nothing_written(cli, ivif_dir, tmp_path, case):
    out = tmp_path / "bench"
    empty = tmp_path / "empty"
    (empty / "ir").mkdir(parents=True)
    (empty / "vi").mkdir()
    args = {
        "missing": (["--input-dir", tmp_path / "nope"], [str(tmp_path / "nope"), "folder not found"]),
        "empty": (["--input-dir", empty], ["no infrared/visible pairs found"]),
        "no_dirs": (["--input-dir", empty / "ir"], ["no infrared/visible sub-folders"]),
        "preset": (["--input-dir", ivif_dir, "--preset", "demi-rf"], ["unknown preset 'demi-rf'"]),
        "setting": (["--input-dir", ivif_dir, "--settings", "noise25,noise30"], ["unknown setting 'noise30'"]),
        "seed": (["--input-dir", ivif_dir, "--seed", "-1"], ["seed"]),
        "no_output": (["--input-dir", ivif_dir], ["--output-dir"]),
    }[case]
    extra = [] if case == "no_output" else ["--output-dir", out]
    one_line_error(cli("degrade", *args[0], *extra), *args[1])
    assert not out.exists()


def test_bad_pair_is_skipped_exit_1(cli, ivif_dir, tmp_path):
    src = tmp_path / "in"
    for sub in ("ir", "vi"):
        (src / sub).mkdir(parents=True)
        shutil.copy(ivif_dir / sub / "FLIR_00455.jpg", src / sub)
    (src / "ir" / "bad.jpg").write_bytes(b"")
    shutil.copy(ivif_dir / "vi" / "FLIR_04593.jpg", src / "vi" / "bad.jpg")
    out = tmp_path / "out"
    res = cli("degrade", "--input-dir", src, "--output-dir", out, "--settings", "stripe")
    assert res.returncode == 1, res.stderr
    assert "1 failed" in res.stderr and "bad" in res.stderr and "empty file" in res.stderr
    assert sorted(p.name for p in (out / "stripe" / "ir").iterdir()) == ["FLIR_00455.png"]
