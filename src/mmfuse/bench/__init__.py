"""Benchmark runner and HTML report (``mmfuse bench``).

:func:`run_benchmark` fuses every pair of every setting of a benchmark folder (written by
``mmfuse degrade``) with every method, evaluates against the clean references, and writes
``results.csv``, ``summary.csv`` and ``report.html``; runs resume after interruption and can be
sharded over worker processes (``workers``) or ``torchrun`` ranks. See ``docs/benchmarks.md``.
"""
from mmfuse.bench.layout import Benchmark, BenchItem, OutputLayout, discover_benchmark, safe_method_name
from mmfuse.bench.report import METRIC_DIRECTION, summarise, write_report
from mmfuse.bench.runner import BenchResult, dist_info, read_records, run_benchmark

__all__ = [
    "METRIC_DIRECTION",
    "BenchItem",
    "BenchResult",
    "Benchmark",
    "OutputLayout",
    "discover_benchmark",
    "dist_info",
    "read_records",
    "run_benchmark",
    "safe_method_name",
    "summarise",
    "write_report",
]
