"""Reading a benchmark folder: settings, pairs, clean references, manifest; output paths.

A benchmark folder is what :func:`mmfuse.degrade.build_benchmark` (``mmfuse degrade``) writes::

    BENCH/<setting>/ir/NAME.png        degraded infrared input
    BENCH/<setting>/vi/NAME.png        degraded visible input
    BENCH/<setting>/ir_clean/NAME.png  clean infrared reference (optional)
    BENCH/<setting>/vi_clean/NAME.png  clean visible reference (optional)
    BENCH/manifest.json                per-file operator chains (optional)

A plain pair folder (``BENCH/ir`` + ``BENCH/vi``, or the other names of
:data:`mmfuse.io.MODALITY_FOLDERS`, e.g. VIFB's ``IR``/``VI``) is read as a single setting
named ``clean`` without references (metrics then compare with the inputs).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmfuse.errors import InputError
from mmfuse.io import find_modality_dirs, find_pairs, list_images

__all__ = ["BenchItem", "Benchmark", "discover_benchmark", "safe_method_name", "OutputLayout"]

MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class BenchItem:
    """One pair of one setting.

    Attributes:
        setting: setting name (folder name).
        name: image stem.
        ir, vi: degraded inputs.
        ir_clean, vi_clean: clean references (``None`` when the benchmark has none).
    """

    setting: str
    name: str
    ir: Path
    vi: Path
    ir_clean: Path | None = None
    vi_clean: Path | None = None


@dataclass
class Benchmark:
    """A discovered benchmark.

    Attributes:
        root: the benchmark folder.
        settings: setting names in order (manifest order when there is a manifest).
        items: setting → its pairs, sorted by name.
        manifest: parsed ``manifest.json`` or ``None``.
        problems: one line per file that could not be used (unmatched, missing reference).
    """

    root: Path
    settings: list[str]
    items: dict[str, list[BenchItem]]
    manifest: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def n_pairs(self) -> int:
        return sum(len(v) for v in self.items.values())


def _stem_index(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in list_images(folder)}


def _is_setting_dir(d: Path) -> bool:
    try:
        find_modality_dirs(d)
    except InputError:
        return False
    return True


def discover_benchmark(root: str | os.PathLike, settings: list[str] | None = None) -> Benchmark:
    """Find the settings and pairs of a benchmark folder.

    Args:
        root: benchmark folder (see the module docstring).
        settings: names of the settings to keep (default: all), in the order wanted.

    Returns:
        The :class:`Benchmark`.

    Raises:
        InputError: missing folder, no setting with pairs, an unknown setting name, or an
            unreadable ``manifest.json``.
    """
    root_p = Path(root)
    if not root_p.is_dir():
        raise InputError(f"{root_p}: benchmark folder not found")
    manifest = None
    mpath = root_p / MANIFEST_NAME
    if mpath.is_file():
        try:
            manifest = json.loads(mpath.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise InputError(f"{mpath}: cannot read benchmark manifest ({str(err).splitlines()[0]})") from None
        if not isinstance(manifest, dict):
            raise InputError(f"{mpath}: benchmark manifest is not a JSON object")
    problems: list[str] = []
    if _is_setting_dir(root_p) and not any(_is_setting_dir(d) for d in root_p.iterdir() if d.is_dir()):
        ps = find_pairs(root_p)
        problems += ps.problems()
        items = {"clean": [BenchItem("clean", p.name, p.ir, p.vi) for p in ps.pairs]}
        found = ["clean"]
    else:
        dirs = {d.name: d for d in sorted(root_p.iterdir()) if d.is_dir() and _is_setting_dir(d)}
        order = [s["name"] for s in (manifest or {}).get("settings", []) if isinstance(s, dict) and s.get("name") in dirs]
        rest = sorted(n for n in dirs if n not in order)
        found = order + sorted(rest, key=lambda n: (n != "clean", n))
        items = {}
        for sname in found:
            d = dirs[sname]
            try:
                ps = find_pairs(d)
            except InputError as err:
                problems.append(str(err))
                continue
            problems += ps.problems()
            ir_ref, vi_ref = _stem_index(d / "ir_clean"), _stem_index(d / "vi_clean")
            has_refs = bool(ir_ref or vi_ref)
            lst = []
            for p in ps.pairs:
                if has_refs and (p.name not in ir_ref or p.name not in vi_ref):
                    problems.append(f"{d}: {p.name}: clean reference missing in ir_clean/ or vi_clean/; pair skipped")
                    continue
                lst.append(BenchItem(sname, p.name, p.ir, p.vi, ir_ref.get(p.name), vi_ref.get(p.name)))
            if lst:
                items[sname] = lst
        found = [s for s in found if s in items]
    if not found:
        raise InputError(f"{root_p}: no benchmark settings found (expected <setting>/ir/ + <setting>/vi/ folders, "
                         "as written by `mmfuse degrade`)")
    if settings:
        unknown = [s for s in settings if s not in items]
        if unknown:
            raise InputError(f"unknown setting {unknown[0]!r} in {root_p} (known: {', '.join(found)})")
        found = list(dict.fromkeys(settings))
    return Benchmark(root_p, found, {s: items[s] for s in found}, manifest, problems)


_UNSAFE = re.compile(r"[^A-Za-z0-9._+@-]")


def safe_method_name(name: str) -> str:
    """A method name usable as a folder name: ``cascade:auto+gff`` → ``cascade_auto+gff``."""
    return _UNSAFE.sub("_", name)


@dataclass(frozen=True)
class OutputLayout:
    """Where the runner writes inside ``REPORT_DIR``.

    ``fused/<setting>/<method>/<name>.png`` (fused images), ``records/<setting>/<method>/<name>.json``
    (per-item metrics and timing, the resumable state), ``results.csv``, ``summary.csv``,
    ``paired.csv`` (with ``paired``), ``report.html``, ``thumbs/`` and ``plots/`` (pictures of the report).
    """

    root: Path

    def fused(self, setting: str, method: str, name: str) -> Path:
        return self.root / "fused" / setting / safe_method_name(method) / f"{name}.png"

    def record(self, setting: str, method: str, name: str) -> Path:
        return self.root / "records" / setting / safe_method_name(method) / f"{name}.json"

    @property
    def results_csv(self) -> Path:
        return self.root / "results.csv"

    @property
    def summary_csv(self) -> Path:
        return self.root / "summary.csv"

    @property
    def paired_csv(self) -> Path:
        return self.root / "paired.csv"

    @property
    def report_html(self) -> Path:
        return self.root / "report.html"

    @property
    def thumbs(self) -> Path:
        return self.root / "thumbs"

    @property
    def plots(self) -> Path:
        return self.root / "plots"
