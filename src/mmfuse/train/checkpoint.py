"""Checkpoints: weights as safetensors, optimizer/scheduler/RNG state as a weights-only ``.pt`` file.

A run folder's ``checkpoints/`` holds

``last.safetensors``
    the model's ``state_dict`` (:func:`mmfuse.models.base.save_weights_file`; the metadata names
    the architecture, its arguments and the step);
``last_ema.safetensors``
    the exponential moving average of the weights, while a stage with ``ema`` runs;
``last_state.pt``
    everything else needed to continue exactly: step, stage, optimizer and scheduler state,
    EMA counter, the random-generator states of every rank, elapsed time. It contains only
    tensors and plain Python containers, so it loads with ``torch.load(weights_only=True)``:
    no pickle code runs;
``<stage>.safetensors``
    the weights at the end of each stage (e.g. TG-ECNet's stage-1 restorer).

Every file is written to a temporary name in the same folder and renamed (``os.replace``), so
a killed process leaves either the previous or the new file, never a partial one. The state
file is renamed last and records the step; :func:`load_checkpoint` checks that the weight
files carry the same step.
"""
from __future__ import annotations

import os
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmfuse.errors import InputError
from mmfuse.models.base import load_weights_file, save_weights_file

__all__ = [
    "CHECKPOINT_DIR",
    "Checkpoint",
    "rng_state",
    "set_rng_state",
    "save_checkpoint",
    "load_checkpoint",
    "has_checkpoint",
    "save_stage_weights",
]

CHECKPOINT_DIR = "checkpoints"
WEIGHTS = "last.safetensors"
EMA_WEIGHTS = "last_ema.safetensors"
STATE = "last_state.pt"


@dataclass
class Checkpoint:
    """A loaded checkpoint.

    Attributes:
        weights: model ``state_dict``.
        ema_weights: EMA ``state_dict`` (``None`` when no EMA was active).
        meta: weights-file metadata (arch, arch_kwargs, step, ...).
        state: the training state (see the module docstring).
    """

    weights: dict[str, torch.Tensor]
    ema_weights: dict[str, torch.Tensor] | None
    meta: dict[str, Any]
    state: dict[str, Any]

    @property
    def step(self) -> int:
        return int(self.state["step"])


def rng_state() -> dict[str, Any]:
    """The states of Python's, numpy's and torch's global generators, as tensors and plain containers."""
    np_state = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "python": [py_version, list(py_internal), py_gauss],
        "numpy": {
            "key": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64).copy()),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore generator states captured by :func:`rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _atomic_torch_save(obj: Any, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(
    run_dir: str | os.PathLike,
    weights: dict[str, torch.Tensor],
    meta: dict[str, Any],
    state: dict[str, Any],
    ema_weights: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write ``checkpoints/last.*`` atomically (weights first, state last).

    Args:
        run_dir: run folder.
        weights: model ``state_dict``.
        meta: weights metadata; must contain ``arch`` and ``arch_kwargs``.
        state: training state with at least ``"step"``; plain containers and tensors only.
        ema_weights: EMA ``state_dict``, or ``None``.

    Returns:
        The checkpoint folder.
    """
    ckpt = Path(run_dir) / CHECKPOINT_DIR
    ckpt.mkdir(parents=True, exist_ok=True)
    step = int(state["step"])
    meta = {**meta, "step": step}
    save_weights_file(ckpt / WEIGHTS, weights, meta)
    if ema_weights is not None:
        save_weights_file(ckpt / EMA_WEIGHTS, ema_weights, {**meta, "ema": True})
    state = {**state, "has_ema": ema_weights is not None}
    _atomic_torch_save(state, ckpt / STATE)
    if ema_weights is None:
        (ckpt / EMA_WEIGHTS).unlink(missing_ok=True)
    return ckpt


def has_checkpoint(run_dir: str | os.PathLike) -> bool:
    """True if ``run_dir`` holds a resumable checkpoint."""
    ckpt = Path(run_dir) / CHECKPOINT_DIR
    return (ckpt / STATE).is_file() and (ckpt / WEIGHTS).is_file()


def load_checkpoint(run_dir: str | os.PathLike, device: str | torch.device = "cpu") -> Checkpoint:
    """Read ``checkpoints/last.*`` of a run folder.

    The state file is read with ``torch.load(weights_only=True)``; weights come from
    safetensors files.

    Raises:
        InputError: no checkpoint, an unreadable file, or weight and state files from
            different steps.
    """
    ckpt = Path(run_dir) / CHECKPOINT_DIR
    if not has_checkpoint(run_dir):
        raise InputError(f"{ckpt}: no checkpoint to resume from (expected {WEIGHTS} and {STATE})")
    try:
        state = torch.load(ckpt / STATE, map_location=device, weights_only=True)
    except Exception as err:  # noqa: BLE001 - any failure means the file cannot be used
        raise InputError(f"{ckpt / STATE}: cannot read training state ({str(err).splitlines()[0]})") from None
    if not isinstance(state, dict) or "step" not in state:
        raise InputError(f"{ckpt / STATE}: not a training-state file")
    weights, meta = load_weights_file(ckpt / WEIGHTS, device=str(device))
    if int(meta.get("step", -1)) != int(state["step"]):
        raise InputError(
            f"{ckpt}: {WEIGHTS} (step {meta.get('step')}) and {STATE} (step {state['step']}) do not match; "
            "the run was interrupted while writing a checkpoint"
        )
    ema = None
    if state.get("has_ema"):
        ema, ema_meta = load_weights_file(ckpt / EMA_WEIGHTS, device=str(device))
        if int(ema_meta.get("step", -1)) != int(state["step"]):
            raise InputError(f"{ckpt}: {EMA_WEIGHTS} is from step {ema_meta.get('step')}, not {state['step']}")
    return Checkpoint(weights=weights, ema_weights=ema, meta=meta, state=state)


def save_stage_weights(run_dir: str | os.PathLike, stage: str, weights: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Write ``checkpoints/<stage>.safetensors`` (the weights at the end of a stage)."""
    return save_weights_file(Path(run_dir) / CHECKPOINT_DIR / f"{stage}.safetensors", weights, meta)
