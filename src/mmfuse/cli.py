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
    fuser = load(method, weights=weights, device=device)

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
            console.print(f"  {key}: {text}", markup=False, highlight=False)


@app.command()
@handle_errors
def methods() -> None:
    """List the fusion methods: name, kind, default marker, bundled weights."""
    from mmfuse.models.registry import describe, list_families, list_methods

    table = Table(title="mmfuse methods")
    for col in ("name", "kind", "default", "weights", "description"):
        table.add_column(col)
    for spec in list_methods():
        row = describe(spec)
        table.add_row(row["name"], row["kind"], "*" if row["default"] else "", row["weights"], row["description"])
    for prefix, help_text in list_families().items():
        table.add_row(prefix + "...", "family", "", "-", help_text)
    console.print(table)


# --- subsystem commands (degrade, eval, train, export, bench) are added below this line ---
# --- end of subsystem commands ---


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
