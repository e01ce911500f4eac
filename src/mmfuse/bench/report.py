"""Benchmark outputs: ``results.csv``, ``summary.csv`` and a self-contained ``report.html``.

The HTML page has its CSS inline and references only files written next to it (relative
paths): JPEG thumbnails in ``thumbs/`` and matplotlib PNG plots in ``plots/``. It shows, per
setting, the mean of every metric per method (best value in bold, using
:data:`METRIC_DIRECTION`), an image grid (degraded inputs, each method's output, clean
references), plots of each metric across settings, and each method's speed and memory. With
``paired`` set to one of the methods, each setting also gets the paired comparison of that method
with every other one (:mod:`mmfuse.bench.stats`: per metric, its mean per-image advantage with a
95 % bootstrap interval; ``+`` better, ``−`` worse, ``=`` undecided), also written to ``paired.csv``.
"""
from __future__ import annotations

import csv
import html
import io
import math
import statistics
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from mmfuse.bench.layout import Benchmark, OutputLayout, safe_method_name
from mmfuse.bench.stats import compare_records
from mmfuse.metrics.profiles import METRIC_DIRECTION as _METRIC_DIRECTION

__all__ = ["METRIC_DIRECTION", "write_report", "summarise", "paired_comparisons", "format_value"]

#: +1: higher is better, -1: lower is better: every metric's direction
#: (:data:`mmfuse.metrics.METRIC_DIRECTION`) plus the timing and memory columns. Columns not
#: listed get no "best" marking.
METRIC_DIRECTION: dict[str, int] = {**_METRIC_DIRECTION, "ms": -1, "peak_mb": -1}

_THUMB_SIDE = 320


def format_value(v: Any) -> str:
    """CSV/HTML text of a value: ``""`` for missing, ``nan``, else 10 significant digits."""
    if v is None:
        return ""
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.10g}"
    return str(v)


def _short(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    a = abs(v)
    return f"{v:.4f}" if a < 10 else f"{v:.2f}" if a < 1000 else f"{v:.0f}"


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow([format_value(v) for v in r])
    return buf.getvalue()


def _nanmean(vals: list[float]) -> float:
    arr = np.array([v for v in vals if v is not None], dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    return float(arr.mean()) if arr.size else float("nan")


def summarise(records: Sequence[dict[str, Any]], settings: Sequence[str], methods: Sequence[str],
              metrics: Sequence[str]) -> list[dict[str, Any]]:
    """Means per (setting, method): ``{"setting", "method", "n", <metric>..., "ms", "peak_mb"}``.

    Metric means ignore NaN values; ``ms`` is the mean over items with a stored time;
    ``peak_mb`` the largest peak of the (setting, method) items.
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["setting"], r["method"]), []).append(r)
    out = []
    for s in settings:
        for m in methods:
            recs = groups.get((s, m), [])
            if not recs:
                continue
            row: dict[str, Any] = {"setting": s, "method": m, "n": len(recs)}
            for k in metrics:
                row[k] = _nanmean([r["metrics"].get(k) for r in recs])
            times = [r["ms"] for r in recs if r.get("ms") is not None]
            peaks = [r["peak_mb"] for r in recs if r.get("peak_mb") is not None]
            row["ms"] = float(np.mean(times)) if times else None
            row["peak_mb"] = float(max(peaks)) if peaks else None
            out.append(row)
    return out


def paired_comparisons(records: Sequence[dict[str, Any]], settings: Sequence[str], method: str,
                       others: Sequence[str], metrics: Sequence[str]) -> list[dict[str, Any]]:
    """Paired comparison of ``method`` with each of ``others`` per setting and metric
    (:func:`mmfuse.bench.stats.compare_records`, 95 % BCa interval), on the images both have.

    Returns:
        Rows ``{"setting", "method", "other", "metric", "n", "mean", "low", "high", "better",
        "worse", "verdict"}`` (advantage of ``method``: positive = better); metrics without a
        direction or with fewer than 2 common images are left out.
    """
    from mmfuse.errors import InputError

    rows = []
    for s in settings:
        recs = [r for r in records if r["setting"] == s]
        for o in others:
            for k in metrics:
                if k not in METRIC_DIRECTION:
                    continue
                try:
                    d = compare_records(recs, method, o, k, METRIC_DIRECTION[k] > 0)
                except InputError:
                    continue
                rows.append({"setting": s, "method": method, "other": o, "metric": k, "n": d.n, "mean": d.mean,
                             "low": d.low, "high": d.high, "better": d.better, "worse": d.worse, "verdict": d.verdict})
    return rows


def _paired_table(rows: list[dict[str, Any]], others: Sequence[str], metrics: Sequence[str]) -> str:
    sym = {"better": "+", "worse": "\u2212", "tie": "="}
    head = "".join(f"<th>{html.escape(k)}{_arrow(k)}</th>" for k in metrics)
    out = [f"<table><thead><tr><th>vs</th>{head}<th>+ / = / \u2212</th></tr></thead><tbody>"]
    for o in others:
        mine = {r["metric"]: r for r in rows if r["other"] == o}
        if not mine:
            continue
        cells = []
        for k in metrics:
            r = mine.get(k)
            if r is None:
                cells.append("<td></td>")
                continue
            tip = f"{r['mean']:+.4g} [{r['low']:+.4g}, {r['high']:+.4g}], better on {r['better']}/{r['n']}"
            cells.append(f"<td title=\"{html.escape(tip)}\">{sym[r['verdict']]} {r['mean']:+.4g}</td>")
        count = [sum(r["verdict"] == v for r in mine.values()) for v in ("better", "tie", "worse")]
        out.append(f"<tr><td>{html.escape(o)}</td>{''.join(cells)}<td>{count[0]} / {count[1]} / {count[2]}</td></tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _speed(records: Sequence[dict[str, Any]], methods: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for m in methods:
        recs = [r for r in records if r["method"] == m]
        times = [r["ms"] for r in recs if r.get("ms") is not None]
        peaks = [r["peak_mb"] for r in recs if r.get("peak_mb") is not None]
        rows.append({
            "method": m, "n": len(times),
            "ms": float(np.mean(times)) if times else None,
            "ms_median": float(statistics.median(times)) if times else None,
            "peak_mb": float(max(peaks)) if peaks else None,
        })
    return rows


def _best(rows: list[dict[str, Any]], key: str) -> set[int]:
    """Rows holding the best value of column ``key`` as printed (:func:`_short`): values that
    print the same are all best, so the bold never picks one of two equal-looking numbers."""
    d = METRIC_DIRECTION.get(key)
    vals = [(i, r.get(key)) for i, r in enumerate(rows)]
    vals = [(i, float(_short(v))) for i, v in vals if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if d is None or len(vals) < 2:
        return set()
    target = max(v for _, v in vals) if d > 0 else min(v for _, v in vals)
    return {i for i, v in vals if v == target}


def _table(rows: list[dict[str, Any]], first: str, keys: list[str], labels: dict[str, str] | None = None) -> str:
    labels = labels or {}
    best = {k: _best(rows, k) for k in keys}
    head = "".join(f"<th>{html.escape(labels.get(k, k))}{_arrow(k)}</th>" for k in [first, *keys])
    body = []
    for i, r in enumerate(rows):
        cells = [f"<td class=\"name\">{html.escape(str(r[first]))}</td>"]
        for k in keys:
            text = html.escape(_short(r.get(k)))
            cells.append(f"<td><b>{text}</b></td>" if i in best[k] else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _arrow(key: str) -> str:
    d = METRIC_DIRECTION.get(key)
    return "" if d is None else (" ↑" if d > 0 else " ↓")


def _thumb(src: Path, dst: Path) -> bool:
    """Write a JPEG thumbnail (longest side 320 px); ``False`` if the source cannot be read.

    Images are read with :func:`mmfuse.io.read_image` (so 16-bit files are scaled, not clipped).
    """
    from PIL import Image

    from mmfuse.errors import InputError
    from mmfuse.io import read_image

    try:
        img = read_image(src, mode="keep")
    except InputError:
        return False
    im = Image.fromarray(np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8))
    im.thumbnail((_THUMB_SIDE, _THUMB_SIDE))
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")
    im.save(tmp, format="JPEG", quality=85)
    tmp.replace(dst)
    return True


def _rel(path: Path, root: Path) -> str:
    return quote(path.relative_to(root).as_posix())


def _plots(layout: OutputLayout, summary: list[dict[str, Any]], speed: list[dict[str, Any]], settings: Sequence[str],
           methods: Sequence[str], metrics: Sequence[str]) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layout.plots.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    index = {(r["setting"], r["method"]): r for r in summary}
    x = np.arange(len(settings))
    for k in metrics:
        fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(settings) + 3.0), 3.6), dpi=100)
        width = 0.8 / max(1, len(methods))
        for j, m in enumerate(methods):
            y = [index[(s, m)][k] if (s, m) in index and index[(s, m)][k] is not None else np.nan for s in settings]
            if len(settings) <= 3:
                ax.bar(x - 0.4 + width * (j + 0.5), y, width, label=m)
            else:
                ax.plot(x, y, marker="o", ms=4, lw=1.2, label=m)
        ax.set_xticks(x)
        ax.set_xticklabels(settings, rotation=45 if len(settings) > 3 else 0, ha="right" if len(settings) > 3 else "center",
                           fontsize=8)
        d = METRIC_DIRECTION.get(k)
        ax.set_ylabel(k + ("" if d is None else " (higher is better)" if d > 0 else " (lower is better)"), fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="best")
        fig.tight_layout()
        p = layout.plots / f"{k}.png"
        fig.savefig(p)
        plt.close(fig)
        paths[k] = p
    timed = [r for r in speed if r["ms"] is not None]
    if timed:
        fig, ax = plt.subplots(figsize=(6.0, 0.4 * len(timed) + 1.2), dpi=100)
        ax.barh([r["method"] for r in timed], [r["ms"] for r in timed])
        ax.invert_yaxis()
        ax.set_xlabel("ms per pair (mean of the fuse call)", fontsize=9)
        ax.grid(True, axis="x", alpha=0.3)
        fig.tight_layout()
        p = layout.plots / "speed.png"
        fig.savefig(p)
        plt.close(fig)
        paths["speed"] = p
    return paths


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em auto;max-width:1400px;
padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}h3{font-size:1em}
table{border-collapse:collapse;margin:.5em 0;font-size:.85em}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:right}
th{background:#f3f3f3}td.name{text-align:left;font-family:monospace}
table.grid td{text-align:center;vertical-align:top;font-size:.8em}
table.grid img{max-width:240px;display:block;margin:auto}
.meta{color:#555;font-size:.9em}.fail{color:#a00}
nav a{margin-right:.8em;font-family:monospace;font-size:.85em}
img.plot{max-width:100%;display:block;margin:.5em 0}
"""


def _setting_text(bench: Benchmark, setting: str) -> str:
    for s in (bench.manifest or {}).get("settings", []) or []:
        if isinstance(s, dict) and s.get("name") == setting:
            vis = s.get("vis_chain") or "clean"
            ir = s.get("ir_chain") or "clean"
            return f"visible: {vis}; infrared: {ir}"
    return ""


def write_report(
    layout: OutputLayout,
    bench: Benchmark,
    methods: Sequence[str],
    metrics: Sequence[str],
    profile: str,
    records: Sequence[dict[str, Any]],
    failed: Sequence[tuple[str, str, str, str]],
    *,
    examples: int = 1,
    paired: str | None = None,
) -> tuple[Path, Path, Path]:
    """Write ``results.csv``, ``summary.csv``, thumbnails, plots and ``report.html``.

    Args:
        layout: output layout.
        bench: the benchmark (settings, pairs, manifest).
        methods, metrics: in column order.
        profile: metric profile name (shown in the page).
        records: complete per-item records, in plan order.
        failed: ``(setting, method, name, message)`` of failed items.
        examples: example pairs per setting in the image grid.
        paired: one of ``methods``: add its paired comparison with every other method (per
            setting, ``paired.csv`` and a table per setting).

    Returns:
        Paths of ``results.csv``, ``summary.csv`` and ``report.html``.
    """
    from mmfuse.io import write_text

    settings = list(bench.settings)
    res_rows = [[r["setting"], r["method"], r["name"], *[r["metrics"].get(k) for k in metrics], r.get("ms")]
                for r in records]
    results = write_text(layout.results_csv, _csv(["setting", "method", "name", *metrics, "ms"], res_rows),
                         overwrite=True)
    summary = summarise(records, settings, methods, metrics)
    sum_rows = [[r["setting"], r["method"], r["n"], *[r[k] for k in metrics], r["ms"], r["peak_mb"]] for r in summary]
    summary_path = write_text(layout.summary_csv, _csv(["setting", "method", "n", *metrics, "ms", "peak_mb"], sum_rows),
                              overwrite=True)
    others = [m for m in methods if m != paired]
    pairs = paired_comparisons(records, settings, paired, others, metrics) if paired else []
    if paired:
        cols = ["setting", "method", "other", "metric", "n", "mean", "low", "high", "better", "worse", "verdict"]
        write_text(layout.paired_csv, _csv(cols, [[r[c] for c in cols] for r in pairs]), overwrite=True)
    elif layout.paired_csv.exists():  # from an earlier run of this report with a paired method
        layout.paired_csv.unlink()
    speed = _speed(records, methods)
    plots = _plots(layout, summary, speed, settings, methods, metrics)

    root = layout.root
    parts: list[str] = []
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts.append("<h1>mmfuse benchmark report</h1>")
    parts.append(
        f"<p class=\"meta\">benchmark: <code>{html.escape(str(bench.root))}</code> · profile: "
        f"<code>{html.escape(profile)}</code> · {len(settings)} setting(s), {len(methods)} method(s), "
        f"{bench.n_pairs} pair(s), {len(records)} scored item(s), {len(failed)} failed · generated {now}</p>"
    )
    refs = any(it.ir_clean is not None for its in bench.items.values() for it in its)
    parts.append(
        "<p class=\"meta\">Metrics compare each fused image with the "
        + ("<b>clean</b> infrared and visible references (degraded-fusion protocol)" if refs else "input images")
        + ", computed from the saved 8-bit PNG; ↑ higher is better, ↓ lower is better; the best value per column "
        "is bold. Time: wall time of the fuse call per pair (ms). Memory: peak resident-set growth of a fresh worker "
        "process running only that method (MB).</p>"
    )
    parts.append("<nav>" + "".join(f"<a href=\"#s-{quote(s)}\">{html.escape(s)}</a>" for s in settings)
                 + "<a href=\"#plots\">plots</a><a href=\"#speed\">speed</a></nav>")

    overall = []
    for m in methods:
        recs = [r for r in records if r["method"] == m]
        if recs:
            overall.append({"method": m, "n": len(recs), **{k: _nanmean([r["metrics"].get(k) for r in recs]) for k in metrics}})
    parts.append("<h2>All settings (mean over every scored pair)</h2>")
    parts.append(_table(overall, "method", ["n", *metrics]) if overall else "<p>No results.</p>")

    for s in settings:
        parts.append(f"<h2 id=\"s-{html.escape(s)}\">Setting <code>{html.escape(s)}</code></h2>")
        text = _setting_text(bench, s)
        if text:
            parts.append(f"<p class=\"meta\">{html.escape(text)}</p>")
        rows = [r for r in summary if r["setting"] == s]
        parts.append(_table(rows, "method", ["n", *metrics, "ms"], {"ms": "ms/pair"}) if rows else "<p>No results.</p>")
        mine = [r for r in pairs if r["setting"] == s]
        if mine:
            parts.append(f"<p class=\"meta\">Paired comparison of <b>{html.escape(paired or '')}</b> with each method on the "
                         "same images: its mean per-image advantage (positive = better) and whether the 95 % bootstrap "
                         "interval of that mean lies above 0 (+), below 0 (\u2212) or around it (=, the draw of images "
                         "decides); the interval is in each cell's tooltip.</p>")
            parts.append(_paired_table(mine, others, metrics))
        parts.append(_grid(layout, bench, s, methods, examples))

    parts.append("<h2 id=\"plots\">Metrics across settings</h2>")
    for k in metrics:
        if k in plots:
            parts.append(f"<img class=\"plot\" src=\"{_rel(plots[k], root)}\" alt=\"{html.escape(k)} per setting\">")
    parts.append("<h2 id=\"speed\">Speed and memory</h2>")
    parts.append(_table(speed, "method", ["n", "ms", "ms_median", "peak_mb"],
                        {"n": "timed pairs", "ms": "ms/pair (mean)", "ms_median": "ms/pair (median)", "peak_mb": "peak MB"}))
    if "speed" in plots:
        parts.append(f"<img class=\"plot\" src=\"{_rel(plots['speed'], root)}\" alt=\"speed per method\">")
    if failed:
        parts.append(f"<h2>Failures ({len(failed)})</h2><ul class=\"fail\">")
        parts += [f"<li>{html.escape(f'{s} / {m} / {n}: {msg}')}</li>" for s, m, n, msg in failed]
        parts.append("</ul>")
    if bench.problems:
        parts.append(f"<h2>Benchmark files not used ({len(bench.problems)})</h2><ul>")
        parts += [f"<li>{html.escape(p)}</li>" for p in bench.problems]
        parts.append("</ul>")
    page = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>mmfuse benchmark</title>\n"
            f"<style>{_CSS}</style>\n</head>\n<body>\n" + "\n".join(parts) + "\n</body>\n</html>\n")
    report = write_text(layout.report_html, page, overwrite=True)
    return results, summary_path, report


def _grid(layout: OutputLayout, bench: Benchmark, setting: str, methods: Sequence[str], examples: int) -> str:
    items = bench.items[setting][:examples]
    if not items:
        return ""
    has_refs = any(it.ir_clean is not None for it in items)
    cols: list[tuple[str, str]] = [("vi", "visible input"), ("ir", "infrared input")]
    cols += [(f"m_{safe_method_name(m)}", m) for m in methods]
    if has_refs:
        cols += [("vi_clean", "visible clean"), ("ir_clean", "infrared clean")]
    head = "<th>pair</th>" + "".join(f"<th>{html.escape(label)}</th>" for _, label in cols)
    rows = []
    for it in items:
        sources: dict[str, Path | None] = {"vi": it.vi, "ir": it.ir, "vi_clean": it.vi_clean, "ir_clean": it.ir_clean}
        for m in methods:
            sources[f"m_{safe_method_name(m)}"] = layout.fused(setting, m, it.name)
        cells = [f"<td class=\"name\">{html.escape(it.name)}</td>"]
        for key, label in cols:
            src = sources.get(key)
            dst = layout.thumbs / setting / it.name / f"{key}.jpg"
            if src is not None and src.is_file() and _thumb(src, dst):
                cells.append(f"<td><img src=\"{_rel(dst, layout.root)}\" alt=\"{html.escape(label)}\"></td>")
            else:
                cells.append("<td class=\"fail\">missing</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table class=\"grid\"><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
