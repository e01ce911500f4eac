"""Training data: folder datasets, split files, joint crops/flips, synthetic pairs, a resumable stream.

* :class:`PairedFolderDataset`: infrared/visible pairs matched by stem, optional clean
  references and labels, split files (:func:`load_split`), images cached in memory;
* :class:`ImageFolderDataset` + :class:`SyntheticPairs`: multi-exposure / multi-focus pairs
  made from single images (TC-MoA's MEF/MFF stand-ins);
* :class:`RandomCropFlip`: the same random crop / flips for every image of an item;
* :class:`OnTheFlyDegradation`: degrade clean pairs per sample and epoch with a preset of
  :mod:`mmfuse.degrade` (written with the degradation subsystem, ``mmfuse/data/degraded.py``);
* :class:`SampleStream`, :class:`ShardedBatchSampler`, :func:`make_loader`: an endless,
  seeded sample order that is identical for any number of processes and workers, and can be
  resumed at any step;
* :func:`collate_items`: items (numpy ``(H, W)`` / ``(H, W, 3)``) → tensors ``(B, C, H, W)``.
"""
from mmfuse.data.degraded import OnTheFlyDegradation
from mmfuse.data.loader import SampleStream, ShardedBatchSampler, collate_items, make_loader, worker_init
from mmfuse.data.pairs import ImageFolderDataset, PairedFolderDataset, load_split
from mmfuse.data.synthetic import (
    SyntheticPairs,
    defocus,
    make_multi_exposure_pair,
    make_multi_focus_pair,
    random_focus_mask,
)
from mmfuse.data.transforms import RandomCropFlip, center_crop_item, crop_item, flip_item, item_rng, pad_to_size

__all__ = [
    "ImageFolderDataset",
    "OnTheFlyDegradation",
    "PairedFolderDataset",
    "RandomCropFlip",
    "SampleStream",
    "ShardedBatchSampler",
    "SyntheticPairs",
    "center_crop_item",
    "collate_items",
    "crop_item",
    "defocus",
    "flip_item",
    "item_rng",
    "load_split",
    "make_loader",
    "make_multi_exposure_pair",
    "make_multi_focus_pair",
    "pad_to_size",
    "random_focus_mask",
    "worker_init",
]
