"""Atomic file writing: write to a temporary file in the destination folder, then rename.

A crash or an error never leaves a partial file under the final name, and an existing file is
only replaced when ``overwrite`` is true.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from mmfuse.errors import OutputExistsError

__all__ = ["write_bytes", "write_text"]


def write_bytes(path: str | os.PathLike, data: bytes, *, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (parent folders are created).

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is false.
    """
    p = Path(path)
    if p.exists() and not overwrite:
        raise OutputExistsError(f"{p}: output file exists (use --overwrite to replace it)")
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        if p.exists() and not overwrite:
            raise OutputExistsError(f"{p}: output file exists (use --overwrite to replace it)")
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


def write_text(path: str | os.PathLike, text: str, *, overwrite: bool = False) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`write_bytes`)."""
    return write_bytes(path, text.encode("utf-8"), overwrite=overwrite)
