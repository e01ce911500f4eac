"""Export a run's weights as one self-describing safetensors file.

The result is what :func:`mmfuse.load` ``(name, weights=FILE)`` and
``mmfuse fuse --method NAME --weights FILE`` read: the model's ``state_dict`` (the EMA weights
when a stage with ``ema`` was still running at the last checkpoint; after a stage with EMA ends,
its averaged weights already are the model's) and the metadata ``mmfuse_config`` =
``{"arch", "arch_kwargs", "method", "train_steps", "total_steps", "stage", "ema", "config",
"mmfuse_version"}``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mmfuse.errors import InputError, OutputExistsError
from mmfuse.models.base import save_weights_file
from mmfuse.train import checkpoint as ckpt_io
from mmfuse.train.config import config_to_dict, load_config

__all__ = ["export_run"]


def export_run(run_dir: str | os.PathLike, output: str | os.PathLike, *, overwrite: bool = False) -> dict[str, Any]:
    """Write the weights of a run folder's last checkpoint to ``output``.

    Args:
        run_dir: a run folder written by :func:`mmfuse.train.train`.
        output: destination ``.safetensors`` file (written atomically).
        overwrite: replace an existing ``output``.

    Returns:
        The metadata written (see the module docstring) plus ``"path"``.

    Raises:
        InputError: not a run folder, or no checkpoint yet.
        OutputExistsError: ``output`` exists and ``overwrite`` is false.
    """
    from mmfuse import __version__

    run = Path(run_dir)
    cfg_file = run / "config.yaml"
    if not cfg_file.is_file():
        raise InputError(f"{run}: not a run folder (no config.yaml)")
    out = Path(output)
    if out.is_dir():
        raise InputError(f"{out}: is a folder; give a file name such as model.safetensors")
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out}: output file exists (use --overwrite to replace it)")
    cfg = load_config(cfg_file)
    ck = ckpt_io.load_checkpoint(run)
    use_ema = ck.ema_weights is not None
    weights = ck.ema_weights if use_ema else ck.weights
    meta: dict[str, Any] = {
        "arch": cfg.arch,
        "arch_kwargs": cfg.arch_kwargs,
        "method": cfg.method or cfg.arch,
        "train_steps": ck.step,
        "total_steps": cfg.total_steps,
        "stage": ck.state.get("stage"),
        "ema": use_ema,
        "config": config_to_dict(cfg),
        "mmfuse_version": __version__,
    }
    save_weights_file(out, weights, meta)  # type: ignore[arg-type]
    return {**meta, "path": str(out)}
