"""The ``mmfuse`` command line: a thin layer over the Python API.

Each command parses its options and calls one library function. User errors
(:class:`mmfuse.errors.MMFuseError`) become one line ``error: <message>`` on stderr and exit
code 2; batch commands that skipped failed items exit with 1.
"""
from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from rich.console import Console
from rich.table import Table

from mmfuse.errors import InputError, MMFuseError

app = typer.Typer(
    name="mmfuse",
    help="All-in-one degraded infrared-visible image fusion: fuse, degrade, evaluate, train, benchmark.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
console = Console()
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> None:
    """Print ``error: message`` on stderr (one line) and exit with ``code``."""
    err_console.print(f"error: {message}", markup=False)
    raise typer.Exit(code)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn mmfuse's user errors into a one-line message and exit code 2 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MMFuseError as err:
            fail(str(err).splitlines()[0] if str(err) else type(err).__name__)
        except KeyboardInterrupt:
            err_console.print("interrupted", markup=False)
            raise typer.Exit(130) from None

    return wrapper


def _print_failures(failed: list[tuple[str, str]], unmatched: list[str]) -> None:
    for line in unmatched:
        err_console.print(f"warning: {line}", markup=False)
    if failed:
        err_console.print(f"{len(failed)} failed:", markup=False)
        for name, msg in failed:
            err_console.print(f"  {name}: {msg}", markup=False)


@app.command()
@handle_errors
def fuse(
    ir: Optional[Path] = typer.Argument(None, help="Infrared image file.", show_default=False),
    vis: Optional[Path] = typer.Argument(None, help="Visible image file.", show_default=False),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Fused image file (PNG)."),
    input_dir: Optional[Path] = typer.Option(None, "--input-dir", help="Folder with ir/ + vi/ sub-folders (batch mode)."),
    output_dir: Optional[Path] = typer.Option(None, "--output-dir", help="Folder for fused images (batch mode)."),
    method: str = typer.Option("default", "--method", "-m", help="Fusion method (see `mmfuse methods`)."),
    weights: Optional[Path] = typer.Option(None, "--weights", help="Weights file for a learned method."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:N or mps."),
    self_ensemble: Optional[int] = typer.Option(
        None,
        "--self-ensemble",
        help="Learned methods: average over 1, 2 or 4 mirrored copies of the pair (default: the method's own; 1 is fastest).",
        show_default=False,
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
    gray: bool = typer.Option(False, "--gray", help="Save the fused luminance only."),
    resize: bool = typer.Option(False, "--resize", help="Resize infrared to the visible size if they differ."),
    bits: int = typer.Option(8, "--bits", help="Bits per channel of the output PNG (8 or 16)."),
    report: bool = typer.Option(False, "--report", help="Print what the method saw (e.g. a gated model's degradation estimate)."),
    report_json: Optional[Path] = typer.Option(None, "--report-json", help="Write the per-image report as JSON."),
) -> None:
    """Fuse an infrared and a visible image (or every pair of a folder)."""
    from mmfuse.api import fuse_file, fuse_folder
    from mmfuse.io import check_writable
    from mmfuse.models.registry import load

    if bits not in (8, 16):
        raise InputError(f"--bits must be 8 or 16, got {bits}")
    batch = input_dir is not None or output_dir is not None
    if batch:
        if ir is not None or vis is not None or output is not None:
            raise InputError("give either IR VIS -o OUT, or --input-dir DIR --output-dir DIR, not both")
        if input_dir is None or output_dir is None:
            raise InputError("batch mode needs both --input-dir and --output-dir")
    elif ir is None or vis is None or output is None:
        raise InputError("give IR and VIS image files and -o OUTPUT (or --input-dir and --output-dir)")
    if report_json is not None:
        check_writable(report_json, overwrite=overwrite)

    if not batch:
        for p, what in ((ir, "infrared"), (vis, "visible")):
            if not p.exists():
                raise InputError(f"{p}: {what} image not found")
        check_writable(output, overwrite=overwrite)
    fuser = load(method, weights=weights, device=device, self_ensemble=self_ensemble)

    if not batch:
        info = fuse_file(ir, vis, output, fuser, overwrite=overwrite, resize=resize, gray=gray, bits=bits)
        infos = {Path(ir).stem: info}
        console.print(f"fused [{fuser.name}] -> {output}", markup=False, highlight=False)
        failed: list[tuple[str, str]] = []
    else:
        res = fuse_folder(input_dir, output_dir, fuser, overwrite=overwrite, resize=resize, gray=gray, bits=bits)
        infos, failed = res.infos, res.failed
        _print_failures(res.failed, res.unmatched)
        console.print(
            f"fused {len(res.written)} pair(s) with {fuser.name} -> {output_dir}"
            + (f"; {len(res.failed)} failed" if res.failed else ""),
            markup=False,
            highlight=False,
        )
    if report:
        _print_report(infos)
    if report_json is not None:
        from mmfuse.io.atomic import write_text

        write_text(report_json, json.dumps(infos, indent=2, default=str) + "\n", overwrite=overwrite)
    if failed:
        raise typer.Exit(1)


def _print_report(infos: dict[str, dict[str, Any]]) -> None:
    for name, info in infos.items():
        extra = {k: v for k, v in info.items() if k not in ("method", "output")}
        if not extra:
            console.print(f"{name}: {info.get('method')}: no report for this method", markup=False, highlight=False)
            continue
        console.print(f"{name}:", markup=False, highlight=False)
        for key, value in extra.items():
            text = json.dumps(value, default=str) if not isinstance(value, str) else value
            console.print(f"  {key}: {text}", markup=False, highlight=False, soft_wrap=True)


@app.command()
@handle_errors
def methods() -> None:
    """List the fusion methods: name, kind, default marker, bundled weights, network passes per pair."""
    from mmfuse.models.registry import describe, list_families, list_methods

    table = Table(title="mmfuse methods")
    for col in ("name", "kind", "default", "weights", "passes", "description"):
        table.add_column(col)
    for spec in list_methods():
        row = describe(spec)
        passes = str(row["self_ensemble"]) if row["kind"] == "learned" else "-"
        table.add_row(row["name"], row["kind"], "*" if row["default"] else "", row["weights"], passes, row["description"])
    for prefix, help_text in list_families().items():
        table.add_row(prefix + "...", "family", "", "-", "-", help_text)
    console.print(table)


# --- subsystem commands (degrade, eval, train, export, bench) are added below this line ---
@app.command()
@handle_errors
def degrade(
    preset: Optional[str] = typer.Option(None, "--preset", "-p", help="Preset name (see --list) or a preset YAML file (default: demmi-rf)."),
    input_dir: Optional[Path] = typer.Option(None, "--input-dir", help="Folder of clean pairs (ir/ + vi/)."),
    output_dir: Optional[Path] = typer.Option(None, "--output-dir", help="Benchmark folder to create (must be empty)."),
    seed: int = typer.Option(0, "--seed", help="Global seed; the same seed gives byte-identical files."),
    settings: Optional[str] = typer.Option(None, "--settings", help="Comma-separated subset, e.g. noise25,stripe."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into a non-empty output folder."),
    list_presets: bool = typer.Option(False, "--list", help="List the presets and their settings (with --preset: one preset in detail)."),
) -> None:
    """Build a degraded benchmark (<setting>/{ir,vi,ir_clean,vi_clean}/ + manifest.json) from clean pairs."""
    from rich.text import Text

    from mmfuse.degrade import build_benchmark, list_presets as names, load_preset

    if list_presets:
        if preset is None:
            table = Table(title="mmfuse degradation presets")
            for col in ("preset", "settings", "names (label order)"):
                table.add_column(col)
            for name in names():
                p = load_preset(name)
                table.add_row(name, str(len(p.settings)), ", ".join(p.names))
        else:
            p = load_preset(preset)
            table = Table(title=f"preset {p.name}", caption=Text(p.description))
            for col in ("label", "setting", "visible chain", "infrared chain"):
                table.add_column(col)
            for i, s in enumerate(p.settings):
                table.add_row(str(i), s.name, s.vis_chain or "-", s.ir_chain or "-")
            steps = Table(title="steps")
            for col in ("step", "operator and parameters", "source"):
                steps.add_column(col)
            for token, step in p.steps.items():
                steps.add_row(Text(token), Text(step.describe()), Text(step.source))
            console.print(table)
            table = steps
        console.print(table)
        return
    if input_dir is None or output_dir is None:
        raise InputError("give --input-dir CLEAN and --output-dir BENCH (or --list)")
    res = build_benchmark(input_dir, output_dir, preset or "demmi-rf", seed=seed, settings=settings, overwrite=overwrite)
    _print_failures(res.failed, res.unmatched)
    for line in res.lines():
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    if res.failed:
        raise typer.Exit(1)


@app.command("train")
@handle_errors
def train_cmd(
    config: Optional[Path] = typer.Argument(None, help="Training config (YAML); optional with --resume.", show_default=False),
    overrides: Optional[list[str]] = typer.Option(None, "--set", help="Override a config key, KEY=VALUE (YAML value; repeatable)."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue an interrupted run folder."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default: the config's output_dir)."),
) -> None:
    """Train a model from a YAML config (several processes: torchrun --nproc_per_node N -m mmfuse.train CONFIG)."""
    if config is None and resume is None:
        raise InputError("give a CONFIG file, or --resume RUN_DIR to continue a run")
    from mmfuse.train import train

    res = train(config, list(overrides or []), resume=resume, out=out)
    loss = res.last_losses.get("total")
    val = ", ".join(f"{k[4:]} {v:.4g}" for k, v in res.last_val.items() if k != "val_total")
    console.print(
        f"trained {res.step}/{res.total_steps} steps in {res.seconds:.1f} s ({res.samples_per_s:.1f} samples/s)"
        + (f"; final loss {loss:.4g}" if loss is not None else "")
        + (f"; validation: {val}" if val else "")
        + f"; run: {res.run_dir}",
        markup=False,
        highlight=False,
    )


@app.command("export")
@handle_errors
def export_cmd(
    run_dir: Path = typer.Argument(..., help="Run folder written by `mmfuse train`.", show_default=False),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Weights file to write (.safetensors)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
) -> None:
    """Export a run's weights for `mmfuse fuse --method NAME --weights FILE` and mmfuse.load()."""
    if output is None:
        raise InputError("give the weights file to write with -o FILE")
    from mmfuse.train import export_run

    meta = export_run(run_dir, output, overwrite=overwrite)
    note = "" if meta["train_steps"] >= meta["total_steps"] else f" (run incomplete: step {meta['train_steps']} of {meta['total_steps']})"
    console.print(
        f"exported {meta['method']} ({meta['arch']}, {meta['train_steps']} steps{', EMA' if meta['ema'] else ''}) -> {output}{note}",
        markup=False,
        highlight=False,
    )


@app.command("bench")
@handle_errors
def bench_cmd(
    bench_dir: Path = typer.Argument(..., help="Benchmark folder written by `mmfuse degrade` (or a plain ir/ + vi/ folder).", show_default=False),
    methods: str = typer.Option(..., "--methods", "-m", help="Comma-separated methods, e.g. gff,cascade:auto+gff."),
    output_dir: Path = typer.Option(..., "-o", "--output-dir", help="Report folder (results.csv, summary.csv, report.html)."),
    profile: str = typer.Option("tang", "--profile", help="Metric convention profile: mmfuse, vifb, tang, cddfuse."),
    metrics: Optional[str] = typer.Option(None, "--metrics", help="Comma-separated metrics (default: the profile's set)."),
    settings: Optional[str] = typer.Option(None, "--settings", help="Comma-separated subset of settings."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Recompute items already done."),
    workers: int = typer.Option(1, "--workers", help="Worker processes (0: run in this process, no memory figures)."),
    device: str = typer.Option("cpu", "--device", help="Device for learned methods."),
    examples: int = typer.Option(1, "--examples", help="Example pairs per setting in the report's image grid."),
    paired: Optional[str] = typer.Option(None, "--paired", help="One of the methods: add its paired comparison with every other method (95% bootstrap interval per metric; paired.csv)."),
) -> None:
    """Run methods on every pair of every setting of a benchmark; write tables, plots and an HTML report (resumable)."""
    from mmfuse.bench import run_benchmark

    res = run_benchmark(bench_dir, methods, output_dir, profile=profile, metrics=metrics, settings=settings,
                        overwrite=overwrite, workers=workers, device=device, examples=examples, paired=paired)
    for line in res.problems:
        err_console.print(f"warning: {line}", markup=False)
    if res.failed:
        err_console.print(f"{len(res.failed)} failed:", markup=False)
        for s, m, n, msg in res.failed:
            err_console.print(f"  {s} / {m} / {n}: {msg}", markup=False)
    for line in res.lines():
        console.print(line, markup=False, highlight=False)
    if res.failed:
        raise typer.Exit(1)


@app.command("eval")
@handle_errors
def eval_cmd(
    fused: Path = typer.Option(..., "--fused", help="Folder of fused images.", show_default=False),
    ir: Path = typer.Option(..., "--ir", help="Folder of infrared inputs (paired with the fused images by file name).", show_default=False),
    vi: Path = typer.Option(..., "--vi", help="Folder of visible inputs.", show_default=False),
    ir_ref: Optional[Path] = typer.Option(None, "--ir-ref", help="Clean infrared references (degraded fusion): reference-based metrics use them."),
    vi_ref: Optional[Path] = typer.Option(None, "--vi-ref", help="Clean visible references (degraded fusion)."),
    profile: str = typer.Option("mmfuse", "--profile", help="Metric conventions: mmfuse, vifb, tang, cddfuse (see docs/metrics.md)."),
    metrics: Optional[str] = typer.Option(None, "--metrics", help="Comma-separated metrics, or 'all' (default: the profile's set)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="CSV to write: name + one column per metric (and a .json sidecar)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing CSV."),
) -> None:
    """Score fused images against their sources (paired by file name); print the mean of each metric."""
    from mmfuse.metrics import evaluate_folders

    res = evaluate_folders(fused, ir, vi, ir_ref, vi_ref, profile=profile, metrics=metrics, output_csv=output, overwrite=overwrite)
    _print_failures(res.failures, [])
    refs = ", ".join(f"{k}={v}" for k, v in res.references.items())
    console.print(f"mean of {len(res.rows)} image(s), profile {res.profile}, references {refs}", markup=False, highlight=False)
    table = Table()
    table.add_column("metric")
    table.add_column("mean", justify="right")
    for name in res.metrics:
        table.add_row(name, f"{res.mean[name]:.6g}")
    console.print(table)
    if output is not None:
        console.print(f"wrote {output} and {output}.json", markup=False, highlight=False)
    if res.failures:
        raise typer.Exit(1)


# --- end of subsystem commands ---


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
