"""Cheap shape checks shared by the blocks of :mod:`mmfuse.nn` and :mod:`mmfuse.losses`.

Every check raises :class:`mmfuse.errors.ShapeError` with a one-line message that names the
block, the argument and the shape it received. Messages are formatted only on failure.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from mmfuse.errors import ShapeError

__all__ = ["check_feature_map", "check_tokens", "check_same_spatial", "check_divisible"]


def _fmt(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ")"


def check_feature_map(x: torch.Tensor, where: str, channels: int | None = None, name: str = "input") -> None:
    """Check that ``x`` is a ``(B, C, H, W)`` tensor, optionally with ``C == channels``.

    Args:
        x: tensor to check.
        where: name of the calling block, used in the message.
        channels: expected channel count, or ``None`` to accept any.
        name: name of the argument, used in the message.

    Raises:
        ShapeError: if ``x`` is not 4-D or has the wrong channel count.
    """
    if not isinstance(x, torch.Tensor):
        raise ShapeError(f"{where}: {name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4:
        raise ShapeError(f"{where}: {name} must have shape (B, C, H, W), got {_fmt(x.shape)}")
    if channels is not None and x.shape[1] != channels:
        raise ShapeError(
            f"{where}: {name} must have {channels} channels, got shape {_fmt(x.shape)}"
        )


def check_tokens(x: torch.Tensor, where: str, dim: int | None = None, name: str = "input") -> None:
    """Check that ``x`` is a ``(B, N, D)`` token tensor, optionally with ``D == dim``.

    Raises:
        ShapeError: if ``x`` is not 3-D or has the wrong feature size.
    """
    if not isinstance(x, torch.Tensor):
        raise ShapeError(f"{where}: {name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 3:
        raise ShapeError(f"{where}: {name} must have shape (B, N, D), got {_fmt(x.shape)}")
    if dim is not None and x.shape[-1] != dim:
        raise ShapeError(f"{where}: {name} must have feature size {dim}, got shape {_fmt(x.shape)}")


def check_same_spatial(a: torch.Tensor, b: torch.Tensor, where: str, names: tuple[str, str] = ("x", "y")) -> None:
    """Check that two ``(B, C, H, W)`` tensors share batch size and ``(H, W)`` (channels may differ).

    Raises:
        ShapeError: if batch size or spatial size differ.
    """
    if a.shape[0] != b.shape[0] or a.shape[-2:] != b.shape[-2:]:
        raise ShapeError(
            f"{where}: {names[0]} {_fmt(a.shape)} and {names[1]} {_fmt(b.shape)} "
            "must have the same batch size and (H, W)"
        )


def check_divisible(x: torch.Tensor, factor: int, where: str, name: str = "input") -> None:
    """Check that the height and width of a ``(B, C, H, W)`` tensor are multiples of ``factor``.

    Raises:
        ShapeError: if ``H`` or ``W`` is not a multiple of ``factor``.
    """
    h, w = x.shape[-2:]
    if h % factor or w % factor:
        raise ShapeError(
            f"{where}: {name} height and width must be multiples of {factor}, got shape {_fmt(x.shape)} "
            "(pad with mmfuse.nn.ops.pad_to_multiple)"
        )
