"""Tables and figures for docs/models/tgecnet.md from a finished ``scripts/eval_tgecnet.sh`` run.

Reads the benchmark (``OUT/bench``: degraded + clean pairs) and the ``mmfuse bench`` records
(``OUT/report/records/<setting>/<method>/<name>.json``: per-image metrics and the method's info
dict) and writes, as Markdown to stdout (and JSON with ``--json``):

1. mean metrics per setting and method, and for ``tgecnet-small`` the number of metrics on which
   it beats the best classical fusion baseline on the degraded inputs (group a) and the best
   restore->fuse cascade (group b), metric by metric;
2. the gate report's confusion matrix (true setting x predicted setting, from the ``degradation``
   field of the info dict that ``mmfuse fuse --report`` prints) and per-degradation accuracy;
3. chroma error against the clean visible image (CbCr MAE on the 0-255 scale and CbCr PSNR):
   (a) naive re-attachment of the degraded chroma (what every luminance-only method does, e.g.
   gff's output) vs (b) tgecnet-small's restored chroma;
4. with ``--figures DIR``: the colour before/after figure on a noisy pair and the training loss
   curves (``--log runs/tgecnet-small/log.csv``).

Usage::

    PYTHONPATH=src .venv/bin/python scripts/eval_tgecnet_report.py runs/tgecnet-eval \
        --figures docs/img/tgecnet --log runs/tgecnet-small/log.csv
"""
from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from mmfuse.io import read_image, rgb_to_ycbcr

HIGHER = {"CC": True, "MSE": False, "PSNR": True, "Nabf": False, "MS_SSIM": True, "Qabf": True, "VIF": True, "SSIM": True}
METRICS = list(HIGHER)
OURS = "tgecnet-small"
SETTING_ORDER = ["clean", "noise15", "noise25", "noise50", "haze", "defocus", "stripe", "noise50+haze+defocus+stripe"]


def safe(name: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.+-]", "_", name)


def load_records(report: Path) -> dict[str, dict[str, list[dict]]]:
    recs: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for f in sorted((report / "records").glob("*/*/*.json")):
        r = json.loads(f.read_text())
        recs[r["setting"]][r["method"]].append(r)
    return recs


def metric_table(recs: dict) -> tuple[str, dict]:
    lines, verdict = [], {}
    settings = [s for s in SETTING_ORDER if s in recs] + [s for s in recs if s not in SETTING_ORDER]
    for s in settings:
        methods = sorted(recs[s], key=lambda m: (m != OURS, m.startswith("cascade:"), m))
        lines.append(f"\n**{s}** ({len(recs[s].get(OURS, []))} pairs)\n")
        lines.append("| method | " + " | ".join(f"{m} {'↑' if HIGHER[m] else '↓'}" for m in METRICS) + " | ms |")
        lines.append("|---" * (len(METRICS) + 2) + "|")
        means = {}
        for m in methods:
            rows = recs[s][m]
            means[m] = {k: float(np.mean([r["metrics"][k] for r in rows if k in r["metrics"]])) for k in METRICS}
            ms = np.mean([r["ms"] for r in rows if r.get("ms")]) if any(r.get("ms") for r in rows) else float("nan")
            name = f"**{m}**" if m == OURS else m
            lines.append(f"| {name} | " + " | ".join(f"{means[m][k]:.4f}" for k in METRICS) + f" | {ms:.0f} |")
        if OURS in means:
            groups = {"a": [m for m in means if m != OURS and not m.startswith("cascade:")],
                      "b": [m for m in means if m.startswith("cascade:")]}
            v = {}
            for g, ms_ in groups.items():
                if not ms_:
                    continue
                wins = []
                for k in METRICS:
                    best = max(means[m][k] for m in ms_) if HIGHER[k] else min(means[m][k] for m in ms_)
                    ours = means[OURS][k]
                    if (ours > best) if HIGHER[k] else (ours < best):
                        wins.append(k)
                v[g] = wins
            verdict[s] = v
            lines.append("")
            for g, wins in v.items():
                label = "classical fusion on degraded inputs" if g == "a" else "restore→fuse cascades"
                lines.append(f"- vs best of ({g}) {label}: wins {len(wins)}/{len(METRICS)} ({', '.join(wins) or '-'})")
    return "\n".join(lines), verdict


def confusion(recs: dict) -> tuple[str, dict]:
    true_pred: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    per_deg = defaultdict(lambda: [0, 0])  # degradation -> [correct presence calls, total]
    for s, by_m in recs.items():
        for r in by_m.get(OURS, []):
            pred = r.get("info", {}).get("degradation", "?")
            true_pred[s][pred] += 1
            tset = set() if s == "clean" else set(s.split("+"))
            pset = set() if pred in ("clean", "?") else set(pred.split("+"))
            for d in ("noise15", "noise25", "noise50", "haze", "defocus", "stripe"):
                per_deg[d][0] += int((d in tset) == (d in pset))
                per_deg[d][1] += 1
    settings = [s for s in SETTING_ORDER if s in true_pred]
    preds = sorted({p for s in settings for p in true_pred[s]}, key=lambda p: (p not in SETTING_ORDER, SETTING_ORDER.index(p) if p in SETTING_ORDER else 0, p))
    lines = ["| true \\ predicted | " + " | ".join(preds) + " | exact |", "|---" * (len(preds) + 2) + "|"]
    acc = {}
    for s in settings:
        n = sum(true_pred[s].values())
        acc[s] = true_pred[s].get(s, 0) / n if n else float("nan")
        lines.append(f"| {s} | " + " | ".join(str(true_pred[s].get(p, 0) or "") for p in preds) + f" | {acc[s]:.0%} |")
    lines.append("")
    lines.append("Per-degradation presence accuracy over all test images: " + ", ".join(
        f"{d} {c / t:.0%}" for d, (c, t) in per_deg.items() if t))
    return "\n".join(lines), {"matrix": {s: dict(v) for s, v in true_pred.items()}, "exact": acc}


def chroma_errors(bench: Path, report: Path, settings: list[str]) -> tuple[str, dict]:
    lines = ["| setting | naive (degraded CbCr re-attached) MAE ↓ | PSNR ↑ | tgecnet-small MAE ↓ | PSNR ↑ |", "|---|---|---|---|---|"]
    out = {}
    for s in settings:
        vi_dir = bench / s / "vi"
        if not vi_dir.is_dir():
            continue
        a_mae, a_psnr, b_mae, b_psnr = [], [], [], []
        for vi in sorted(vi_dir.iterdir()):
            clean = rgb_to_ycbcr(read_image(bench / s / "vi_clean" / vi.name, "rgb"))[..., 1:] * 255
            deg = rgb_to_ycbcr(read_image(vi, "rgb"))[..., 1:] * 255
            fused_p = report / "fused" / s / safe(OURS) / (vi.stem + ".png")
            if not fused_p.is_file():
                continue
            ours = rgb_to_ycbcr(read_image(fused_p, "rgb"))[..., 1:] * 255
            for arr, m_l, p_l in ((deg, a_mae, a_psnr), (ours, b_mae, b_psnr)):
                err = arr.astype(np.float64) - clean
                m_l.append(np.abs(err).mean())
                p_l.append(10 * np.log10(255**2 / max(np.mean(err**2), 1e-10)))
        if a_mae:
            out[s] = {"naive_mae": float(np.mean(a_mae)), "naive_psnr": float(np.mean(a_psnr)),
                      "ours_mae": float(np.mean(b_mae)), "ours_psnr": float(np.mean(b_psnr)), "n": len(a_mae)}
            lines.append(f"| {s} | {out[s]['naive_mae']:.2f} | {out[s]['naive_psnr']:.2f} | {out[s]['ours_mae']:.2f} | {out[s]['ours_psnr']:.2f} |")
    return "\n".join(lines), out


def colour_figure(bench: Path, report: Path, out_png: Path, setting: str = "noise50", name: str | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    vi_files = sorted((bench / setting / "vi").iterdir())
    vi = next((f for f in vi_files if name and f.stem == name), vi_files[0])
    deg = read_image(vi, "rgb")
    clean = read_image(bench / setting / "vi_clean" / vi.name, "rgb")
    naive = read_image(report / "fused" / setting / "gff" / (vi.stem + ".png"), "rgb")
    ours = read_image(report / "fused" / setting / safe(OURS) / (vi.stem + ".png"), "rgb")
    cas = report / "fused" / setting / safe("cascade:auto+gff") / (vi.stem + ".png")
    panels = [("degraded visible (σ=50)", deg), ("gff: degraded chroma re-attached", naive)]
    if cas.is_file():
        panels.append(("cascade:auto+gff", read_image(cas, "rgb")))
    panels += [("tgecnet-small (restored chroma)", ours), ("clean visible (reference)", clean)]
    h, w = deg.shape[:2]
    c = min(h, w, 240)
    y0, x0 = (h - c) // 2, (w - c) // 2
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.6))
    for ax, (title, img) in zip(axes, panels):
        ax.imshow(np.clip(img[y0 : y0 + c, x0 : x0 + c], 0, 1))
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.suptitle(f"{setting}: {vi.stem} (centre crop {c}x{c})", fontsize=9)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)


def loss_figure(log_csvs: list[Path], out_png: Path) -> None:
    """Loss curves; for each stage the rows of the last log that has it (a re-run stage replaces the first)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_stage: dict[str, dict[int, dict]] = {}
    for log_csv in log_csvs:
        this: dict[str, dict[int, dict]] = defaultdict(dict)
        for r in csv.DictReader(log_csv.open()):
            this[r["stage"]][int(r["global_step"])] = r  # a resumed run repeats steps after the last checkpoint: keep the last
        by_stage.update(this)
    rows_l = [rows[k] for rows in by_stage.values() for k in sorted(rows)]
    fig, axes = plt.subplots(1, 4, figsize=(18, 3.6))
    for ax, stage, keys in ((axes[0], "restore", ["total", "l1", "grad", "load", "probe"]),
                            (axes[1], "fusion", ["total", "fuse_vis", "fuse_ir", "fuse_max", "fuse_grad", "fuse_load", "chroma"]),
                            (axes[2], "probe", ["probe"])):
        rs = [r for r in rows_l if r["stage"] == stage]
        x = [int(r["step"]) for r in rs]
        for k in keys:
            y = [float(r[k]) if r.get(k) not in (None, "") else np.nan for r in rs]
            if np.all(np.isnan(y)):
                continue
            if len(y) > 20:  # trailing 10-row moving average (no edge artefacts)
                yk, xk = np.convolve(np.nan_to_num(y), np.ones(10) / 10, mode="valid"), x[9:]
            else:
                yk, xk = y, x
            ax.plot(xk, yk, label=k, lw=1)
        ax.set_yscale("log")
        ax.set_title(f"stage {stage} (10-row moving average)", fontsize=9)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    ax = axes[3]
    for key in sorted({k for r in rows_l for k in r if k.startswith("val_psnr_vis_")}):
        pts = [(int(r["step"]), float(r[key])) for r in rows_l if r.get(key) not in (None, "") and r["stage"] == "restore"]
        if pts:
            ax.plot(*zip(*pts), marker="o", label=key.replace("val_psnr_", ""))
    ax.set_title("stage 1 validation PSNR (dB, val split, 128 px crops)", fontsize=9)
    ax.set_xlabel("step")
    ax.legend(fontsize=7)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--figures", type=Path, default=None)
    ap.add_argument("--log", type=Path, action="append", default=None, help="training log.csv (repeatable)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--figure-pair", default=None)
    args = ap.parse_args()
    bench, report = args.out / "bench", args.out / "report"
    recs = load_records(report)
    table, verdict = metric_table(recs)
    conf, conf_d = confusion(recs)
    chroma, chroma_d = chroma_errors(bench, report, ["clean", "noise15", "noise25", "noise50", "haze", "defocus", "stripe", "noise50+haze+defocus+stripe"])
    print("## Metrics\n" + table)
    print("\n## Gate confusion matrix\n\n" + conf)
    print("\n## Chroma error vs clean visible\n\n" + chroma)
    if args.figures:
        for s in ("noise50", "haze"):
            if (report / "fused" / s / safe(OURS)).is_dir():
                colour_figure(bench, report, args.figures / f"colour_{s}.png", s, args.figure_pair)
        if args.log:
            loss_figure(args.log, args.figures / "loss_curves.png")
    if args.json:
        args.json.write_text(json.dumps({"verdict": verdict, "confusion": conf_d, "chroma": chroma_d}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
