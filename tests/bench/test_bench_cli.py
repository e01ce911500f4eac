"""`mmfuse bench` on the command line: success, error exit codes, failures, torchrun sharding."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mmfuse.bench import run_benchmark

ROOT = Path(__file__).resolve().parents[2]
METRICS = "CC,MSE,PSNR,Nabf"


def rows_without_time(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [{k: v for k, v in r.items() if k != "ms"} for r in csv.DictReader(fh)]


@pytest.fixture(scope="module")
def reference(tiny_bench, tmp_path_factory) -> Path:
    """In-process API run of gff and cascade:auto+gff (the expected results)."""
    out = tmp_path_factory.mktemp("ref")
    run_benchmark(tiny_bench, "gff,cascade:auto+gff", out, metrics=METRICS, workers=0, progress=False)
    return out


def test_cli_bench_one_worker_matches_in_process_run(cli, tiny_bench, reference, tmp_path):
    out = tmp_path / "report"
    res = cli("bench", tiny_bench, "--methods", "gff,cascade:auto+gff", "--metrics", METRICS,
              "--workers", "1", "-o", out)
    assert res.returncode == 0, res.stderr
    assert "8 fused" in res.stdout and "report:" in res.stdout
    assert rows_without_time(out / "results.csv") == rows_without_time(reference / "results.csv")
    assert (out / "report.html").is_file() and (out / "summary.csv").is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--methods", "gff,nosuch"], "error: unknown method 'nosuch'"),
        (["--methods", "gff", "--settings", "fog"], "error: unknown setting 'fog'"),
        (["--methods", "gff", "--paired", "average"], "error: paired method 'average' is not among"),
    ],
)
def test_cli_bench_user_errors_exit_2(cli, tiny_bench, tmp_path, args, message):
    res = cli("bench", tiny_bench, *args, "-o", tmp_path / "r")
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1].startswith(message), res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "r").exists()


def test_cli_bench_failed_items_exit_1(cli, tiny_bench, tmp_path):
    import shutil

    bench = tmp_path / "bench"
    shutil.copytree(tiny_bench, bench)
    bad = next((bench / "stripe" / "ir").iterdir())
    bad.write_bytes(b"not an image")
    res = cli("bench", bench, "--methods", "gff", "--metrics", "CC", "--workers", "0", "-o", tmp_path / "r")
    assert res.returncode == 1
    assert "1 failed:" in res.stderr and f"stripe / gff / {bad.stem}" in res.stderr
    assert (tmp_path / "r" / "report.html").is_file()


@pytest.mark.slow
def test_torchrun_two_ranks_match_single_process(tiny_bench, reference, tmp_path):
    """Under torchrun each rank does its shard; rank 0 writes the same results as one process."""
    out = tmp_path / "report"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    res = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "mmfuse", "bench", str(tiny_bench), "--methods", "gff,cascade:auto+gff", "--metrics", METRICS,
         "--workers", "0", "-o", str(out)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.count("4 item(s)") == 2  # each rank handled half of the 8 items
    assert rows_without_time(out / "results.csv") == rows_without_time(reference / "results.csv")
