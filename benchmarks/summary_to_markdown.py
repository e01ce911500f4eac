"""Print markdown tables from a `mmfuse bench` report (used for docs/benchmarks.md).

Usage:
    python benchmarks/summary_to_markdown.py REPORT_DIR [--single noise15,noise25,noise50,haze,defocus,stripe]

Prints, from REPORT_DIR/results.csv:
  * "single-degradation average": the per-image mean over the single settings (TG-ECNet's
    Table 1 is the test-count-weighted mean of its six single-task tables, i.e. the same kind
    of per-image mean);
  * one table per setting (means per method, as REPORT_DIR/summary.csv);
  * speed: mean ms per pair per method over all settings (timed items only).
"""
from __future__ import annotations

import argparse
import csv
import math
from collections import defaultdict
from pathlib import Path

from mmfuse.metrics import METRIC_DIRECTION

LOWER = {m for m, d in METRIC_DIRECTION.items() if d < 0} | {"ms"}


def fmt(v: float) -> str:
    if math.isnan(v):
        return "nan"
    return f"{v:.4f}" if abs(v) < 10 else f"{v:.2f}"


def table(rows: dict[str, dict[str, float]], metrics: list[str], counts: dict[str, int]) -> str:
    out = ["| method | n | " + " | ".join(m + (" ↓" if m in LOWER else " ↑") for m in metrics) + " |",
           "|---|---|" + "---|" * len(metrics)]
    best = {}  # compared as printed: values that print the same are all bold
    for m in metrics:
        vals = [r[m] for r in rows.values() if not math.isnan(r[m])]
        if vals:
            best[m] = fmt(min(vals) if m in LOWER else max(vals))
    for method, r in rows.items():
        cells = [f"**{fmt(r[m])}**" if m in best and fmt(r[m]) == best[m] else fmt(r[m]) for m in metrics]
        out.append(f"| `{method}` | {counts[method]} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("report", type=Path)
    ap.add_argument("--single", default="noise15,noise25,noise50,haze,defocus,stripe")
    args = ap.parse_args()
    with open(args.report / "results.csv", newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        metrics = [c for c in reader.fieldnames or [] if c not in ("setting", "method", "name", "ms")]
        rows = list(reader)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    settings = list(dict.fromkeys(r["setting"] for r in rows))

    def means(select) -> tuple[dict[str, dict[str, float]], dict[str, int]]:
        acc: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for r in rows:
            if select(r):
                for m in metrics:
                    acc[r["method"]][m].append(float(r[m]))
        res = {meth: {m: sum(v) / len(v) for m, v in acc[meth].items()} for meth in methods if meth in acc}
        cnt = {meth: len(acc[meth][metrics[0]]) for meth in res}
        return res, cnt

    single = [s for s in args.single.split(",") if s in settings]
    if single:
        print(f"### Average over {', '.join(single)}\n")
        res, cnt = means(lambda r: r["setting"] in single)
        print(table(res, metrics, cnt))
        print()
    for s in settings:
        res, cnt = means(lambda r, s=s: r["setting"] == s)
        print(f"### `{s}`\n")
        print(table(res, metrics, cnt))
        print()
    print("### Speed (ms per pair, mean over timed items of all settings)\n")
    print("| method | timed pairs | ms/pair |\n|---|---|---|")
    for meth in methods:
        t = [float(r["ms"]) for r in rows if r["method"] == meth and r["ms"]]
        print(f"| `{meth}` | {len(t)} | {sum(t) / len(t):.0f} |" if t else f"| `{meth}` | 0 | – |")


if __name__ == "__main__":
    main()
