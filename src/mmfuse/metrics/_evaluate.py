"""Scoring one triplet (:func:`evaluate`) and whole folders (:func:`evaluate_folders`)."""
from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from mmfuse.errors import InputError, MMFuseError, ShapeError
from mmfuse.metrics import _error, _fmi, _info, _perceptual, _petrovic, _single, _ssim, _vif
from mmfuse.metrics._common import BT601_COEFFS, MATLAB_GREY_COEFFS, SourceCache, matlab_round, source_cache
from mmfuse.metrics.profiles import METRICS, NO_REFERENCE_METRICS, Profile, get_profile

__all__ = ["evaluate", "evaluate_many", "evaluate_folders", "resolve_metrics", "FolderEvaluation", "METRIC_FUNCTIONS"]

METRIC_FUNCTIONS: dict[str, Callable[..., float]] = {
    "EN": _single.EN,
    "SD": _single.SD,
    "SF": _single.SF,
    "AG": _single.AG,
    "EI": _single.EI,
    "CE": _info.CE,
    "MI": _info.MI,
    "NMI": _info.NMI,
    "FMI_pixel": _fmi.FMI_pixel,
    "FMI_dct": _fmi.FMI_dct,
    "FMI_w": _fmi.FMI_w,
    "SCD": _error.SCD,
    "VIF": _vif.VIF,
    "Qabf": _petrovic.Qabf,
    "Nabf": _petrovic.Nabf,
    "Nabf_petrovic": _petrovic.Nabf_petrovic,
    "Qcb": _perceptual.Qcb,
    "Qcv": _perceptual.Qcv,
    "SSIM": _ssim.SSIM,
    "MS_SSIM": _ssim.MS_SSIM,
    "MEF_SSIM": _ssim.MEF_SSIM,
    "CC": _error.CC,
    "MSE": _error.MSE,
    "RMSE": _error.RMSE,
    "PSNR": _error.PSNR,
}
"""Metric name → function (single-channel, 0–255 scale)."""

_CANONICAL = {m.lower(): m for m in METRICS}


def resolve_metrics(metrics: str | Sequence[str] | None, profile: str | Profile = "mmfuse") -> list[str]:
    """Turn a metric selection into a list of canonical names.

    Args:
        metrics: ``None`` (the profile's default set), ``"all"`` (every metric the profile
            supports), a comma-separated string (``"EN,SSIM"``) or a sequence of names.
            Names are case-insensitive.
        profile: profile name or object.

    Returns:
        Canonical names in :data:`METRICS` order, without duplicates.

    Raises:
        InputError: unknown name, or a metric the profile cannot reproduce.
    """
    prof = get_profile(profile)
    if metrics is None:
        return list(prof.default_metrics)
    if isinstance(metrics, str):
        if metrics.strip().lower() == "all":
            return list(prof.supported())
        items = [m for m in (s.strip() for s in metrics.split(",")) if m]
    else:
        items = [str(m).strip() for m in metrics]
    if not items:
        raise InputError("no metric selected; give names such as EN,SSIM or 'all'")
    chosen = set()
    for item in items:
        if item.lower() == "all":
            chosen.update(prof.supported())
            continue
        name = _CANONICAL.get(item.lower())
        if name is None:
            raise InputError(f"unknown metric {item!r}; known metrics: {', '.join(METRICS)}")
        if name in prof.unsupported:
            raise InputError(f"metric {name} is not available in profile {prof.name}: {prof.unsupported[name]}")
        chosen.add(name)
    return [m for m in METRICS if m in chosen]


def _to_levels(x: object, name: str) -> np.ndarray:
    """Input image → float64 8-bit grey levels (integers 0..255), ``(H, W)`` or ``(H, W, 3)``."""
    a = np.asarray(x)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 3 and a.shape[2] in (2, 4):  # drop alpha
        a = a[..., :-1]
        if a.shape[2] == 1:
            a = a[..., 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)):
        raise ShapeError(f"{name}: expected (H, W) gray or (H, W, 3) RGB, got shape {a.shape}")
    if min(a.shape[:2]) < 2:
        raise ShapeError(f"{name}: image of size {a.shape[:2]} is too small")
    if a.dtype == np.uint8:
        return a.astype(np.float64)
    if a.dtype == np.bool_:
        return a.astype(np.float64) * 255.0
    if a.dtype == np.uint16:
        return np.rint(a.astype(np.float64) * (255.0 / 65535.0))
    if np.issubdtype(a.dtype, np.integer):
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi > 255:
            raise InputError(f"{name}: integer image with values {lo}..{hi}; expected 8-bit levels 0..255")
        return a.astype(np.float64)
    if np.issubdtype(a.dtype, np.floating):
        v = a.astype(np.float64)
        if not np.all(np.isfinite(v)):
            raise InputError(f"{name}: image contains NaN or infinite values")
        lo, hi = float(v.min()), float(v.max())
        if lo < -1e-6 or hi > 1.0 + 1e-6:
            raise InputError(
                f"{name}: float image with values {lo:.4g}..{hi:.4g}; expected [0, 1] (pass uint8 for 0..255 data)"
            )
        # The same quantisation as mmfuse.io.write_image: what the 8-bit PNG would contain.
        return np.rint(np.clip(v, 0.0, 1.0) * 255.0)
    raise InputError(f"{name}: unsupported image dtype {a.dtype}")


def _to_grey(x: np.ndarray, method: str) -> np.ndarray:
    if x.ndim == 2:
        return x
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    if method in ("matlab_uint8", "matlab_double"):
        c = MATLAB_GREY_COEFFS
        y = r * c[0] + g * c[1] + b * c[2]
        return np.clip(matlab_round(y), 0, 255) if method == "matlab_uint8" else y
    if method == "opencv_float32":
        import cv2

        bgr = np.ascontiguousarray(x[..., ::-1], dtype=np.float32)
        return np.round(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)).astype(np.float64)
    if method == "bt601":
        c = BT601_COEFFS
        return np.rint(r * c[0] + g * c[1] + b * c[2])
    raise InputError(f"unknown grey conversion {method!r}")


def _call(prof: Profile, metric: str, f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    fn = METRIC_FUNCTIONS[metric]
    opts = dict(prof.options.get(metric, {}))
    if metric in NO_REFERENCE_METRICS:
        return float(fn(f, **opts))
    slots = {"f": f, "i": a, "v": b}
    order = prof.order(metric)
    return float(fn(slots[order[0]], slots[order[1]], slots[order[2]], **opts))


class _Sources:
    """The two reference images in the forms a profile needs, computed once (and therefore the
    same array objects for every fused image, which lets :func:`source_cache` share work)."""

    def __init__(self, a: np.ndarray, b: np.ndarray, prof: Profile, cache: SourceCache) -> None:
        self.a, self.b, self.prof, self.cache = a, b, prof, cache
        self._grey: tuple[np.ndarray, np.ndarray] | None = None
        self._channels: list[tuple[np.ndarray, np.ndarray]] | None = None

    def grey(self) -> tuple[np.ndarray, np.ndarray]:
        if self._grey is None:
            reg = self.cache.register
            self._grey = (reg(_to_grey(self.a, self.prof.grey)), reg(_to_grey(self.b, self.prof.grey)))
        return self._grey

    def channels(self) -> list[tuple[np.ndarray, np.ndarray]]:
        # VIFB: a grey source is used for every channel. Contiguous copies: strided channel
        # views make every later array operation several times slower.
        if self._channels is None:

            def chan(x: np.ndarray, k: int) -> np.ndarray:
                return x if x.ndim == 2 else np.ascontiguousarray(x[..., k])

            reg = self.cache.register
            self._channels = [(reg(chan(self.a, k)), reg(chan(self.b, k))) for k in range(3)]
        return self._channels

    def triplets(self, f: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        if self.prof.colour == "grey" or f.ndim == 2:
            a, b = self.grey()
            return [(_to_grey(f, self.prof.grey), a, b)]
        return [(np.ascontiguousarray(f[..., k]), a, b) for k, (a, b) in enumerate(self.channels())]


def _score(prof: Profile, names: list[str], triplets: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[dict[str, float], dict[str, str]]:
    values: dict[str, float] = {}
    errors: dict[str, str] = {}
    for m in names:
        try:
            if m == "SF" and prof.sf_concatenate_channels and len(triplets) > 1:
                values[m] = _call(prof, m, np.hstack([t[0] for t in triplets]), triplets[0][1], triplets[0][2])
            else:
                values[m] = float(np.mean([_call(prof, m, *t) for t in triplets]))
        except ShapeError as err:
            values[m] = float("nan")
            errors[m] = str(err)
    return values, errors


def evaluate_many(
    fused: Sequence[np.ndarray],
    ir: np.ndarray,
    vi: np.ndarray,
    ir_ref: np.ndarray | None = None,
    vi_ref: np.ndarray | None = None,
    *,
    profile: str | Profile = "mmfuse",
    metrics: str | Sequence[str] | None = None,
    return_meta: bool = False,
) -> list[dict[str, float]] | tuple[list[dict[str, float]], dict[str, Any]]:
    """Score several fused images (e.g. several methods' outputs) against the same sources.

    Same conventions as :func:`evaluate`; the work that depends on the sources alone
    (grey conversion, Qcb contrast maps, Qabf/Nabf edges, SSIM/VIF local moments, MI
    histograms, ...) is done once for all fused images.

    Args:
        fused: fused images, each ``(H, W)`` or ``(H, W, 3)`` of the sources' size.
        ir: infrared input.
        vi: visible input.
        ir_ref: clean infrared reference, or None.
        vi_ref: clean visible reference, or None.
        profile: metric convention profile.
        metrics: selection as in :func:`evaluate`.
        return_meta: also return the metadata (as :func:`evaluate`; ``errors`` is a list with
            one dict per fused image).

    Returns:
        One ``{metric: value}`` dict per fused image (and the metadata).

    Raises:
        ShapeError: images of different sizes or unsupported shapes.
        InputError: bad values, unknown profile or metric.
    """
    prof = get_profile(profile)
    names = resolve_metrics(metrics, prof)
    levels = [_to_levels(f, "fused" if len(fused) == 1 else f"fused[{i}]") for i, f in enumerate(fused)]
    size = levels[0].shape[:2] if levels else None
    for i, f in enumerate(levels):
        if f.shape[:2] != size:
            raise ShapeError(f"fused[{i}] has size {f.shape[:2]} but fused[0] has size {size}")
    sources = {"ir": _to_levels(ir, "ir"), "vi": _to_levels(vi, "vi")}
    refs = {"ir": ir_ref, "vi": vi_ref}
    for key in ("ir", "vi"):
        if size is not None and sources[key].shape[:2] != size:
            raise ShapeError(f"{key} has size {sources[key].shape[:2]} but fused has size {size}")
        if refs[key] is not None:
            r = _to_levels(refs[key], f"{key}_ref")
            if r.shape[:2] != sources[key].shape[:2]:
                raise ShapeError(f"{key}_ref has size {r.shape[:2]} but {key} has size {sources[key].shape[:2]}")
            sources[key] = r
    used = {k: ("clean" if refs[k] is not None else "input") for k in ("ir", "vi")}
    results: list[dict[str, float]] = []
    errors: list[dict[str, str]] = []
    with source_cache() as cache:
        src = _Sources(sources["ir"], sources["vi"], prof, cache)
        for f in levels:
            values, errs = _score(prof, names, src.triplets(f))
            results.append(values)
            errors.append(errs)
    if not return_meta:
        return results
    meta = {
        "profile": prof.name,
        "metrics": names,
        "references": used,
        "reference_based": [m for m in names if m not in NO_REFERENCE_METRICS],
        "no_reference": [m for m in names if m in NO_REFERENCE_METRICS],
        "errors": errors,
    }
    return results, meta


def evaluate(
    fused: np.ndarray,
    ir: np.ndarray,
    vi: np.ndarray,
    ir_ref: np.ndarray | None = None,
    vi_ref: np.ndarray | None = None,
    *,
    profile: str | Profile = "mmfuse",
    metrics: str | Sequence[str] | None = None,
    return_meta: bool = False,
) -> dict[str, float] | tuple[dict[str, float], dict[str, Any]]:
    """Score one fused image against its infrared and visible sources.

    Inputs are arrays as loaded by :mod:`mmfuse.io` (float in [0, 1]) or raw 8-bit data
    (uint8 0..255); uint16 is scaled to 8 bits. Every image is mapped to 8-bit grey levels
    first (floats: ``rint(255·x)``, the value an 8-bit PNG would store), because every
    reference toolbox computes on 8-bit images. The profile then converts colour and calls the
    metric functions with its conventions.

    Degraded-fusion protocol (TG-ECNet): when ``ir_ref``/``vi_ref`` (clean, undegraded
    sources) are given, every reference-based metric compares the fused image with them
    instead of with the degraded inputs ``ir``/``vi``; the no-reference metrics (EN, SD, SF, AG,
    EI) use the fused image alone. ``ir``/``vi`` are then only checked for size. The metadata
    (``return_meta=True``) says which references were used.

    Args:
        fused: ``(H, W)`` or ``(H, W, 3)`` fused image.
        ir: ``(H, W)`` (or ``(H, W, 3)``) infrared input.
        vi: ``(H, W)`` or ``(H, W, 3)`` visible input.
        ir_ref: clean infrared reference (same size), or None.
        vi_ref: clean visible reference (same size), or None.
        profile: ``"mmfuse"`` (default), ``"vifb"``, ``"tang"``, ``"cddfuse"`` or a
            :class:`~mmfuse.metrics.profiles.Profile`.
        metrics: None (the profile's default set), ``"all"``, ``"EN,SSIM"`` or a list of names.
        return_meta: also return a metadata dict.

    Returns:
        ``{metric: value}`` in :data:`~mmfuse.metrics.profiles.METRICS` order; with
        ``return_meta`` a tuple ``(values, meta)`` where ``meta`` has ``profile``, ``metrics``,
        ``references`` (``{"ir": "clean"|"input", "vi": "clean"|"input"}``),
        ``reference_based``, ``no_reference`` and ``errors`` (metric → reason for a NaN caused
        by an image too small for that metric).

    Raises:
        ShapeError: images of different sizes or unsupported shapes.
        InputError: bad values, unknown profile or metric.
    """
    out = evaluate_many([fused], ir, vi, ir_ref, vi_ref, profile=profile, metrics=metrics, return_meta=return_meta)
    if not return_meta:
        return out[0]  # type: ignore[index,return-value]
    values, meta = out  # type: ignore[misc]
    meta["errors"] = meta["errors"][0]
    return values[0], meta


# ----------------------------------------------------------------------------------------------
# folders


@dataclass
class FolderEvaluation:
    """Result of :func:`evaluate_folders`.

    Attributes:
        rows: one dict per scored image: ``{"name": stem, metric: value, ...}``.
        failures: ``(name or path, reason)`` for every skipped item.
        mean: metric → mean over the rows (NaN-aware; NaN if no row has a value).
        metrics: the metric columns, in order.
        profile: the profile name.
        references: ``{"ir": "clean"|"input", "vi": "clean"|"input"}``.
        csv_path: the CSV written, if any.
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    mean: dict[str, float] = field(default_factory=dict)
    metrics: list[str] = field(default_factory=list)
    profile: str = "mmfuse"
    references: dict[str, str] = field(default_factory=dict)
    csv_path: Path | None = None

    def __iter__(self) -> Iterable[Any]:
        """Unpack as ``rows, failures``."""
        return iter((self.rows, self.failures))


def _index_folder(folder: Path, what: str) -> tuple[dict[str, Path], list[tuple[str, str]]]:
    from mmfuse.io import list_images

    if not folder.is_dir():
        raise InputError(f"{folder}: {what} folder not found")
    by_stem: dict[str, list[Path]] = {}
    for p in list_images(folder):
        by_stem.setdefault(p.stem, []).append(p)
    unique = {k: v[0] for k, v in by_stem.items() if len(v) == 1}
    dups = [(k, f"several {what} files share this name: {', '.join(p.name for p in v)}") for k, v in by_stem.items() if len(v) > 1]
    return unique, dups


def _read(path: Path) -> np.ndarray:
    from mmfuse.io import read_raw

    return read_raw(path)


def _format(v: float) -> str:
    return "nan" if isinstance(v, float) and math.isnan(v) else repr(float(v))


def _csv_text(rows: list[dict[str, Any]], metrics: list[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["name", *metrics])
    for r in rows:
        w.writerow([r["name"], *(_format(r[m]) for m in metrics)])
    return buf.getvalue()


def evaluate_folders(
    fused_dir: str | os.PathLike,
    ir_dir: str | os.PathLike,
    vi_dir: str | os.PathLike,
    ir_ref_dir: str | os.PathLike | None = None,
    vi_ref_dir: str | os.PathLike | None = None,
    *,
    profile: str | Profile = "mmfuse",
    metrics: str | Sequence[str] | None = None,
    output_csv: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> FolderEvaluation:
    """Score every fused image of a folder against the sources with the same file stem.

    Files are paired by stem (``a.png`` ↔ ``a.jpg``); the fused folder drives the list. A
    fused image whose partner is missing, ambiguous, unreadable or of a different size is
    reported in ``failures`` and skipped; the run never stops for one bad item. The CSV has a
    ``name`` column and one column per metric; a JSON sidecar (``<csv>.json``) records the
    profile, the metric list, which references were used, the means and the failures.

    Args:
        fused_dir: folder of fused images.
        ir_dir: folder of infrared inputs.
        vi_dir: folder of visible inputs.
        ir_ref_dir: folder of clean infrared references (degraded-fusion protocol), or None.
        vi_ref_dir: folder of clean visible references, or None.
        profile: metric convention profile.
        metrics: selection as in :func:`evaluate`.
        output_csv: CSV file to write (atomically), or None.
        overwrite: replace an existing CSV/JSON.
        progress: show a progress bar (tqdm, on stderr).

    Returns:
        A :class:`FolderEvaluation` (unpacks as ``rows, failures``).

    Raises:
        InputError: a folder is missing, the output exists (without ``overwrite``), no fused
            image at all, or a bad profile/metric selection.
    """
    from mmfuse.io import check_writable, write_text

    prof = get_profile(profile)
    names = resolve_metrics(metrics, prof)
    if output_csv is not None:
        check_writable(output_csv, overwrite=overwrite)
        check_writable(f"{output_csv}.json", overwrite=overwrite)
    folders: dict[str, Path | None] = {
        "fused": Path(fused_dir),
        "ir": Path(ir_dir),
        "vi": Path(vi_dir),
        "ir_ref": Path(ir_ref_dir) if ir_ref_dir is not None else None,
        "vi_ref": Path(vi_ref_dir) if vi_ref_dir is not None else None,
    }
    index: dict[str, dict[str, Path]] = {}
    failures: list[tuple[str, str]] = []
    ambiguous: dict[str, dict[str, str]] = {}
    for key, folder in folders.items():
        if folder is None:
            continue
        files, dups = _index_folder(folder, key.replace("_", " "))
        index[key] = files
        for stem, msg in dups:
            ambiguous.setdefault(stem, {})[key] = msg
    stems = sorted(set(index["fused"]) | {s for s, d in ambiguous.items() if "fused" in d})
    if not stems:
        raise InputError(f"{folders['fused']}: no fused images found")
    references = {"ir": "clean" if folders["ir_ref"] else "input", "vi": "clean" if folders["vi_ref"] else "input"}
    result = FolderEvaluation(metrics=names, profile=prof.name, references=references)

    iterator: Iterable[str] = stems
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(stems, desc=f"eval [{prof.name}]", unit="img", leave=False)
        iterator = bar
    for stem in iterator:
        if stem in ambiguous:
            failures.extend((stem, msg) for msg in ambiguous[stem].values())
            continue
        missing = [k for k in index if stem not in index[k]]
        if missing:
            where = ", ".join(f"{k.replace('_', ' ')} ({folders[k]})" for k in missing)
            failures.append((stem, f"no image with this name in {where}"))
            continue
        try:
            imgs = {k: _read(index[k][stem]) for k in index}
            vals = evaluate(
                imgs["fused"],
                imgs["ir"],
                imgs["vi"],
                imgs.get("ir_ref"),
                imgs.get("vi_ref"),
                profile=prof,
                metrics=names,
            )
        except ShapeError as err:
            failures.append((stem, f"size mismatch: {err}"))
            continue
        except MMFuseError as err:
            failures.append((stem, str(err).splitlines()[0] if str(err) else type(err).__name__))
            continue
        result.rows.append({"name": stem, **vals})  # type: ignore[dict-item]
    if bar is not None:
        bar.close()
    result.failures = failures
    for m in names:
        col = np.array([r[m] for r in result.rows], dtype=np.float64)
        finite = col[np.isfinite(col)]
        result.mean[m] = float(finite.mean()) if finite.size else float("nan")
    if output_csv is not None:
        result.csv_path = Path(output_csv)
        write_text(result.csv_path, _csv_text(result.rows, names), overwrite=overwrite)
        meta = {
            "profile": prof.name,
            "metrics": names,
            "references": references,
            "folders": {k: (str(v) if v is not None else None) for k, v in folders.items()},
            "n_scored": len(result.rows),
            "mean": {m: (None if math.isnan(v) else v) for m, v in result.mean.items()},
            "failures": [{"name": n, "reason": r} for n, r in failures],
        }
        write_text(f"{output_csv}.json", json.dumps(meta, indent=2) + "\n", overwrite=overwrite)
    return result
