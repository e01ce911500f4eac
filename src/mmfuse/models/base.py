"""The fusion-method interface and the generic wrapper around trained networks.

A :class:`FusionMethod` turns an infrared image and a visible image (numpy, any size, gray or
colour, ``[0, 1]`` floats or 8/16-bit integers) into a fused image of the same size:

* inputs are validated (:func:`prepare_pair`): the infrared image becomes ``(H, W)`` luminance,
  the visible image stays gray ``(H, W)`` or RGB ``(H, W, 3)`` (alpha dropped);
* a method that fuses **luminance** (``output = "y"``, the field's usual practice) receives
  the visible Y channel, and the visible image's CbCr (BT.601) is re-attached to its result;
* a method with **RGB output** (``output = "rgb"``) receives the RGB visible image and returns
  RGB itself (e.g. a model that also restores colour);
* inputs are reflect-padded to the method's ``size_multiple`` (and to at least its
  ``min_size``) and the result cropped back, so any size comes out at the same size.

Trained networks are wrapped by :class:`TorchFusionMethod`; their weights are safetensors files
whose metadata (``"mmfuse_config"``, JSON) names the architecture and its constructor arguments.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from mmfuse.errors import InputError, ShapeError
from mmfuse.io import crop_to, pad_to_multiple, replace_luminance, rgb_to_gray, rgb_to_ycbcr, to_float

if TYPE_CHECKING:
    import torch

__all__ = [
    "FusionMethod",
    "TorchFusionMethod",
    "set_memory_format",
    "prepare_pair",
    "as_float_image",
    "load_weights_file",
    "load_state_checked",
    "save_weights_file",
    "META_KEY",
]

META_KEY = "mmfuse_config"


def as_float_image(img: np.ndarray, name: str) -> np.ndarray:
    """Convert a user array to ``float32`` ``[0, 1]``, ``(H, W)`` or ``(H, W, 3)``.

    Accepts float arrays in ``[0, 1]``, ``uint8``/``uint16`` arrays, ``(H, W, 1)`` and
    ``(H, W, 4)`` (alpha dropped).

    Raises:
        ShapeError: wrong number of dimensions or channels, or an empty image.
    """
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[2] in (1, 2, 4):
        a = a[..., 0] if a.shape[2] in (1, 2) else a[..., :3]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3):
        raise ShapeError(f"{name}: expected an (H, W) gray or (H, W, 3) RGB image, got shape {a.shape}")
    if a.size == 0:
        raise ShapeError(f"{name}: empty image of shape {a.shape}")
    if a.dtype in (np.uint8, np.uint16):
        return to_float(a)
    a = a.astype(np.float32, copy=False)
    if not np.all(np.isfinite(a)):
        raise InputError(f"{name}: image contains NaN or infinite values")
    return np.clip(a, 0.0, 1.0)


def prepare_pair(ir: np.ndarray, vis: np.ndarray, *, resize: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Validate a pair and bring it to the method-facing form.

    Args:
        ir: infrared image, gray or RGB (converted to luminance).
        vis: visible image, gray or RGB.
        resize: if the sizes differ, resize the infrared image to the visible one (bicubic
            for enlargement, area averaging for reduction); otherwise a mismatch is an error.

    Returns:
        ``ir`` as ``(H, W)`` float32 and ``vis`` as ``(H, W)`` or ``(H, W, 3)`` float32.
    """
    ir = as_float_image(ir, "ir")
    vis = as_float_image(vis, "vis")
    if ir.ndim == 3:
        ir = rgb_to_gray(ir)
    if ir.shape[:2] != vis.shape[:2]:
        if not resize:
            (h1, w1), (h2, w2) = ir.shape[:2], vis.shape[:2]
            raise ShapeError(f"sizes differ: infrared is {w1}x{h1}, visible is {w2}x{h2} (use --resize to resize infrared)")
        import cv2

        h, w = vis.shape[:2]
        interp = cv2.INTER_AREA if ir.shape[0] * ir.shape[1] > h * w else cv2.INTER_CUBIC
        ir = np.clip(cv2.resize(ir, (w, h), interpolation=interp), 0.0, 1.0).astype(np.float32)
    return ir, vis


class FusionMethod:
    """Base class of everything that fuses an infrared and a visible image.

    Subclasses set :attr:`output` and implement :meth:`fuse_y` (luminance methods) or
    :meth:`fuse_rgb` (RGB-output methods) on padded arrays; :meth:`fuse` does the rest.

    Attributes:
        name: registered name.
        kind: ``"classical"``, ``"learned"`` or ``"cascade"``.
        output: ``"y"`` (fuses luminance; visible chroma re-attached) or ``"rgb"``.
        size_multiple: height and width are padded to a multiple of this.
        min_size: ... and to at least this many pixels (networks whose coarsest stages need it).
    """

    name: str = ""
    kind: str = "classical"
    output: Literal["y", "rgb"] = "y"
    size_multiple: int = 1
    min_size: int = 1

    def fuse_y(self, ir: np.ndarray, vis_y: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        """Fuse luminance: ``(H, W)`` + ``(H, W)`` → ``(H, W)`` in ``[0, 1]`` and an info dict."""
        raise NotImplementedError

    def fuse_rgb(self, ir: np.ndarray, vis: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        """Fuse to colour: ``(H, W)`` + ``(H, W, 3)`` → ``(H, W, 3)`` in ``[0, 1]`` and info."""
        raise NotImplementedError

    def fuse(
        self,
        ir: np.ndarray,
        vis: np.ndarray,
        *,
        resize: bool = False,
        gray: bool = False,
        return_info: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, dict[str, Any]]:
        """Fuse one pair.

        Args:
            ir: infrared image ``(H, W)`` (or RGB, converted to luminance).
            vis: visible image ``(H, W)`` or ``(H, W, 3)`` RGB.
            resize: resize the infrared image to the visible one if their sizes differ.
            gray: return the fused luminance ``(H, W)`` only.
            return_info: also return a JSON-serialisable dict describing what the method did
                (e.g. a gated model's degradation estimate and expert weights).

        Returns:
            The fused image, float32 in ``[0, 1]``: ``(H, W, 3)`` when the visible image is
            colour (and ``gray`` is false), else ``(H, W)``. With ``return_info``, a tuple
            ``(fused, info)``.
        """
        ir, vis = prepare_pair(ir, vis, resize=resize)
        size = ir.shape[:2]
        colour = vis.ndim == 3

        def pad(x: np.ndarray) -> np.ndarray:
            return pad_to_multiple(x, self.size_multiple, min_size=self.min_size)[0]

        if self.output == "rgb":
            vis_rgb = vis if colour else np.repeat(vis[..., None], 3, axis=2)
            out, info = self.fuse_rgb(pad(ir), pad(vis_rgb))
            out = np.clip(crop_to(out, size), 0.0, 1.0).astype(np.float32)
            if gray or not colour:
                out = rgb_to_gray(out)
        else:
            vis_y = rgb_to_ycbcr(vis)[..., 0] if colour else vis
            y, info = self.fuse_y(pad(ir), pad(vis_y))
            y = np.clip(crop_to(y, size), 0.0, 1.0).astype(np.float32)
            out = replace_luminance(vis, y) if colour and not gray else y
        info = {"method": self.name, **info}
        return (out, info) if return_info else out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, kind={self.kind!r})"


# --------------------------------------------------------------------------- weights files


def save_weights_file(path: str | os.PathLike, state_dict: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Write ``state_dict`` as safetensors with ``meta`` as JSON metadata, atomically.

    Args:
        path: destination file.
        state_dict: tensors (made contiguous; shared storage is copied).
        meta: JSON-serialisable description; must contain ``"arch"`` and ``"arch_kwargs"``.
    """
    from safetensors.torch import save_file

    if "arch" not in meta or "arch_kwargs" not in meta:
        raise ValueError("weights metadata needs 'arch' and 'arch_kwargs'")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={META_KEY: json.dumps(meta, sort_keys=True)})
        os.chmod(tmp, 0o644)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


def load_weights_file(path: str | os.PathLike, device: str = "cpu") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a safetensors weights file written by :func:`save_weights_file`.

    Returns:
        ``(state_dict, meta)``; ``meta`` is ``{}`` for a plain safetensors file.

    Raises:
        InputError: the file is missing or not a valid safetensors file.
    """
    from safetensors import safe_open

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: weights file not found")
    try:
        with safe_open(str(p), framework="pt", device=device) as fh:
            raw = (fh.metadata() or {}).get(META_KEY)
            state = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as err:  # noqa: BLE001 - safetensors raises several types for bad files
        raise InputError(f"{p}: not a valid safetensors weights file ({str(err).splitlines()[0]})") from None
    try:
        meta = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        raise InputError(f"{p}: weights metadata is not valid JSON") from None
    return state, meta


def load_state_checked(net: torch.nn.Module, state: dict[str, torch.Tensor], what: str, *, allow_missing: bool = False) -> list[str]:
    """Load ``state`` into ``net``; a state that does not fit (mis-shaped or unexpected tensors,
    or missing ones unless ``allow_missing``) is a one-line :class:`InputError` starting with
    ``what`` (e.g. ``"x.safetensors: weights do not fit architecture 'tgecnet'"``).

    Returns:
        The names of ``net``'s tensors that ``state`` did not set.
    """
    try:
        missing, unexpected = net.load_state_dict(state, strict=False)
    except RuntimeError as err:  # mis-shaped tensors (strict=False only forgives missing/unexpected ones)
        detail = next((ln.strip() for ln in str(err).splitlines() if "size mismatch" in ln), str(err).splitlines()[-1].strip())
        raise InputError(f"{what}: {detail}") from None
    if (missing and not allow_missing) or unexpected:
        parts = []
        if missing and not allow_missing:
            parts.append(f"missing {len(missing)} tensors (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} tensors (e.g. {unexpected[0]})")
        raise InputError(f"{what}: {'; '.join(parts)}")
    return list(missing)


# --------------------------------------------------------------------------- trained networks


def set_memory_format(network: torch.nn.Module, memory_format: torch.memory_format) -> torch.nn.Module:
    """Store every 4-D parameter and buffer of ``network`` in ``memory_format`` (in place).

    ``Module.to(memory_format=torch.channels_last)`` refuses networks that also hold 5-D tensors
    (e.g. TG-ECNet's decoder prompts); this converts the 4-D ones (convolution weights) only.
    """
    import torch

    with torch.no_grad():
        for t in (*network.parameters(), *network.buffers()):
            if t.dim() == 4:
                t.data = t.data.contiguous(memory_format=memory_format)
    return network


SELF_ENSEMBLE_FLIPS: dict[int, tuple[tuple[int, ...], ...]] = {
    1: ((),),
    2: ((), (-1,)),
    4: ((), (-1,), (-2,), (-2, -1)),
}
"""Tensor dimensions mirrored for each copy of a self-ensemble of 1, 2 or 4 (``()``: as is)."""


class TorchFusionMethod(FusionMethod):
    """A trained fusion network used as a :class:`FusionMethod`.

    The network follows the architecture contract of :mod:`mmfuse.train` (docs/training.md):
    ``forward(ir (B,1,H,W), vis (B,1|3,H,W)) -> {"fused": (B,1|3,H,W), ...}``, class attributes
    ``size_multiple`` and ``vis_mode`` (``"y"``: visible luminance in, ``"rgb"``: RGB in), optionally
    ``min_size`` (smallest height / width it accepts; smaller inputs are padded up to it), and
    optionally ``describe(outputs) -> dict`` for :meth:`fuse` 's ``return_info`` and
    ``channels_last_inference = True`` (weights kept in channels-last layout on the CPU, for
    networks that measured faster so; the results agree to float rounding).

    ``self_ensemble`` (1, 2 or 4) averages the network's outputs over mirrored copies of the
    pair, each mirrored back before averaging ("geometric self-ensemble", Lim et al., EDSR,
    CVPRW 2017, there over 8 flips and transposes): 2 adds the left-right mirror, 4 also the
    up-down and the double mirror. Transposes are not used: they would turn infrared column
    stripes into row stripes. It costs that many forward passes; the info dict (``describe``)
    is that of the unmirrored pass.
    """

    kind = "learned"

    def __init__(
        self, network: torch.nn.Module, *, device: str = "cpu", meta: dict[str, Any] | None = None, self_ensemble: int = 1
    ) -> None:
        import torch

        if self_ensemble not in SELF_ENSEMBLE_FLIPS:
            raise InputError(f"self-ensemble must be one of {sorted(SELF_ENSEMBLE_FLIPS)} (mirrored copies averaged), not {self_ensemble!r}")
        self.self_ensemble = int(self_ensemble)
        self.device = torch.device(device)
        self.network = network.to(self.device).eval()
        if getattr(network, "channels_last_inference", False) and self.device.type == "cpu":
            set_memory_format(self.network, torch.channels_last)
        self.meta = dict(meta or {})
        self.size_multiple = int(getattr(network, "size_multiple", 1))
        self.min_size = int(getattr(network, "min_size", 1))
        self.vis_mode = getattr(network, "vis_mode", "y")
        self.output = getattr(network, "output_mode", "y" if self.vis_mode == "y" else "rgb")
        self.name = self.meta.get("method") or getattr(network, "arch_name", type(network).__name__)

    @classmethod
    def from_file(
        cls, path: str | os.PathLike, *, expected_arch: str | None = None, device: str = "cpu", self_ensemble: int = 1
    ) -> TorchFusionMethod:
        """Build the network named in a weights file's metadata and load its weights (strict)."""
        from mmfuse.models.registry import get_arch

        state, meta = load_weights_file(path)
        arch = meta.get("arch") or expected_arch
        if arch is None:
            raise InputError(f"{path}: weights file does not name its architecture (no '{META_KEY}' metadata)")
        if expected_arch is not None and arch != expected_arch:
            raise InputError(f"{path}: weights are for architecture {arch!r}, not {expected_arch!r}")
        net = get_arch(arch)(**meta.get("arch_kwargs", {}))
        load_state_checked(net, state, f"{path}: weights do not fit architecture {arch!r}")
        return cls(net, device=device, meta=meta, self_ensemble=self_ensemble)

    def _run(self, ir: np.ndarray, vis: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        import torch

        t_ir = torch.from_numpy(np.ascontiguousarray(ir))[None, None].to(self.device)
        if vis.ndim == 2:
            t_vis = torch.from_numpy(np.ascontiguousarray(vis))[None, None]
        else:
            t_vis = torch.from_numpy(np.ascontiguousarray(vis.transpose(2, 0, 1)))[None]
        t_vis = t_vis.to(self.device)
        with torch.inference_mode():
            outputs = self.network(t_ir, t_vis)
            info = self.network.describe(outputs) if hasattr(self.network, "describe") else {}
            total = outputs["fused"].float()
            for dims in SELF_ENSEMBLE_FLIPS[self.self_ensemble][1:]:
                total = total + self.network(t_ir.flip(dims), t_vis.flip(dims))["fused"].float().flip(dims)
            fused = (total[0] / self.self_ensemble).clamp(0, 1).cpu().numpy()
        if self.self_ensemble > 1:
            info["self_ensemble"] = self.self_ensemble
        fused = fused[0] if fused.shape[0] == 1 else fused.transpose(1, 2, 0)
        return fused, info

    def fuse_y(self, ir: np.ndarray, vis_y: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        return self._run(ir, vis_y)

    def fuse_rgb(self, ir: np.ndarray, vis: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        fused, info = self._run(ir, vis)
        if fused.ndim == 2:  # luminance-only network: re-attach chroma
            fused = replace_luminance(vis, fused)
        return fused, info
