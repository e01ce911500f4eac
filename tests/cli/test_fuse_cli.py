"""`mmfuse fuse` and `mmfuse methods` through a subprocess, including every bad-input case."""
from __future__ import annotations

import io
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmfuse.io import read_image, read_raw

PAIR = "FLIR_04593"


def _files(ivif_dir: Path, name: str = PAIR) -> tuple[Path, Path]:
    return ivif_dir / "ir" / f"{name}.jpg", ivif_dir / "vi" / f"{name}.jpg"


def _assert_one_line_error(res, *needles: str) -> None:
    assert res.returncode == 2, res.stderr + res.stdout
    lines = [line for line in res.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in res.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])


def test_fuse_single_pair_colour(cli, ivif_dir, tmp_path):
    ir, vi = _files(ivif_dir)
    out = tmp_path / "sub" / "fused.png"
    res = cli("fuse", ir, vi, "-o", out)
    assert res.returncode == 0, res.stderr
    fused = read_raw(out)
    src = read_raw(vi)
    assert fused.shape == src.shape and fused.dtype == np.uint8  # same size, colour
    assert str(out) in res.stdout
    assert sorted(p.name for p in out.parent.iterdir()) == ["fused.png"]


def test_fuse_options(cli, ivif_dir, tmp_path):
    ir, vi = _files(ivif_dir)
    res = cli("fuse", ir, vi, "-o", tmp_path / "g.png", "--gray", "--method", "laplacian", "--bits", "16")
    assert res.returncode == 0, res.stderr
    g = read_raw(tmp_path / "g.png")
    assert g.ndim == 2 and g.dtype == np.uint16
    # --report on a method without a report says so; --report-json writes JSON
    res = cli("fuse", ir, vi, "-o", tmp_path / "r.png", "--report", "--report-json", tmp_path / "r.json")
    assert res.returncode == 0, res.stderr
    assert "no report" in res.stdout
    assert '"method"' in (tmp_path / "r.json").read_text()


def test_methods_lists_default(cli):
    res = cli("methods")
    assert res.returncode == 0, res.stderr
    for name in ("average", "max", "laplacian", "gff"):
        assert name in res.stdout
    from mmfuse.models.registry import DEFAULT_METHOD

    row = next(line for line in res.stdout.splitlines() if f" {DEFAULT_METHOD} " in line)
    assert "*" in row
    # learned methods show their network passes per pair (the self-ensemble), classical ones "-"
    from mmfuse.models.registry import get_spec

    tg = next(line for line in res.stdout.splitlines() if " tgecnet-small " in line)
    assert f" {get_spec('tgecnet-small').self_ensemble} " in tg


def test_overwrite_protection(cli, ivif_dir, tmp_path):
    ir, vi = _files(ivif_dir)
    out = tmp_path / "f.png"
    out.write_bytes(b"keep me")
    res = cli("fuse", ir, vi, "-o", out)
    _assert_one_line_error(res, str(out), "exists", "--overwrite")
    assert out.read_bytes() == b"keep me"
    assert cli("fuse", ir, vi, "-o", out, "--overwrite").returncode == 0
    assert read_raw(out).ndim == 3


def _zero_size_png(path: Path) -> None:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(buf, "PNG")
    d = bytearray(buf.getvalue())
    d[16:20] = struct.pack(">I", 0)  # IHDR width = 0, CRC fixed so the header is well-formed
    d[29:33] = struct.pack(">I", zlib.crc32(bytes(d[12:29])) & 0xFFFFFFFF)
    path.write_bytes(bytes(d))


@pytest.mark.parametrize(
    "case, needle",
    [
        ("missing", "not found"),
        ("truncated", "cannot read image"),
        ("not_image", "not an image"),
        ("zero_size", "zero size"),
        ("mismatch", "sizes differ"),
        ("wrong_method", "unknown method"),
    ],
)
def test_bad_input_single(cli, ivif_dir, tmp_path, case, needle):
    ir, vi = _files(ivif_dir)
    bad = tmp_path / "bad.png"
    if case == "missing":
        ir = tmp_path / "nope.png"
        bad = ir
    elif case == "truncated":
        data = ir.read_bytes()
        bad = tmp_path / "bad.jpg"
        bad.write_bytes(data[: len(data) // 4])
        ir = bad
    elif case == "not_image":
        bad.write_text("this is text")
        ir = bad
    elif case == "zero_size":
        _zero_size_png(bad)
        ir = bad
    elif case == "mismatch":
        img = Image.open(ir)
        img.resize((img.width // 2, img.height // 2)).save(bad)
        ir = bad
    out = tmp_path / "out" / "fused.png"
    args = ["fuse", ir, vi, "-o", out] + (["--method", "nosuch"] if case == "wrong_method" else [])
    res = cli(*args)
    _assert_one_line_error(res, needle)
    if case not in ("wrong_method",):
        assert str(bad) in res.stderr
    assert not out.exists() and not (tmp_path / "out").exists()
    if case == "mismatch":
        ok = cli("fuse", ir, vi, "-o", out, "--resize")
        assert ok.returncode == 0, ok.stderr
        assert read_raw(out).shape[:2] == read_raw(vi).shape[:2]


def test_output_not_writable(cli, ivif_dir, tmp_path):
    ir, vi = _files(ivif_dir)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        import os

        if os.access(ro, os.W_OK):  # running as root: permissions are not enforced
            blocker = tmp_path / "file"
            blocker.write_text("x")
            out = blocker / "fused.png"  # parent is a file: cannot be created
        else:
            out = ro / "fused.png"
        res = cli("fuse", ir, vi, "-o", out)
        _assert_one_line_error(res, str(out))
        assert not out.exists()
    finally:
        ro.chmod(0o700)


def test_empty_folder_and_usage(cli, tmp_path):
    (tmp_path / "in" / "ir").mkdir(parents=True)
    (tmp_path / "in" / "vi").mkdir()
    res = cli("fuse", "--input-dir", tmp_path / "in", "--output-dir", tmp_path / "out")
    _assert_one_line_error(res, str(tmp_path / "in"), "no infrared/visible pairs")
    assert not (tmp_path / "out").exists()
    res = cli("fuse", "--input-dir", tmp_path / "nothere", "--output-dir", tmp_path / "out")
    _assert_one_line_error(res, "nothere", "not found")
    res = cli("fuse", "only_one.png")
    _assert_one_line_error(res, "-o")


def test_batch_skips_bad_pairs(cli, ivif_dir, tmp_path):
    src = tmp_path / "in"
    shutil.copytree(ivif_dir, src)
    (src / "vi" / "FLIR_04722.jpg").write_bytes(b"corrupt")  # one bad pair
    (src / "ir" / "lonely.jpg").write_bytes((ivif_dir / "ir" / "FLIR_04722.jpg").read_bytes())
    out = tmp_path / "out"
    res = cli("fuse", "--input-dir", src, "--output-dir", out, "--method", "average")
    assert res.returncode == 1, res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["FLIR_00455.png", "FLIR_04593.png"]
    assert "FLIR_04722" in res.stderr and "1 failed" in res.stderr
    assert "lonely.jpg" in res.stderr  # unmatched file reported
    assert "Traceback" not in res.stderr
    for p in out.iterdir():
        assert read_image(p).shape == read_image(src / "vi" / f"{p.stem}.jpg").shape
    # second run without --overwrite: existing outputs are refused, not replaced
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    res2 = cli("fuse", "--input-dir", src, "--output-dir", out, "--method", "max")
    assert res2.returncode == 1 and "exists" in res2.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    res3 = cli("fuse", "--input-dir", src, "--output-dir", out, "--method", "max", "--overwrite")
    assert res3.returncode == 1  # only the corrupt pair fails now
    assert {p.name: p.read_bytes() for p in out.iterdir()} != before


def test_fuse_self_ensemble_option(cli, ivif_dir, tmp_path):
    ir, vi = _files(ivif_dir)
    res = cli("fuse", ir, vi, "-o", tmp_path / "a.png", "--method", "moefusion-small", "--self-ensemble", "2", "--report")
    assert res.returncode == 0, res.stderr
    assert "self_ensemble: 2" in res.stdout
    one = cli("fuse", ir, vi, "-o", tmp_path / "b.png", "--method", "moefusion-small", "--self-ensemble", "1", "--report")
    assert one.returncode == 0, one.stderr
    assert "self_ensemble:" not in one.stdout
    assert not np.array_equal(read_raw(tmp_path / "a.png"), read_raw(tmp_path / "b.png"))
    _assert_one_line_error(cli("fuse", ir, vi, "-o", tmp_path / "c.png", "--method", "gff", "--self-ensemble", "2"), "no self-ensemble")
    _assert_one_line_error(cli("fuse", ir, vi, "-o", tmp_path / "c.png", "--method", "moefusion-small", "--self-ensemble", "3"), "must be one of")
    assert not (tmp_path / "c.png").exists()
