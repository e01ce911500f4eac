"""Evaluate moefusion-small on the RoadScene test split and draw the docs figures.

Writes into ``--out-dir`` (default ``docs/img/moefusion``):

* ``eval_<split>.json``: per-method mean (and per-image) metrics of the ``tang`` profile
  (EN, SD, SF, MI, SCD, VIF, Qabf, SSIM: the metrics MoE-Fusion reports that the toolbox has),
  for moefusion-small with its default (learned) attention, the same weights with other
  attention sources (``+ir-prior``, ``+prior``, ``+none``), and the classical baselines;
* ``eval_<split>.md``: the table for ``docs/models/moefusion.md`` with win counts;
* ``gates_<split>.json`` and ``expert_usage.png``: which experts the foreground, background and
  global gates choose, per image and in total;
* ``train_curves.png`` from a run's ``log.csv`` (``--train-log``).

Usage (the exact command of the docs)::

    PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python scripts/eval_moefusion.py \
        --data /work/shared/data/ivif/roadscene --split test \
        --train-log docs/img/moefusion/train_log.csv

Failed items are skipped, listed at the end, and make the exit code 1.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

METRICS = ["EN", "SD", "SF", "MI", "SCD", "VIF", "Qabf", "SSIM"]
BASELINES = ["average", "laplacian", "gff"]
VARIANTS = ["moefusion-small", "moefusion-small+ir-prior", "moefusion-small+prior", "moefusion-small+none"]


def _load_method(name: str, weights: str | None) -> Any:
    import mmfuse.models.moefusion  # noqa: F401  (registers the architecture and method)
    from mmfuse.models import load

    base, _, source = name.partition("+")
    method = load(base, weights=weights if base == "moefusion-small" else None)
    if source:
        method.network.set_attention_source(source)
        method.name = name
    return method


def evaluate_split(data: Path, split: str, methods: list[str], weights: str | None, limit: int | None) -> dict[str, Any]:
    """Fuse and score every pair of the split with every method.

    Returns:
        ``{"methods": {name: {"mean": {metric: v}, "per_image": {stem: {metric: v}}}},
        "gates": {stem: describe-dict}, "failed": [(item, message)], "n": int}``.
    """
    from tqdm import tqdm

    from mmfuse.errors import MMFuseError
    from mmfuse.io import read_image
    from mmfuse.metrics import evaluate

    stems = json.loads((data / "split.json").read_text())[split]
    if limit:
        stems = stems[:limit]
    loaded = {m: _load_method(m, weights) for m in methods}
    per: dict[str, dict[str, dict[str, float]]] = {m: {} for m in methods}
    gates: dict[str, Any] = {}
    failed: list[tuple[str, str]] = []
    for stem in tqdm(stems, desc=f"{split} pairs", unit="pair"):
        try:
            ir = read_image(next((data / "ir").glob(stem + ".*")))
            vi = read_image(next((data / "vi").glob(stem + ".*")))
        except (StopIteration, MMFuseError) as err:
            failed.append((stem, f"cannot read pair ({err})"))
            continue
        for name, method in loaded.items():
            try:
                fused, info = method.fuse(ir, vi, return_info=True)
                per[name][stem] = evaluate(fused, ir, vi, profile="tang", metrics=METRICS)
                if name == "moefusion-small":
                    gates[stem] = info
            except MMFuseError as err:
                failed.append((f"{stem} [{name}]", str(err).splitlines()[0]))
    out: dict[str, Any] = {"split": split, "n": len(stems), "metrics": METRICS, "profile": "tang", "methods": {}, "gates": gates, "failed": failed}
    for name in methods:
        rows = list(per[name].values())
        mean = {k: float(np.nanmean([r[k] for r in rows])) if rows else float("nan") for k in METRICS}
        out["methods"][name] = {"mean": mean, "per_image": per[name]}
    return out


def markdown_table(result: dict[str, Any]) -> str:
    """Mean-metric table (higher is better for all eight) and win counts against the baselines."""
    methods = result["methods"]
    lines = ["| method | " + " | ".join(METRICS) + " |", "|---|" + "---|" * len(METRICS)]
    best = {k: max(m["mean"][k] for m in methods.values()) for k in METRICS}
    for name, m in methods.items():
        cells = []
        for k in METRICS:
            v = m["mean"][k]
            s = f"{v:.4f}" if abs(v) < 100 else f"{v:.2f}"
            cells.append(f"**{s}**" if v == best[k] else s)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    ours = methods.get("moefusion-small")
    if ours:
        lines.append("")
        for base in BASELINES:
            if base in methods:
                wins = [k for k in METRICS if ours["mean"][k] > methods[base]["mean"][k]]
                lines.append(f"- moefusion-small beats `{base}` on {len(wins)}/8: {', '.join(wins) or '-'}")
    return "\n".join(lines) + "\n"


def gate_table(result: dict[str, Any]) -> str:
    """Markdown: per expert, share of images selecting it and mean gate weight, FG / BG / MoGE."""
    gates = result.get("gates") or {}
    if not gates:
        return ""
    first = next(iter(gates.values()))["experts"]
    lines = ["| gate | expert | images selecting it | mean gate weight |", "|---|---|---|---|"]
    for part, label in (("fg", "foreground MoLE"), ("bg", "background MoLE"), ("global", "MoGE")):
        if part not in first:  # ablations without MoLE / MoGE
            continue
        for n in first[part]["weights"]:
            sel = np.mean([n in g["experts"][part]["selected"] for g in gates.values()])
            w = np.mean([g["experts"][part]["weights"][n] for g in gates.values()])
            lines.append(f"| {label} | {n} | {100 * sel:.0f} % | {w:.3f} |")
    fg = [g["attention"]["foreground_fraction"] for g in gates.values()]
    lines.append("")
    lines.append(f"Foreground fraction (Att > 0.5) over the {len(gates)} images: mean {np.mean(fg):.3f}, min {np.min(fg):.3f}, max {np.max(fg):.3f}.")
    return "\n".join(lines) + "\n"


def expert_usage_figure(result: dict[str, Any], data: Path, out: Path, examples: list[str], weights: str | None = None) -> None:
    """Bar charts of expert selection for FG / BG / global over the split, plus example images."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from mmfuse.io import read_image, rgb_to_ycbcr

    gates = result["gates"]
    if not gates or not all(p in next(iter(gates.values()))["experts"] for p in ("fg", "bg", "global")):
        print("expert-usage figure skipped: the model has no MoLE or no MoGE gates", file=sys.stderr)
        return
    names = {part: list(next(iter(gates.values()))["experts"][part]["weights"]) for part in ("fg", "bg", "global")}
    method = _load_method("moefusion-small", weights)
    net = method.network
    n_ex = len(examples)
    fig = plt.figure(figsize=(13, 3.0 * (n_ex + 1)))
    gs = fig.add_gridspec(n_ex + 1, 5, width_ratios=[1, 1, 1, 1, 1.3])
    # totals over the split
    titles = {"fg": "FG MoLE gate", "bg": "BG MoLE gate", "global": "MoGE gate"}
    for j, part in enumerate(("fg", "bg", "global")):
        ax = fig.add_subplot(gs[0, j if j < 2 else 2:4] if part == "global" else gs[0, j])
        counts = np.zeros(len(names[part]))
        weight = np.zeros(len(names[part]))
        for info in gates.values():
            counts += np.array([n in info["experts"][part]["selected"] for n in names[part]])
            weight += np.array([info["experts"][part]["weights"][n] for n in names[part]])
        colours = ["tab:green" if n.startswith("vis") else "tab:red" if n.startswith("ir") else "tab:blue" for n in names[part]]
        ax.bar(names[part], counts / len(gates), color=colours)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{titles[part]}:\nshare of the {len(gates)} images using each expert", fontsize=8)
        ax.tick_params(labelsize=8)
    ax = fig.add_subplot(gs[0, 4])
    fg_frac = [info["attention"]["foreground_fraction"] for info in gates.values()]
    ax.hist(fg_frac, bins=10, color="tab:orange")
    ax.set_title("foreground fraction (Att > 0.5)", fontsize=9)
    ax.tick_params(labelsize=8)
    for i, stem in enumerate(examples):
        ir = read_image(next((data / "ir").glob(stem + ".*")))
        vi = read_image(next((data / "vi").glob(stem + ".*")))
        fused, info = method.fuse(ir, vi, return_info=True)
        vy = rgb_to_ycbcr(vi)[..., 0] if vi.ndim == 3 else vi
        with torch.inference_mode():
            out_t = net(torch.from_numpy(np.ascontiguousarray(ir))[None, None], torch.from_numpy(np.ascontiguousarray(vy))[None, None])
        att = out_t["att"][0, 0].numpy()
        panels = [(ir, "infrared", "gray"), (vi, "visible", None), (att, "Att = max(Att_V, Att_I)", "magma"), (fused, "fused", None)]
        for j, (img, title, cmap) in enumerate(panels):
            ax = fig.add_subplot(gs[i + 1, j])
            ax.imshow(img, cmap=cmap, vmin=0, vmax=1)
            ax.set_title(f"{stem}: {title}" if j == 0 else title, fontsize=8)
            ax.axis("off")
        ax = fig.add_subplot(gs[i + 1, 4])
        xs = np.arange(len(names["fg"]))
        wf = [info["experts"]["fg"]["weights"][n] for n in names["fg"]]
        wb = [info["experts"]["bg"]["weights"][n] for n in names["bg"]]
        wg = [info["experts"]["global"]["weights"][n] for n in names["global"]]
        ax.bar(xs - 0.27, wf, 0.27, label="FG gate", color="tab:orange")
        ax.bar(xs, wb, 0.27, label="BG gate", color="tab:gray")
        ax.bar(xs + 0.27, wg, 0.27, label="MoGE gate", color="tab:blue")
        ax.set_xticks(xs, [f"{a}\n{b}" for a, b in zip(names["fg"], names["global"])], fontsize=7)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"gate weights (FG area {info['attention']['foreground_fraction']:.2f})", fontsize=8)
        if i == 0:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def train_curves(log_csv: Path, out: Path) -> None:
    """Plot the training loss terms and validation metrics of a run's ``log.csv``."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(log_csv.open()))
    train = [r for r in rows if r["kind"] == "train"]
    val = [r for r in rows if r["kind"] == "val"]
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))

    def series(rs: list[dict[str, str]], key: str) -> tuple[np.ndarray, np.ndarray]:
        pts = [(float(r["step"]), float(r[key])) for r in rs if r.get(key) not in (None, "")]
        a = np.array(pts) if pts else np.zeros((0, 2))
        return a[:, 0], a[:, 1]

    def smooth(y: np.ndarray, n: int = 25) -> np.ndarray:
        return np.convolve(y, np.ones(n) / n, mode="valid") if len(y) > n else y

    for key in ("total", "pixel", "gradient", "attention"):
        x, y = series(train, key)
        ys = smooth(y)
        axes[0].plot(x[len(x) - len(ys):], ys, label=key)
    axes[0].set_yscale("log")
    axes[0].set_title("training losses (moving average of 25 steps)")
    axes[0].set_xlabel("step")
    axes[0].legend(fontsize=8)
    for key in ("load_fg", "load_bg", "load_global"):
        x, y = series(train, key)
        ys = smooth(y)
        axes[1].plot(x[len(x) - len(ys):], ys, label=key)
    axes[1].set_title("load-balancing cv² (unweighted)")
    axes[1].set_xlabel("step")
    axes[1].legend(fontsize=8)
    for key in ("val_Qabf", "val_SSIM", "val_VIF", "val_SCD"):
        x, y = series(val, key)
        axes[2].plot(x, y, "o-", label=key[4:])
    axes[2].set_title("validation (RoadScene val split, tang profile)")
    axes[2].set_xlabel("step")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("/work/shared/data/ivif/roadscene"))
    p.add_argument("--split", default="test")
    p.add_argument("--out-dir", type=Path, default=Path("docs/img/moefusion"))
    p.add_argument("--methods", default=",".join(VARIANTS + BASELINES))
    p.add_argument("--weights", default=None, help="moefusion-small weights (default: the shipped file)")
    p.add_argument("--limit", type=int, default=None, help="only the first N pairs (smoke runs)")
    p.add_argument("--examples", default="FLIR_00455,FLIR_04722,FLIR_00594", help="test images shown in the figure")
    p.add_argument("--train-log", type=Path, default=None, help="a run's log.csv to plot")
    p.add_argument("--figures-only", action="store_true", help="re-draw figures from an existing eval JSON")
    p.add_argument("--reuse", action="store_true", help="keep the methods already in the eval JSON; compute only the others")
    args = p.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    if args.train_log:
        train_curves(args.train_log, args.out_dir / "train_curves.png")
    res_path = args.out_dir / f"eval_{args.split}.json"
    t0 = time.perf_counter()
    if args.figures_only:
        result = json.loads(res_path.read_text())
    else:
        methods = args.methods.split(",")
        old = json.loads(res_path.read_text()) if args.reuse and res_path.is_file() else None
        todo = [m for m in methods if not old or m not in old["methods"]]
        result = evaluate_split(args.data, args.split, todo, args.weights, args.limit)
        result["seconds"] = round(time.perf_counter() - t0, 1)
        if old:
            merged = {m: (result["methods"][m] if m in result["methods"] else old["methods"][m]) for m in methods}
            result["methods"] = merged
            result["gates"] = result["gates"] or old.get("gates", {})
            result["failed"] = old.get("failed", []) + result["failed"]
        res_path.write_text(json.dumps(result, indent=1))
        (args.out_dir / f"eval_{args.split}.md").write_text(markdown_table(result) + "\n" + gate_table(result))
        (args.out_dir / f"gates_{args.split}.json").write_text(json.dumps(result["gates"], indent=1))
    print(markdown_table(result))
    print(gate_table(result))
    if "moefusion-small" in result["methods"]:
        expert_usage_figure(result, args.data, args.out_dir / "expert_usage.png", [s for s in args.examples.split(",") if s], args.weights)
    for item, msg in result["failed"]:
        print(f"failed: {item}: {msg}", file=sys.stderr)
    return 1 if result["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
