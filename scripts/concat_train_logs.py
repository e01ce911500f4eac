"""Concatenate the ``log.csv`` files of runs that continue one another into one log.

A model trained in several runs (e.g. a restoration stage, then ``mmfuse train ... --set
init_weights=<that run's stage weights> --set start_stage=<next stage>``) has one engine log per
run, each counting steps and wall time from 0. This writes them as one log: each part's steps
and wall times are shifted by the last step / time of the parts before it, columns are the union
of all parts, and ``--stages`` keeps only the rows of the named stages of a part.

Usage::

    python scripts/concat_train_logs.py OUT.csv RUN1/log.csv[:stage,...] RUN2/log.csv[:stage,...] ...
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("parts", nargs="+", help="LOG.csv or LOG.csv:stage1,stage2 (rows of these stages only)")
    args = ap.parse_args()
    rows: list[dict[str, str]] = []
    columns: list[str] = []
    step0, time0 = 0, 0.0
    for part in args.parts:
        path, _, stages = part.partition(":")
        keep = set(stages.split(",")) if stages else None
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            columns += [c for c in reader.fieldnames or [] if c not in columns]
            part_rows = [r for r in reader if keep is None or r["stage"] in keep]
        if not part_rows:
            raise SystemExit(f"{path}: no rows{' of stages ' + stages if stages else ''}")
        for r in part_rows:
            r["step"] = str(int(r["step"]) + step0)
            r["wall_time"] = f"{float(r['wall_time']) + time0:.3f}"
        rows += part_rows
        step0 = max(int(r["step"]) for r in part_rows)
        time0 = max(float(r["wall_time"]) for r in part_rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} rows, {step0} steps, {time0:.0f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
