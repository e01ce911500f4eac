"""Run logging: ``log.csv`` (always) and TensorBoard (when installed and enabled).

``log.csv`` has one row per logged training step (``kind = train``) and one per validation
(``kind = val``). Columns: ``kind, step, stage, wall_time`` (seconds since the run started,
continued across resumes), then ``lr``, ``samples_per_s``, ``grad_norm`` and one column per loss
term for training rows, ``val_<term>`` / ``val_<metric>`` for validation rows. A new column
(e.g. the loss terms of a second stage) rewrites the file with the widened header, so the file
is always a valid rectangular CSV readable by ``csv.DictReader`` or pandas.

On resume, rows after the checkpoint's step are dropped: those steps are trained again.
"""
from __future__ import annotations

import csv
import importlib.util
import io
import os
from pathlib import Path
from typing import Any

from mmfuse.errors import ConfigError

__all__ = ["RunLogger", "read_log"]

_FIXED = ["kind", "step", "stage", "wall_time"]


def read_log(path: str | os.PathLike) -> list[dict[str, str]]:
    """Rows of a ``log.csv`` as dicts of strings (empty cells are ``""``)."""
    p = Path(path)
    if not p.is_file():
        return []
    with p.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.7g}"
    return str(v)


class RunLogger:
    """Append rows to ``log.csv`` and mirror numbers to TensorBoard.

    Args:
        run_dir: run folder.
        tensorboard: ``"auto"``, ``"true"`` or ``"false"`` (the config's ``log.tensorboard``).
        resume_step: keep only rows with ``step <= resume_step`` of an existing log (``None``:
            start a new log).
        enabled: ``False`` on non-zero ranks (nothing is written).

    Raises:
        ConfigError: ``tensorboard: true`` but the ``tensorboard`` package is not installed.
    """

    def __init__(self, run_dir: str | os.PathLike, *, tensorboard: str = "auto", resume_step: int | None = None, enabled: bool = True) -> None:
        self.path = Path(run_dir) / "log.csv"
        self.enabled = enabled
        self.columns: list[str] = list(_FIXED)
        self._tb = None
        if not enabled:
            return
        rows = read_log(self.path) if resume_step is not None else []
        rows = [r for r in rows if r.get("step", "").isdigit() and int(r["step"]) <= int(resume_step or 0)]
        if rows:
            for r in rows:
                for k in r:
                    if k not in self.columns:
                        self.columns.append(k)
        self._rewrite(rows)
        have_tb = importlib.util.find_spec("tensorboard") is not None
        if tensorboard == "true" and not have_tb:
            raise ConfigError("log.tensorboard: true, but the tensorboard package is not installed (pip install tensorboard)")
        if tensorboard == "true" or (tensorboard == "auto" and have_tb):
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(Path(run_dir) / "tensorboard"), purge_step=resume_step)

    def _rewrite(self, rows: list[dict[str, Any]]) -> None:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=self.columns, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: _fmt(r.get(k)) for k in self.columns})
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(buf.getvalue(), encoding="utf-8")
        os.replace(tmp, self.path)

    def log(self, kind: str, step: int, stage: str, wall_time: float, values: dict[str, float]) -> None:
        """Append one row (``kind`` is ``"train"`` or ``"val"``)."""
        if not self.enabled:
            return
        row: dict[str, Any] = {"kind": kind, "step": step, "stage": stage, "wall_time": round(wall_time, 3), **values}
        new = [k for k in row if k not in self.columns]
        if new:
            self.columns.extend(new)
            self._rewrite(read_log(self.path))
        with self.path.open("a", newline="", encoding="utf-8") as fh:
            csv.DictWriter(fh, fieldnames=self.columns, extrasaction="ignore", lineterminator="\n").writerow(
                {k: _fmt(row.get(k)) for k in self.columns}
            )
        if self._tb is not None:
            for k, v in values.items():
                if isinstance(v, (int, float)):
                    self._tb.add_scalar(f"{kind}/{k}", v, step)

    def close(self) -> None:
        """Flush and close TensorBoard."""
        if self._tb is not None:
            self._tb.close()
            self._tb = None
