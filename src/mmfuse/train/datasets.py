"""Build training streams and validation items from the ``data`` section of a config."""
from __future__ import annotations

from typing import Any

from torch.utils.data import ConcatDataset, Dataset

from mmfuse.data.loader import SampleStream
from mmfuse.data.pairs import ImageFolderDataset, PairedFolderDataset, load_split
from mmfuse.data.synthetic import SyntheticPairs
from mmfuse.data.transforms import RandomCropFlip, center_crop_item
from mmfuse.errors import ConfigError, InputError
from mmfuse.train.config import DataConfig, SourceConfig

__all__ = ["build_source", "check_data", "build_train_stream", "build_val_items"]


def build_source(src: SourceConfig, section: str, *, cache: bool = True) -> Dataset:
    """The dataset of one source (pairs, or the single images of a synthetic source).

    Args:
        src: source config.
        section: ``"train"`` or ``"val"`` (the default split name).
        cache: keep decoded images in memory (and decode them now).
    """
    split = src.split or section
    if src.kind == "pairs":
        ds: Any = PairedFolderDataset(
            src.root,
            ir_dir=src.ir_dir,
            vis_dir=src.vis_dir,
            ir_clean_dir=src.ir_clean_dir,
            vis_clean_dir=src.vis_clean_dir,
            split_file=src.split_file,
            split=split,
            label=src.label,
            cache=cache,
        )
    else:
        for key in ("ir_dir", "vis_dir", "ir_clean_dir", "vis_clean_dir", "label"):
            if getattr(src, key) is not None:
                raise ConfigError(f"data source {src.root}: {key!r} does not apply to kind {src.kind!r}")
        names = load_split(src.split_file, split) if src.split_file else None
        ds = ImageFolderDataset(src.root, names=names, cache=cache)
    return ds.preload() if cache else ds


def _kind(sources: list[SourceConfig], where: str) -> str:
    kinds = {s.kind for s in sources}
    if len(kinds) > 1:
        raise ConfigError(f"{where}: all sources of one stage must be of the same kind, got {', '.join(sorted(kinds))}")
    return kinds.pop()


def _degrader(dataset: Dataset, data: DataConfig, seed: int) -> Dataset:
    try:
        from mmfuse.data.degraded import OnTheFlyDegradation
    except ImportError as err:
        raise ConfigError(f"data.degradation: on-the-fly degradation is not available ({err})") from None
    deg = data.degradation
    assert deg is not None
    try:
        return OnTheFlyDegradation(dataset, preset=deg.preset, weights=deg.weights, seed=seed, mode=deg.mode, vis_gray=deg.vis_gray)
    except InputError as err:
        raise ConfigError(f"data.degradation: {err}") from None


def check_data(data: DataConfig, seed: int = 0) -> None:
    """Check the training sources of a data config without decoding images.

    Pairs the folders, reads split files and checks clean references and the degradation
    preset, so that a mistake is reported before training starts.

    Raises:
        InputError: see :class:`mmfuse.data.PairedFolderDataset`.
        ConfigError: mixed source kinds, or a degradation that cannot be built.
    """
    kind = _kind(data.train, "data.train")
    for src in data.train:
        ds = build_source(src, "train", cache=False)
        if kind == "pairs" and data.degradation is not None:
            _degrader(ds, data, seed)
        elif kind != "pairs" and data.degradation is not None:
            raise ConfigError("data.degradation: applies to infrared/visible pairs, not to synthetic sources")


def build_train_stream(data: DataConfig, crop_size: int, seed: int) -> SampleStream:
    """The endless training sample stream of a stage.

    Chain: sources (concatenated, each ``repeat`` times) → random crop/flip → on-the-fly
    degradation (pairs) or pair synthesis (multi-exposure / multi-focus) → :class:`SampleStream`.
    """
    kind = _kind(data.train, "data.train")
    parts: list[Dataset] = []
    for src in data.train:
        ds = build_source(src, "train", cache=data.cache)
        parts.extend([ds] * max(src.repeat, 1))
    base: Dataset = parts[0] if len(parts) == 1 else ConcatDataset(parts)
    epoch_aware: list[Any] = []
    degrade_first = kind == "pairs" and data.degradation is not None and data.degradation.before_crop
    if degrade_first:
        base = _degrader(base, data, seed)
        epoch_aware.append(base)
    crop = RandomCropFlip(base, crop_size, flip=data.flip, rot90=data.rot90, seed=seed)
    top: Dataset = crop
    epoch_aware.append(crop)
    if kind == "pairs":
        if data.degradation is not None and not degrade_first:
            top = _degrader(crop, data, seed)
            epoch_aware.append(top)
    else:
        if data.degradation is not None:
            raise ConfigError("data.degradation: applies to infrared/visible pairs, not to synthetic sources")
        top = SyntheticPairs(crop, kind, seed=seed)  # type: ignore[arg-type]
        epoch_aware.append(top)
    return SampleStream(top, seed=seed, epoch_aware=epoch_aware, shuffle=data.shuffle)


def build_val_items(data: DataConfig, seed: int, *, max_items: int | None = None, crop: int | None = None) -> list[dict[str, Any]]:
    """Validation items (numpy, full size or centre-cropped), degraded/synthesised with fixed seeds.

    Returns:
        At most ``max_items`` items in source order; an empty list without ``data.val``.
    """
    if not data.val:
        return []
    kind = _kind(data.val, "data.val")
    parts = [build_source(src, "val", cache=False) for src in data.val]
    base: Dataset = parts[0] if len(parts) == 1 else ConcatDataset(parts)
    top: Any = base
    if kind == "pairs" and data.degradation is not None and data.degradation.validation:
        top = _degrader(base, data, seed)
    elif kind != "pairs":
        top = SyntheticPairs(base, kind, seed=seed)  # type: ignore[arg-type]
    if hasattr(top, "set_epoch"):
        top.set_epoch(0)
    n = len(top) if max_items is None else min(max_items, len(top))
    items = []
    for i in range(n):
        item = top[i]
        items.append(center_crop_item(item, crop) if crop else item)
    return items
