"""Tables and figures for docs/models/tgecnet.md from a finished ``scripts/eval_tgecnet.sh`` run.

Reads the benchmark (``OUT/bench``: degraded + clean pairs) and the ``mmfuse bench`` records
(``OUT/report/records/<setting>/<method>/<name>.json``: per-image metrics and the method's info
dict) and writes, as Markdown to stdout (and JSON with ``--json``):

1. mean metrics per setting and method, and for ``tgecnet-small`` the number of metrics on which
   it is better than each other method, and than the best of the classical fusion baselines on
   the degraded inputs (group a) and of the restore->fuse cascades (group b) metric by metric;
2. the gate report's confusion matrix (true setting x predicted setting, from the ``degradation``
   field of the info dict that ``mmfuse fuse --report`` prints) and per-degradation accuracy;
3. chroma error against the clean visible image (CbCr MAE on the 0-255 scale and CbCr PSNR):
   (a) naive re-attachment of the degraded chroma (what every luminance-only method does, e.g.
   gff's output) vs (b) tgecnet-small's restored chroma;
4. PSNR of the restored VIS-Y and IR against the clean images per setting (stage-1 output);
4b. the paired comparison with each classical method per setting and metric: the mean per-image
   advantage of tgecnet-small with its 95 % bootstrap interval (mmfuse.bench.stats), written
   ``+`` (interval above 0), ``-`` (below 0) or ``=`` (a tie: the images' draw decides);
5. with ``--figures DIR``: the colour before/after figures on a noisy and a hazy pair and the
   training loss curves (``--log runs/tgecnet-small/log.csv``, the engine's log).

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

from mmfuse.bench.report import paired_comparisons
from mmfuse.io import read_image, rgb_to_ycbcr
from mmfuse.metrics import METRIC_DIRECTION
import mmfuse.models  # noqa: F401  (registers every method)
from mmfuse.models.registry import get_spec

METRICS = ["CC", "MSE", "PSNR", "Nabf", "MS_SSIM", "Qabf", "VIF", "SSIM"]
HIGHER = {m: METRIC_DIRECTION[m] > 0 for m in METRICS}
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


def better(ours: float, other: float, metric: str) -> bool:
    """Whether ``ours`` is strictly better than ``other`` on ``metric`` (4 decimals, as printed)."""
    a, b = round(ours, 4), round(other, 4)
    return a > b if HIGHER[metric] else a < b


def metric_table(recs: dict) -> tuple[str, dict]:
    lines, verdict = [], {}
    settings = [s for s in SETTING_ORDER if s in recs] + [s for s in recs if s not in SETTING_ORDER]
    for s in settings:
        # the comparison: TG-ECNet vs the classical fusers and the restore->fuse cascades
        methods = sorted((m for m in recs[s] if m == OURS or get_spec(m).kind != "learned"),
                         key=lambda m: (m != OURS, m.startswith("cascade:"), m))
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
            groups = {"a": [m for m in means if m != OURS and not m.startswith("cascade:") and get_spec(m).kind != "learned"],
                      "b": [m for m in means if m.startswith("cascade:")]}
            v: dict[str, dict] = {"best_of_group": {}, "each": {}}
            for g, ms_ in groups.items():
                if not ms_:
                    continue
                wins = []
                for k in METRICS:
                    best = max(means[m][k] for m in ms_) if HIGHER[k] else min(means[m][k] for m in ms_)
                    if better(means[OURS][k], best, k):
                        wins.append(k)
                v["best_of_group"][g] = wins
                for m in ms_:
                    v["each"][m] = [k for k in METRICS if better(means[OURS][k], means[m][k], k)]
            verdict[s] = v
            lines.append("")
            each = ", ".join(f"{m} {len(w)}/{len(METRICS)}" for m, w in v["each"].items())
            lines.append(f"- metrics on which {OURS} is better than each method: {each}")
            for g, wins in v["best_of_group"].items():
                label = "classical fusion on degraded inputs" if g == "a" else "restore→fuse cascades"
                lines.append(f"- vs the best of ({g}) {label} metric by metric: {len(wins)}/{len(METRICS)} ({', '.join(wins) or '-'})")
    return "\n".join(lines), verdict


def paired_table(recs: dict) -> tuple[str, dict]:
    """Per setting and classical method: the paired 95 % verdict of each metric (``+``, ``-``,
    ``=``; :func:`mmfuse.bench.report.paired_comparisons`) and the counts; ties whose mean
    favours tgecnet-small are marked ``=+``, else ``=-``."""
    lines = ["| setting | method | " + " | ".join(METRICS) + " | + / = / - |", "|---" * (len(METRICS) + 3) + "|"]
    out: dict[str, dict] = {}
    for s in [s for s in SETTING_ORDER if s in recs and OURS in recs[s]]:
        others = sorted((m for m in recs[s] if m != OURS and get_spec(m).kind != "learned"), key=lambda m: (m.startswith("cascade:"), m))
        rows = paired_comparisons([r for m in recs[s] for r in recs[s][m]], [s], OURS, others, METRICS)
        for m in others:
            mine = {r["metric"]: r for r in rows if r["other"] == m}
            cells = [{"better": "+", "worse": "-"}.get(mine[k]["verdict"], "=+" if mine[k]["mean"] > 0 else "=-") for k in METRICS]
            out.setdefault(s, {})[m] = {k: {f: mine[k][f] for f in ("mean", "low", "high", "verdict")} for k in METRICS}
            counts = [sum(r["verdict"] == v for r in mine.values()) for v in ("better", "tie", "worse")]
            lines.append(f"| {s} | {m} | " + " | ".join(cells) + f" | {counts[0]} / {counts[1]} / {counts[2]} |")
    return "\n".join(lines), out


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
                mse = float(np.mean(err**2))
                p_l.append(10 * np.log10(255**2 / mse) if mse > 0 else float("inf"))
        if a_mae:
            out[s] = {"naive_mae": float(np.mean(a_mae)), "naive_psnr": float(np.mean(a_psnr)),
                      "ours_mae": float(np.mean(b_mae)), "ours_psnr": float(np.mean(b_psnr)), "n": len(a_mae)}
            f = lambda v: "∞" if not np.isfinite(v) else f"{v:.2f}"  # noqa: E731
            lines.append(f"| {s} | {out[s]['naive_mae']:.2f} | {f(out[s]['naive_psnr'])} | {out[s]['ours_mae']:.2f} | {f(out[s]['ours_psnr'])} |")
    return "\n".join(lines), out


def restored_visible(setting_dir: Path, name: str) -> np.ndarray:
    """The shipped model's restored visible image (restored Y + restored CbCr, before fusion) of
    one benchmark pair, ``(H, W, 3)``; borders beyond a multiple of the model's size are mirrored."""
    import torch

    from mmfuse.io import crop_to, pad_to_multiple, ycbcr_to_rgb
    from mmfuse.models.base import TorchFusionMethod
    from mmfuse.models.registry import bundled_weights_path

    net = TorchFusionMethod.from_file(bundled_weights_path(get_spec(OURS).weights)).network
    ir, size = pad_to_multiple(read_image(setting_dir / "ir" / name, "gray"), net.size_multiple)
    vis, _ = pad_to_multiple(read_image(setting_dir / "vi" / name, "rgb"), net.size_multiple)
    with torch.inference_mode():
        out = net(torch.from_numpy(ir)[None, None], torch.from_numpy(vis.transpose(2, 0, 1).copy())[None])
    ycc = torch.cat([out["restored_vis"].clamp(0, 1), out["cbcr"]], 1)[0].numpy().transpose(1, 2, 0)
    return np.clip(ycbcr_to_rgb(crop_to(ycc, size)), 0, 1)


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
    panels = [(f"degraded visible ({setting})", deg), ("gff: degraded chroma re-attached", naive)]
    if cas.is_file():
        panels.append(("cascade:auto+gff", read_image(cas, "rgb")))
    panels += [("tgecnet-small (restored chroma)", ours), ("tgecnet-small restored visible", restored_visible(bench / setting, vi.name)),
               ("clean visible (reference)", clean)]
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


def loss_figure(log_csv: Path, out_png: Path) -> None:
    """Training losses per stage and validation losses from an engine ``log.csv``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(log_csv.open()))
    by_step: dict[tuple[str, int], dict] = {}
    for r in rows:  # a resumed run repeats the steps after its last checkpoint: keep the last row
        by_step[(r["kind"], int(r["step"]))] = r
    rows = [by_step[k] for k in sorted(by_step, key=lambda k: (k[1], k[0]))]
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.6))
    panels = ((axes[0], ("restore", "refine", "experts"), ["total", "l1", "mse", "grad", "load", "probe"]),
              (axes[1], ("fusion",), ["total", "fuse_vis", "fuse_ir", "fuse_max", "fuse_mean", "fuse_cc", "fuse_grad", "fuse_ssim", "fuse_ssim_tang", "fuse_load", "chroma"]))
    for ax, stages, keys in panels:
        rs = [r for r in rows if r["kind"] == "train" and r["stage"] in stages]
        x = np.array([int(r["step"]) for r in rs])
        for k in keys:
            y = np.array([float(r[k]) if r.get(k) not in (None, "") else np.nan for r in rs])
            if y.size == 0 or np.all(np.isnan(y)):
                continue
            n = 50 if len(y) > 500 else 1
            yk, xk = (np.convolve(np.nan_to_num(y), np.ones(n) / n, mode="valid"), x[n - 1 :]) if n > 1 else (y, x)
            ax.plot(xk, yk, label=k, lw=1)
        ax.set_yscale("log")
        ax.set_title(f"stage {' + '.join(stages)} (50-step moving average)", fontsize=9)
        ax.set_xlabel("global step")
        ax.legend(fontsize=7)
    ax = axes[2]
    for k in ("val_l1", "val_probe", "val_fuse_grad", "val_chroma"):
        pts = [(int(r["step"]), float(r[k])) for r in rows if r["kind"] == "val" and r.get(k) not in (None, "")]
        if pts:
            ax.plot(*zip(*pts), marker="o", label=k)
    ax.set_yscale("log")
    ax.set_title("validation losses (10 val pairs, whole images)", fontsize=9)
    ax.set_xlabel("global step")
    ax.legend(fontsize=7)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)


def restoration_table(bench: Path, settings: list[str], max_pairs: int) -> tuple[str, dict]:
    """PSNR (dB) of the restored VIS-Y and IR of the shipped model against the clean ones."""
    import torch

    import mmfuse
    from mmfuse.io import pad_to_multiple

    net = mmfuse.load(OURS).network.eval()
    lines = ["| setting | VIS-Y input | VIS-Y restored | IR input | IR restored |", "|---|---|---|---|---|"]
    out = {}

    from skimage.metrics import peak_signal_noise_ratio

    def psnr(a: np.ndarray, b: np.ndarray) -> float:  # of the clipped image; ∞ when identical
        with np.errstate(divide="ignore"):
            return float(peak_signal_noise_ratio(b.astype(np.float64), np.clip(a, 0, 1).astype(np.float64), data_range=1.0))

    for s in settings:
        vi_dir = bench / s / "vi"
        if not vi_dir.is_dir():
            continue
        acc = defaultdict(list)
        for vi in sorted(vi_dir.iterdir())[:max_pairs]:
            ir_p = bench / s / "ir" / vi.name
            imgs = {
                "vis": (rgb_to_ycbcr(read_image(vi, "rgb"))[..., 0], rgb_to_ycbcr(read_image(bench / s / "vi_clean" / vi.name, "rgb"))[..., 0]),
                "ir": (read_image(ir_p, "gray"), read_image(bench / s / "ir_clean" / vi.name, "gray")),
            }
            for mod, (deg, clean) in imgs.items():
                h, w = deg.shape
                x = torch.from_numpy(pad_to_multiple(deg.astype(np.float32), net.size_multiple)[0])[None, None]
                with torch.no_grad():
                    r = net.restore(x)["restored"][0, 0, :h, :w].numpy()
                acc[f"{mod}_in"].append(psnr(deg, clean))
                acc[f"{mod}_out"].append(psnr(r, clean))
        out[s] = {k: float(np.mean(vs)) for k, vs in acc.items()}
        f = lambda v: "∞" if not np.isfinite(v) else f"{v:.2f}"  # noqa: E731
        o = out[s]
        lines.append(f"| {s} | {f(o['vis_in'])} | {f(o['vis_out'])} | {f(o['ir_in'])} | {f(o['ir_out'])} |")
    return "\n".join(lines), out


def prompt_stats(bench: Path, settings: list[str], max_pairs: int) -> dict:
    """How much the degradation-aware task prompt varies with the input: the spread of the prompt
    vectors over all inputs relative to their mean norm, the spread of the per-setting means
    (between-setting) relative to it, and the mean entropy of the atom coefficients."""
    import torch

    import mmfuse
    from mmfuse.io import pad_to_multiple
    from mmfuse.models.tgecnet import _with_highpass

    net = mmfuse.load(OURS).network.eval()
    prompts, coeffs, groups = [], [], []
    for s in settings:
        for vi in sorted((bench / s / "vi").iterdir())[:max_pairs]:
            y = rgb_to_ycbcr(read_image(vi, "rgb"))[..., 0]
            ir = read_image(bench / s / "ir" / vi.name, "gray")
            for mod, img in (("vis", y), ("ir", ir)):
                x = torch.from_numpy(pad_to_multiple(img.astype(np.float32), net.size_multiple)[0])[None, None]
                with torch.no_grad():
                    pr, co = net.task_prompt(_with_highpass(x) if net.prompt_highpass else x, return_coefficients=True)
                prompts.append(pr[0].numpy())
                coeffs.append(co[0].numpy())
                groups.append(f"{s}/{mod}")
    P, C = np.stack(prompts), np.stack(coeffs)
    norm = float(np.linalg.norm(P.mean(0)))
    total = float(np.sqrt(((P - P.mean(0)) ** 2).sum(1).mean()))
    means = np.stack([P[[g == k for g in groups]].mean(0) for k in sorted(set(groups))])
    between = float(np.sqrt(((means - P.mean(0)) ** 2).sum(1).mean()))
    ent = float(np.mean(-(C * np.log(np.clip(C, 1e-12, 1))).sum(1)))
    return {"inputs": len(P), "spread_rel": total / norm, "between_rel": between / norm,
            "atom_entropy": ent, "atom_entropy_max": float(np.log(C.shape[1])), "top_atom_mass": float(C.max(1).mean())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--figures", type=Path, default=None)
    ap.add_argument("--log", type=Path, default=None, help="the training run's log.csv (loss figure)")
    ap.add_argument("--restore-pairs", type=int, default=20, help="pairs per setting for the restoration table (0: skip)")
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
    paired, paired_d = paired_table(recs)
    print(f"\n## Paired comparison of {OURS} with each classical method (95 % bootstrap interval)\n\n" + paired)
    restore_d = {}
    stats = prompt_stats(bench, SETTING_ORDER, 5)
    print("\n## Task prompt statistics (5 pairs per setting, both modalities)\n\n" + json.dumps(stats, indent=1))
    if args.restore_pairs:
        rest, restore_d = restoration_table(bench, SETTING_ORDER, args.restore_pairs)
        print(f"\n## Restoration PSNR (first {args.restore_pairs} pairs per setting)\n\n" + rest)
    if args.figures:
        for s in ("noise50", "haze"):
            if (report / "fused" / s / safe(OURS)).is_dir():
                colour_figure(bench, report, args.figures / f"colour_{s}.png", s, args.figure_pair)
        if args.log:
            loss_figure(args.log, args.figures / "loss_curves.png")
    if args.json:
        args.json.write_text(json.dumps({"verdict": verdict, "paired": paired_d, "confusion": conf_d, "chroma": chroma_d, "restoration": restore_d, "prompt": stats}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
