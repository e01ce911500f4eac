"""Reading and writing images.

Reading returns ``float32`` arrays in ``[0, 1]``: ``(H, W)`` for gray, ``(H, W, 3)`` for colour
(RGB order). 8-bit data is divided by 255. High-bit-depth data (16-bit PNG/TIFF as written by
radiometric thermal cameras, 32-bit integer or float TIFF) is mapped to ``[0, 1]`` by a
:data:`Normalization` policy:

``"full"``
    divide by the type's full range (65535 for 16-bit); right for 16-bit images that use the
    whole range.
``"minmax"``
    stretch the image's own minimum..maximum to 0..1; sensitive to single hot/dead pixels.
``"percentile"``
    clip to the 0.5 and 99.5 percentiles, then stretch (robust to hot pixels; the usual
    display mapping of raw thermal frames).
``"auto"`` (default)
    ``"full"`` when the data's 0.5..99.5 percentile span covers at least half the 16-bit range
    (an ordinary 16-bit picture), otherwise ``"percentile"`` (a raw radiometric frame that occupies a narrow band
    of counts, e.g. 7000..9000).

EXIF orientation is applied, palette images are expanded, alpha is dropped (colour is taken
as is, not composited). Writing is atomic: the PNG is encoded in memory, written to a
temporary file in the destination folder and renamed, so a failed write leaves nothing behind.
"""
from __future__ import annotations

import io as _io
import os
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mmfuse.errors import ImageReadError, InputError, OutputExistsError
from mmfuse.io.atomic import write_bytes

__all__ = [
    "IMAGE_EXTENSIONS",
    "Normalization",
    "read_raw",
    "read_image",
    "to_float",
    "write_image",
    "check_writable",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
"""File extensions treated as images when scanning folders (case-insensitive)."""

Normalization = Literal["auto", "full", "minmax", "percentile"]
ReadMode = Literal["keep", "gray", "rgb"]

_PERCENTILES = (0.5, 99.5)


def _decode_pillow(path: Path, data: bytes) -> np.ndarray:
    try:
        with Image.open(_io.BytesIO(data)) as im:
            im.load()
            im = ImageOps.exif_transpose(im)
            mode = im.mode
            if mode == "P" or mode == "PA":
                im = im.convert("RGBA" if "transparency" in im.info or mode == "PA" else "RGB")
            elif mode == "1":
                im = im.convert("L")
            elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
                im = im.convert("RGB")
            elif mode in ("I;16", "I;16L", "I;16B", "I;16N"):
                return np.asarray(im, dtype=np.uint16).copy()
            elif mode == "I":
                return np.asarray(im, dtype=np.int32).copy()
            elif mode == "F":
                return np.asarray(im, dtype=np.float32).copy()
            arr = np.asarray(im)
    except UnidentifiedImageError:
        raise ImageReadError(f"{path}: {_why_unidentified(data)}") from None
    except Image.DecompressionBombError as err:
        raise ImageReadError(f"{path}: image too large ({err})") from None
    except (OSError, SyntaxError, ValueError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        if "truncated" in reason.lower():
            reason = "truncated file"
        raise ImageReadError(f"{path}: cannot read image ({reason})") from None
    return np.array(arr)


_MAGIC = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG", b"BM": "BMP", b"II*\x00": "TIFF", b"MM\x00*": "TIFF"}


def _why_unidentified(data: bytes) -> str:
    """Explain why Pillow could not identify ``data``: zero size, corrupt header, or not an image."""
    fmt = next((f for magic, f in _MAGIC.items() if data.startswith(magic)), None)
    if fmt is None:
        return "not an image file (format not recognised)"
    if fmt == "PNG" and len(data) >= 24 and data[12:16] == b"IHDR":
        w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        if w == 0 or h == 0:
            return f"image has zero size ({w}x{h})"
    return f"corrupt {fmt} file (header cannot be decoded)"


def _exif_orientation(data: bytes) -> int:
    try:
        with Image.open(_io.BytesIO(data)) as im:
            return int(im.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - orientation is best effort
        return 1


def _apply_orientation(arr: np.ndarray, orientation: int) -> np.ndarray:
    # EXIF orientation values 1..8 (TIFF/EP spec): flips and rotations of the stored raster.
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: np.swapaxes(a, 0, 1),
        6: lambda a: np.swapaxes(a, 0, 1)[:, ::-1],
        7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
        8: lambda a: np.swapaxes(a, 0, 1)[::-1],
    }
    return np.ascontiguousarray(ops[orientation](arr)) if orientation in ops else arr


def _decode_deep_colour(path: Path, data: bytes) -> np.ndarray | None:
    """Decode 16-bit-per-channel colour PNG/TIFF, which Pillow reduces to 8 bits."""
    import cv2

    buf = np.frombuffer(data, dtype=np.uint8)
    arr = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if arr is None or arr.dtype == np.uint8 or arr.ndim != 3:
        return None
    arr = arr[..., [2, 1, 0, 3][: arr.shape[2]]] if arr.shape[2] in (3, 4) else arr
    return _apply_orientation(arr, _exif_orientation(data))


def read_raw(path: str | os.PathLike) -> np.ndarray:
    """Read an image file without changing its values.

    Args:
        path: image file (PNG, JPEG, BMP, TIFF; 8-bit, 16-bit, 32-bit integer or float;
            gray, gray+alpha, RGB, RGBA or palette).

    Returns:
        The pixels in their stored type (``uint8``, ``uint16``, ``int32`` or ``float32``),
        shape ``(H, W)``, ``(H, W, 2)`` (gray+alpha), ``(H, W, 3)`` (RGB) or ``(H, W, 4)``
        (RGBA), EXIF orientation applied, palette expanded.

    Raises:
        ImageReadError: the file is missing, empty, truncated, not an image, or has zero size.
    """
    p = Path(path)
    if not p.exists():
        raise ImageReadError(f"{p}: file not found")
    if p.is_dir():
        raise ImageReadError(f"{p}: is a folder, not an image file")
    try:
        data = p.read_bytes()
    except OSError as err:
        raise ImageReadError(f"{p}: cannot read file ({err.strerror or err})") from None
    if not data:
        raise ImageReadError(f"{p}: empty file (0 bytes)")
    arr = _decode_pillow(p, data)
    if arr.dtype == np.uint8 and arr.ndim == 3 and p.suffix.lower() in (".png", ".tif", ".tiff"):
        deep = _decode_deep_colour(p, data)
        if deep is not None and deep.shape[:2] == arr.shape[:2]:
            arr = deep
    if arr.size == 0 or min(arr.shape[:2]) == 0:
        raise ImageReadError(f"{p}: image has zero size {arr.shape[:2]}")
    return arr


def to_float(arr: np.ndarray, *, normalization: Normalization = "auto") -> np.ndarray:
    """Map raw pixel values to ``float32`` in ``[0, 1]`` (see the module docstring for policies).

    Args:
        arr: array as returned by :func:`read_raw`, any shape.
        normalization: policy for data that is not 8-bit.

    Returns:
        ``float32`` array of the same shape with values in ``[0, 1]``.
    """
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / np.float32(255.0)
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    x = arr.astype(np.float64)
    if np.issubdtype(arr.dtype, np.floating) and x.size and np.nanmin(x) >= 0.0 and np.nanmax(x) <= 1.0:
        return np.nan_to_num(x, nan=0.0).astype(np.float32)
    full = 65535.0 if arr.dtype == np.uint16 else None
    policy = normalization
    if policy not in ("auto", "full", "minmax", "percentile"):
        raise InputError(f"unknown normalization {policy!r}; choose auto, full, minmax or percentile")
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        return np.zeros(arr.shape, np.float32)
    if policy == "auto":
        lo_p, hi_p = np.percentile(finite, _PERCENTILES)
        span = float(hi_p - lo_p)
        policy = "full" if full is not None and span >= 0.5 * full else "percentile"
    if policy == "full":
        if full is None:  # int32 / float data has no natural full scale
            policy = "minmax"
        else:
            return np.clip(x / full, 0.0, 1.0).astype(np.float32)
    if policy == "minmax":
        lo, hi = float(finite.min()), float(finite.max())
    else:
        lo, hi = (float(v) for v in np.percentile(finite, _PERCENTILES))
    if hi <= lo:
        return np.zeros(arr.shape, np.float32)
    return np.clip((np.nan_to_num(x, nan=lo) - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def read_image(
    path: str | os.PathLike,
    mode: ReadMode = "keep",
    *,
    normalization: Normalization = "auto",
) -> np.ndarray:
    """Read an image as ``float32`` in ``[0, 1]``.

    Args:
        path: image file.
        mode: ``"keep"``: gray stays ``(H, W)``, colour becomes ``(H, W, 3)``;
            ``"gray"``: always ``(H, W)`` (colour converted with BT.601 luma, the Y of
            :func:`mmfuse.io.rgb_to_ycbcr`); ``"rgb"``: always ``(H, W, 3)`` (gray replicated).
        normalization: policy for high-bit-depth data (module docstring).

    Returns:
        ``float32`` array in ``[0, 1]``, ``(H, W)`` or ``(H, W, 3)``.

    Raises:
        ImageReadError: unreadable file (see :func:`read_raw`).
    """
    from mmfuse.io.color import rgb_to_gray

    arr = read_raw(path)
    if arr.ndim == 3 and arr.shape[2] in (2, 4):  # drop alpha
        arr = arr[..., :-1]
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3 and arr.shape[2] != 3:
        raise ImageReadError(f"{path}: unsupported channel count {arr.shape[2]}")
    img = to_float(arr, normalization=normalization)
    if mode == "keep":
        return img
    if mode == "gray":
        return rgb_to_gray(img) if img.ndim == 3 else img
    if mode == "rgb":
        return np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img
    raise InputError(f"unknown read mode {mode!r}; choose keep, gray or rgb")


def check_writable(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Check that an output file can be created, before any work is done.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is false.
        InputError: the path is a folder or its folder is not writable.
    """
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{p}: is a folder; give an output file name")
    if p.exists() and not overwrite:
        raise OutputExistsError(f"{p}: output file exists (use --overwrite to replace it)")
    parent = p.parent if str(p.parent) else Path(".")
    probe = parent
    while not probe.exists():  # the folder will be created: check its nearest existing ancestor
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(f"{p}: output folder {probe} is not writable")
    return p


def write_image(
    path: str | os.PathLike,
    img: np.ndarray,
    *,
    bits: Literal[8, 16] = 8,
    overwrite: bool = False,
) -> Path:
    """Write a ``[0, 1]`` float image (or uint8/uint16 data) as PNG, atomically.

    Float values are clipped to ``[0, 1]`` and quantised with round-half-to-even
    (``np.rint(x * (2**bits - 1))``). Integer input is written as is (uint8 → 8-bit,
    uint16 → 16-bit) and ``bits`` is ignored.

    Args:
        path: destination; its folder is created if missing. The extension decides the format
            (``.png`` recommended; ``.tif``/``.bmp``/``.jpg`` also work through OpenCV).
        img: ``(H, W)`` gray or ``(H, W, 3)`` RGB.
        bits: 8 or 16 for float input.
        overwrite: replace an existing file.

    Returns:
        The written path.
    """
    import cv2

    p = check_writable(path, overwrite=overwrite)
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))):
        raise InputError(f"{p}: cannot write array of shape {a.shape}; expected (H, W) or (H, W, 3)")
    if a.dtype not in (np.uint8, np.uint16):
        if bits not in (8, 16):
            raise InputError(f"bits must be 8 or 16, got {bits}")
        a = a.astype(np.float64)
        if not np.all(np.isfinite(a)):
            raise InputError(f"{p}: image to write contains NaN or infinite values")
        scale = 255.0 if bits == 8 else 65535.0
        a = np.rint(np.clip(a, 0.0, 1.0) * scale).astype(np.uint8 if bits == 8 else np.uint16)
    if a.ndim == 3:
        a = cv2.cvtColor(a, cv2.COLOR_RGB2BGR if a.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    ext = p.suffix.lower() or ".png"
    ok, buf = cv2.imencode(ext, a)
    if not ok:
        raise InputError(f"{p}: cannot encode image as {ext}")
    write_bytes(p, buf.tobytes(), overwrite=overwrite)
    return p
