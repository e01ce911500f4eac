"""Synthetic multi-exposure and multi-focus pairs made from single clean images.

TC-MoA (Zhu et al., "Task-Customized Mixture of Adapters for General Image Fusion", CVPR 2024)
trains visible-infrared, multi-exposure (MEF) and multi-focus (MFF) fusion jointly. Its MEF and
MFF training sets are not available offline, so, as the engineering spec
(``specs/tc-moa-and-moe-fusion.md`` §D.2, "Training data stand-ins") recommends, pairs are
synthesised from one clean image ``I`` in ``[0, 1]``:

* **multi-exposure**: an under-exposed source ``clip(s_u · I)^γ_u`` with ``s_u ∈ [0.2, 0.4]``,
  ``γ_u ∈ [1, 1.5]`` and an over-exposed source ``clip(s_o · I)^γ_o`` with ``s_o ∈ [2.5, 4]``,
  ``γ_o ∈ [0.7, 1]`` (exposure scaling, a camera-response gamma and sensor clipping);
* **multi-focus**: a random smooth binary focus mask ``M`` (a coarse Gaussian random field
  thresholded at its median, edges softened) and a defocused copy ``B(I)`` (Gaussian blur with
  ``σ ∈ [2, 4]`` or a disk of radius ``2σ``); the sources are
  ``A = M·I + (1−M)·B(I)`` (near focus) and ``B = (1−M)·I + M·B(I)`` (far focus), and ``I``
  itself is the all-in-focus reference.

Items of :class:`SyntheticPairs`: ``{"name": str, "a": (H, W, 3), "b": (H, W, 3), "ref": (H, W, 3),
"task": "mef" | "mff"}`` (``float32`` in ``[0, 1]``), plus ``"mask": (H, W)`` (the weight of ``I``
in ``A``) for multi-focus. Models trained on them read ``a``/``b`` in their ``forward_stage``
(see ``docs/training.md``).
"""
from __future__ import annotations

from typing import Any, Literal

import cv2
import numpy as np
from torch.utils.data import Dataset

from mmfuse.data.transforms import EpochSeededWrapper
from mmfuse.errors import InputError, ShapeError

__all__ = ["make_multi_exposure_pair", "make_multi_focus_pair", "random_focus_mask", "defocus", "SyntheticPairs"]

SyntheticKind = Literal["multi-exposure", "multi-focus"]
_SYNTH_SALT = 0x53594E54


def _check_image(img: np.ndarray) -> np.ndarray:
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (1, 3)):
        raise ShapeError(f"expected an (H, W) or (H, W, 3) image, got shape {img.shape}")
    return img.astype(np.float32, copy=False)


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    lo, hi = bounds
    return float(rng.uniform(lo, hi)) if hi > lo else float(lo)


def make_multi_exposure_pair(
    img: np.ndarray,
    rng: np.random.Generator,
    *,
    under_scale: tuple[float, float] = (0.2, 0.4),
    under_gamma: tuple[float, float] = (1.0, 1.5),
    over_scale: tuple[float, float] = (2.5, 4.0),
    over_gamma: tuple[float, float] = (0.7, 1.0),
) -> tuple[np.ndarray, np.ndarray]:
    """Under- and over-exposed versions of a well-exposed image.

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` float32 in ``[0, 1]``.
        rng: random generator.
        under_scale: range of the exposure factor of the dark source.
        under_gamma: range of the gamma applied after scaling (``> 1`` darkens mid-tones).
        over_scale: range of the exposure factor of the bright source (values clip at 1).
        over_gamma: range of the gamma of the bright source (``< 1`` brightens mid-tones).

    Returns:
        ``(under, over)``, same shape as ``img``, float32 in ``[0, 1]``; ``under <= img``
        wherever ``img`` is, and ``over >= img``.
    """
    x = np.clip(_check_image(img), 0.0, 1.0)
    su, gu = _uniform(rng, under_scale), _uniform(rng, under_gamma)
    so, go = _uniform(rng, over_scale), _uniform(rng, over_gamma)
    under = np.clip(x * su, 0.0, 1.0) ** gu
    over = np.clip(x * so, 0.0, 1.0) ** go
    return under.astype(np.float32), over.astype(np.float32)


def random_focus_mask(
    height: int,
    width: int,
    rng: np.random.Generator,
    *,
    cells: tuple[int, int] = (2, 5),
    softness: float = 1.5,
) -> np.ndarray:
    """A random smooth region mask splitting the image into roughly equal focus areas.

    A coarse grid of Gaussian noise (``cells`` × ``cells`` values, count drawn from ``cells``) is
    upsampled bicubically to ``height × width`` and thresholded at its median, then the edge is
    softened with a Gaussian of ``softness`` pixels (``0`` keeps it binary).

    Returns:
        ``(height, width)`` float32 in ``[0, 1]``; about half of the pixels are 1.
    """
    if height < 1 or width < 1:
        raise ShapeError(f"mask size must be positive, got {height}x{width}")
    n = int(rng.integers(cells[0], cells[1] + 1))
    grid = rng.standard_normal((n, n)).astype(np.float32)
    field = cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    field = field.reshape(height, width)
    mask = (field > np.median(field)).astype(np.float32)
    if softness > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), softness, borderType=cv2.BORDER_REFLECT_101)
    return np.clip(mask, 0.0, 1.0).astype(np.float32)


def defocus(img: np.ndarray, sigma: float, kind: Literal["gaussian", "disk"] = "gaussian") -> np.ndarray:
    """Blur an image as an out-of-focus lens would.

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` float32.
        sigma: Gaussian standard deviation in pixels; the disk has radius ``2·sigma``.
        kind: ``"gaussian"`` or ``"disk"`` (uniform circle of confusion).

    Returns:
        The blurred image, same shape and dtype (mirror borders).
    """
    x = _check_image(img)
    if kind == "gaussian":
        out = cv2.GaussianBlur(x, (0, 0), float(sigma), borderType=cv2.BORDER_REFLECT_101)
    elif kind == "disk":
        r = max(int(round(2 * sigma)), 1)
        yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
        kernel = (xx**2 + yy**2 <= r * r).astype(np.float32)
        out = cv2.filter2D(x, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT_101)
    else:
        raise InputError(f"unknown defocus kind {kind!r}; choose gaussian or disk")
    return out.reshape(x.shape).astype(np.float32)


def make_multi_focus_pair(
    img: np.ndarray,
    rng: np.random.Generator,
    *,
    sigma: tuple[float, float] = (2.0, 4.0),
    blur: Literal["gaussian", "disk"] = "gaussian",
    softness: float = 1.5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Near- and far-focused versions of an all-in-focus image.

    Args:
        img: ``(H, W)`` or ``(H, W, 3)`` float32 in ``[0, 1]``.
        rng: random generator.
        sigma: range of the defocus blur (Gaussian σ in pixels).
        blur: ``"gaussian"`` or ``"disk"`` (see :func:`defocus`).
        softness: edge softening of the focus mask (see :func:`random_focus_mask`).

    Returns:
        ``(a, b, mask)``: ``a = mask·img + (1−mask)·blurred`` and ``b = (1−mask)·img + mask·blurred``
        (same shape as ``img``), and ``mask`` ``(H, W)`` in ``[0, 1]``.
    """
    x = np.clip(_check_image(img), 0.0, 1.0)
    h, w = x.shape[:2]
    mask = random_focus_mask(h, w, rng, softness=softness)
    blurred = defocus(x, _uniform(rng, sigma), blur)
    m = mask[..., None] if x.ndim == 3 else mask
    a = m * x + (1.0 - m) * blurred
    b = (1.0 - m) * x + m * blurred
    return a.astype(np.float32), b.astype(np.float32), mask


class SyntheticPairs(EpochSeededWrapper):
    """Multi-exposure or multi-focus pairs synthesised on the fly from single images.

    The random parameters of item ``i`` in epoch ``e`` come from
    :func:`mmfuse.data.transforms.item_rng` ``(seed, ·, e, i)``; call :meth:`set_epoch` per pass.
    Crop first (:class:`mmfuse.data.transforms.RandomCropFlip`), then synthesise: the focus mask
    then lives at the scale of the training crop.

    Args:
        dataset: items with an ``"image"`` ``(H, W, 3)`` in ``[0, 1]`` (e.g.
            :class:`mmfuse.data.pairs.ImageFolderDataset`).
        kind: ``"multi-exposure"`` or ``"multi-focus"``.
        seed: run seed.
        **params: keyword arguments of :func:`make_multi_exposure_pair` or
            :func:`make_multi_focus_pair`.

    Items:
        See the module docstring.
    """

    def __init__(self, dataset: Dataset, kind: SyntheticKind, *, seed: int = 0, **params: Any) -> None:
        if kind not in ("multi-exposure", "multi-focus"):
            raise InputError(f"unknown synthetic pair kind {kind!r}; choose multi-exposure or multi-focus")
        super().__init__(dataset, seed)
        self.kind = kind
        self.params = params

    def __getitem__(self, index: int) -> dict[str, Any]:
        src = self.dataset[index]
        img = src["image"]
        rng = self.rng(_SYNTH_SALT, index)
        item: dict[str, Any] = {"name": src.get("name", str(index)), "ref": img}
        if self.kind == "multi-exposure":
            item["a"], item["b"] = make_multi_exposure_pair(img, rng, **self.params)
            item["task"] = "mef"
        else:
            item["a"], item["b"], item["mask"] = make_multi_focus_pair(img, rng, **self.params)
            item["task"] = "mff"
        return item
