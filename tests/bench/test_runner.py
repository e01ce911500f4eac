"""mmfuse.bench: end to end on a tiny benchmark, resume, sharding, HTML validity, errors."""
from __future__ import annotations

import csv
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest

from mmfuse.bench import METRIC_DIRECTION, OutputLayout, discover_benchmark, run_benchmark, safe_method_name
from mmfuse.errors import InputError

NAMES = ("FLIR_04593", "FLIR_04722")  # the pairs of the tiny benchmark (conftest.py)
METHODS = ["gff", "cascade:auto+gff"]
METRICS = "CC,MSE,PSNR,Nabf,Qabf,SSIM"
METRIC_LIST = METRICS.split(",")


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def without_timing(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in r.items() if k not in ("ms", "peak_mb")} for r in rows]


@pytest.fixture(scope="module")
def run_once(tiny_bench, tmp_path_factory):
    """One in-process run (workers=0) of the 2 x 2 x 2 tiny benchmark."""
    out = tmp_path_factory.mktemp("report")
    result = run_benchmark(tiny_bench, METHODS, out, profile="tang", metrics=METRICS, workers=0, progress=False,
                           paired="cascade:auto+gff")
    return result, out


def test_paired_comparison_table(run_once):
    """--paired: one row per (setting, other method, metric) with the mean per-image advantage of the
    paired method, recomputed here from results.csv, and an interval around it."""
    _, out = run_once
    rows = read_csv(out / "results.csv")
    paired = read_csv(out / "paired.csv")
    assert [(r["setting"], r["other"], r["metric"]) for r in paired] == [
        (s, "gff", k) for s in ("stripe", "noise25+stripe") for k in METRIC_LIST
    ]
    for p in paired:
        val = {(r["method"], r["name"]): float(r[p["metric"]]) for r in rows if r["setting"] == p["setting"]}
        d = [val[("cascade:auto+gff", n)] - val[("gff", n)] for n in NAMES]
        if METRIC_DIRECTION[p["metric"]] < 0:
            d = [-x for x in d]
        assert float(p["mean"]) == pytest.approx(np.mean(d), rel=1e-6, abs=1e-12)
        assert float(p["low"]) <= float(p["mean"]) <= float(p["high"]) and int(p["n"]) == 2
        assert p["verdict"] in ("better", "worse", "tie")
    page = (out / "report.html").read_text()
    assert "Paired comparison of <b>cascade:auto+gff</b>" in page


def test_end_to_end_tables(run_once):
    result, out = run_once
    assert result.ok and result.computed == 8 and result.reused == 0
    assert result.settings == ["stripe", "noise25+stripe"] and result.methods == METHODS
    rows = read_csv(out / "results.csv")
    assert list(rows[0]) == ["setting", "method", "name", *METRIC_LIST, "ms"]
    assert [(r["setting"], r["method"], r["name"]) for r in rows] == [
        (s, m, n) for s in ("stripe", "noise25+stripe") for m in METHODS for n in NAMES
    ]
    assert all(float(r["ms"]) > 0 for r in rows)
    summary = read_csv(out / "summary.csv")
    assert len(summary) == 4
    for srow in summary:
        mine = [r for r in rows if r["setting"] == srow["setting"] and r["method"] == srow["method"]]
        assert int(srow["n"]) == 2
        for k in METRIC_LIST:
            assert float(srow[k]) == pytest.approx(np.mean([float(r[k]) for r in mine]), rel=1e-9)
    # the cascade knows the degradations from manifest.json and restores accordingly
    layout = OutputLayout(out)
    import json

    rec = json.loads(layout.record("stripe", "cascade:auto+gff", NAMES[0]).read_text())
    assert rec["info"]["restorers"] == ["destripe@ir", "denoise@ir"]
    assert rec["info"]["context"]["source"] == "manifest"
    rec = json.loads(layout.record("noise25+stripe", "cascade:auto+gff", NAMES[0]).read_text())
    assert rec["info"]["restorers"] == ["destripe@ir", "denoise@ir", "denoise@vis"]
    # and restoring before fusing brings the fused image closer to the clean sources
    psnr = {(r["setting"], r["method"]): float(r["PSNR"]) for r in summary}
    for setting in ("stripe", "noise25+stripe"):
        assert psnr[(setting, "cascade:auto+gff")] > psnr[(setting, "gff")]


class _Collector(HTMLParser):
    VOID = {"meta", "img", "br", "hr", "link", "input", "col", "source"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.refs: list[str] = []
        self.errors: list[str] = []
        self.bold = 0
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("src", "href") and v:
                self.refs.append(v)
            if k == "id" and v:
                self.ids.add(v)
        if tag == "b":
            self.bold += 1
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> (open: {self.stack[-3:]})")
        else:
            self.stack.pop()


def test_html_is_valid_and_self_contained(run_once):
    _, out = run_once
    text = (out / "report.html").read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    p = _Collector()
    p.feed(text)
    p.close()
    assert not p.errors and not p.stack
    assert p.bold > 0  # best values are marked
    files = [r for r in p.refs if not r.startswith("#")]
    assert files, "the report shows pictures"
    for ref in files:
        u = urlparse(ref)
        assert not u.scheme and not u.netloc and not ref.startswith("/"), ref  # relative, local
        assert (out / unquote(u.path)).is_file(), ref
    anchors = {unquote(r[1:]) for r in p.refs if r.startswith("#")}
    assert anchors == {"s-noise25+stripe", "s-stripe", "plots", "speed"}
    assert anchors <= p.ids  # every in-page link has its target
    for m in METHODS:  # every method has a thumbnail in the grid of each setting
        assert any(f"m_{safe_method_name(m)}.jpg" in unquote(r) for r in files)
    assert "plots/PSNR.png" in files and "plots/speed.png" in files


def _mtimes(out: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in (out / "fused").rglob("*.png")}


def test_resume_does_only_the_missing_work(tiny_bench, tmp_path):
    out = tmp_path / "rep"
    first = run_benchmark(tiny_bench, ["gff"], out, metrics=METRICS, workers=0, progress=False)
    assert first.computed == 4
    before = _mtimes(out)
    # an interrupted run: the first method was done, the second had written one image only
    layout = OutputLayout(out)
    second = run_benchmark(tiny_bench, METHODS, out, metrics=METRICS, workers=0, progress=False)
    assert (second.computed, second.evaluated, second.reused) == (4, 0, 4)
    assert all(_mtimes(out)[p] == t for p, t in before.items())  # gff images untouched
    ref_rows = read_csv(out / "results.csv")
    # lose one record (image kept) and one image + record, as a crash between writes would
    layout.record("stripe", "cascade:auto+gff", NAMES[1]).unlink()
    layout.fused("noise25+stripe", "cascade:auto+gff", NAMES[0]).unlink()
    layout.record("noise25+stripe", "cascade:auto+gff", NAMES[0]).unlink()
    kept = _mtimes(out)
    third = run_benchmark(tiny_bench, METHODS, out, metrics=METRICS, workers=0, progress=False)
    assert (third.computed, third.evaluated, third.reused) == (1, 1, 6)
    after = _mtimes(out)
    assert all(after[p] == t for p, t in kept.items())  # the kept image was re-scored, not re-fused
    assert without_timing(read_csv(out / "results.csv")) == without_timing(ref_rows)
    rows = {(r["setting"], r["method"], r["name"]): r for r in read_csv(out / "results.csv")}
    assert rows[("stripe", "cascade:auto+gff", NAMES[1])]["ms"] == ""  # its time was lost with the record
    # a new metric only evaluates; --overwrite recomputes everything
    fourth = run_benchmark(tiny_bench, METHODS, out, metrics=METRICS + ",SD", workers=0, progress=False)
    assert (fourth.computed, fourth.evaluated) == (0, 8)
    assert all(_mtimes(out)[p] == t for p, t in after.items())
    fifth = run_benchmark(tiny_bench, METHODS, out, metrics=METRICS, workers=0, overwrite=True, progress=False)
    assert fifth.computed == 8


def test_two_workers_give_the_same_results(run_once, tiny_bench, tmp_path):
    """Sharding over 2 fresh worker processes changes nothing but the timing columns."""
    _, ref_out = run_once
    out = tmp_path / "rep2"
    result = run_benchmark(tiny_bench, ["cascade:auto+gff"], out, metrics=METRICS, workers=2, progress=False)
    assert result.ok and result.computed == 4
    ref = [r for r in read_csv(ref_out / "results.csv") if r["method"] == "cascade:auto+gff"]
    assert without_timing(read_csv(out / "results.csv")) == without_timing(ref)
    for p in (out / "fused").rglob("*.png"):  # byte-identical images
        q = ref_out / p.relative_to(out)
        assert p.read_bytes() == q.read_bytes()
    speed = read_csv(out / "summary.csv")
    assert all(float(r["peak_mb"]) > 0 for r in speed)  # measured in the worker processes (VmHWM reset)


def test_a_bad_pair_fails_alone_and_is_reported(tiny_bench, tmp_path):
    bench = tmp_path / "bench"
    shutil.copytree(tiny_bench, bench)
    bad = bench / "noise25+stripe" / "vi" / f"{NAMES[0]}.png"
    bad.write_bytes(bad.read_bytes()[:100])  # truncated file
    out = tmp_path / "rep"
    result = run_benchmark(bench, ["gff"], out, metrics="CC", workers=0, progress=False)
    assert [(s, m, n) for s, m, n, _ in result.failed] == [("noise25+stripe", "gff", NAMES[0])]
    assert "FLIR_04593" in result.failed[0][3] or "cannot read" in result.failed[0][3]
    assert result.computed == 3
    assert len(read_csv(out / "results.csv")) == 3
    assert "Failures (1)" in (out / "report.html").read_text(encoding="utf-8")
    assert not OutputLayout(out).fused("noise25+stripe", "gff", NAMES[0]).exists()


def test_errors_are_raised_before_any_work(tiny_bench, tmp_path):
    out = tmp_path / "rep"
    cases = [
        (dict(methods=["gff", "nosuch"]), "unknown method 'nosuch'"),
        (dict(methods=["gff", "gff"]), "listed twice"),
        (dict(methods=[]), "no methods"),
        (dict(methods=["gff"], settings="stripe,fog"), "unknown setting 'fog'"),
        (dict(methods=["gff"], metrics="CC,NOPE"), "NOPE"),
        (dict(methods=["gff"], workers=-1), "workers"),
        (dict(methods=["gff"], profile="nope"), "nope"),
        (dict(methods=["gff"], paired="laplacian"), "paired method 'laplacian' is not among"),
    ]
    for kwargs, msg in cases:
        methods = kwargs.pop("methods")
        with pytest.raises(InputError, match=msg):
            run_benchmark(tiny_bench, methods, out, progress=False, **kwargs)
    assert not out.exists()
    with pytest.raises(InputError, match="benchmark folder not found"):
        run_benchmark(tmp_path / "missing", ["gff"], out, progress=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        run_benchmark(tiny_bench, ["gff"], tmp_path / "file", progress=False)


def test_settings_subset_and_plain_pair_folder(tiny_bench, data_dir):
    b = discover_benchmark(tiny_bench, ["stripe"])
    assert b.settings == ["stripe"] and len(b.items["stripe"]) == 2
    assert b.items["stripe"][0].ir_clean is not None and b.manifest is not None
    plain = discover_benchmark(data_dir / "ivif")  # ir/ + vi/ only: one clean setting, no references
    assert plain.settings == ["clean"] and len(plain.items["clean"]) == 3
    assert plain.items["clean"][0].vi_clean is None


def test_method_names_and_directions():
    assert safe_method_name("cascade:auto+gff") == "cascade_auto+gff"
    assert safe_method_name("a/b c") == "a_b_c"
    assert METRIC_DIRECTION["PSNR"] == 1 and METRIC_DIRECTION["MSE"] == -1 and METRIC_DIRECTION["Nabf"] == -1


def test_best_value_is_marked_as_printed():
    """Bold goes to every row whose value prints as the best one (4 decimals below 10, 2 below
    1000): two means that differ only beyond the printed digits are both bold; direction per metric."""
    from mmfuse.bench.report import _best

    rows = [{"PSNR": 64.07371}, {"PSNR": 64.07368}, {"PSNR": 63.9}, {"PSNR": None}, {"PSNR": float("nan")}]
    assert _best(rows, "PSNR") == {0, 1}
    rows = [{"MSE": 0.02981}, {"MSE": 0.02984}, {"MSE": 0.0299}]
    assert _best(rows, "MSE") == {0, 1}  # both print 0.0298; lower is better
    assert _best([{"MSE": 0.1}, {"MSE": 0.2}], "MSE") == {0}
    assert _best([{"name_only": 1.0}, {"name_only": 2.0}], "name_only") == set()
