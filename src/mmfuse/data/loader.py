"""A resumable, rank-independent stream of training samples and its DataLoader.

Training draws from an endless sequence of *sample positions* ``k = 0, 1, 2, ...``. Position
``k`` is item ``perm_e[k mod n]`` of epoch ``e = k // n``, where ``perm_e`` is a permutation
seeded by ``(seed, e)`` and ``n`` is the dataset length; every random transform of the item
(crop, flip, degradation, synthesis) is seeded by ``(seed, e, item index)``. Global batch ``b``
is positions ``[b·G, (b+1)·G)`` for a global batch size ``G``; under DistributedDataParallel
with ``W`` processes, rank ``r`` loads the contiguous slice
``[b·G + r·G/W, b·G + (r+1)·G/W)``.

Consequences, all tested:

* the global sequence of samples does not depend on the number of processes or workers, so
  ``W`` processes with ``G/W`` samples each see exactly what one process with ``G`` sees (and,
  without batch-coupled layers, end with the same parameters);
* resuming at step ``s`` restarts the stream at batch ``s``: nothing is repeated or skipped.
"""
from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from mmfuse.errors import InputError, ShapeError

__all__ = ["SampleStream", "ShardedBatchSampler", "collate_items", "worker_init", "make_loader"]

_PERM_SALT = 0x5045524D


class SampleStream(Dataset):
    """Map a global sample position to an item (see the module docstring).

    Args:
        dataset: finite dataset of items.
        seed: run seed (the epoch permutations and item transforms derive from it).
        epoch_aware: datasets in the chain whose ``set_epoch(epoch)`` must be called before an
            item of that epoch is read (random crops, degradations, synthetic pairs).
        shuffle: permute each epoch (``False``: positions run through the items in order).
    """

    def __init__(self, dataset: Dataset, *, seed: int = 0, epoch_aware: Sequence[Any] = (), shuffle: bool = True) -> None:
        n = len(dataset)  # type: ignore[arg-type]
        if n == 0:
            raise InputError("training dataset is empty")
        self.dataset = dataset
        self.n = n
        self.seed = int(seed)
        self.epoch_aware = list(epoch_aware)
        self.shuffle = shuffle
        self._perm_epoch = -1
        self._perm = np.arange(n)

    def __len__(self) -> int:
        return self.n

    def index_of(self, position: int) -> tuple[int, int]:
        """``(epoch, item index)`` of a global sample position."""
        epoch, j = divmod(int(position), self.n)
        if not self.shuffle:
            return epoch, j
        if epoch != self._perm_epoch:
            rng = np.random.default_rng([self.seed & 0xFFFFFFFF, _PERM_SALT, epoch])
            self._perm = rng.permutation(self.n)
            self._perm_epoch = epoch
        return epoch, int(self._perm[j])

    def __getitem__(self, position: int) -> dict[str, Any]:
        epoch, index = self.index_of(position)
        for d in self.epoch_aware:
            d.set_epoch(epoch)
        return self.dataset[index]


class ShardedBatchSampler(Sampler[list[int]]):
    """Yield this rank's slice of global batches ``start, start+1, ..., stop-1``.

    Args:
        global_batch: samples per optimisation step over all processes (``G``).
        start: first global batch (the step to resume from).
        stop: one past the last global batch.
        rank: this process's rank.
        world_size: number of processes (``W``); must divide ``G``.
    """

    def __init__(self, global_batch: int, start: int, stop: int, *, rank: int = 0, world_size: int = 1) -> None:
        if global_batch < 1:
            raise InputError(f"batch size must be at least 1, got {global_batch}")
        if global_batch % world_size:
            raise InputError(f"batch size {global_batch} is not divisible by the number of processes {world_size}")
        self.global_batch = global_batch
        self.per_rank = global_batch // world_size
        self.start, self.stop = int(start), int(stop)
        self.rank = rank

    def __len__(self) -> int:
        return max(self.stop - self.start, 0)

    def __iter__(self) -> Iterator[list[int]]:
        for b in range(self.start, self.stop):
            first = b * self.global_batch + self.rank * self.per_rank
            yield list(range(first, first + self.per_rank))


def collate_items(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack a list of items into a batch of tensors.

    ``(H, W)`` arrays become ``(B, 1, H, W)`` float tensors, ``(H, W, C)`` arrays
    ``(B, C, H, W)``; integers and floats become 1-D tensors; strings become lists.

    Raises:
        ShapeError: images under one key differ in shape (crop them first).
    """
    if not items:
        raise InputError("cannot collate an empty batch")
    keys = items[0].keys()
    out: dict[str, Any] = {}
    for k in keys:
        vals = [it[k] for it in items]
        v0 = vals[0]
        if isinstance(v0, np.ndarray):
            shapes = {v.shape for v in vals}
            if len(shapes) > 1:
                raise ShapeError(f"batch key {k!r}: items have different shapes {sorted(shapes)}; use a crop size")
            arr = np.stack(vals)
            arr = arr[:, None] if arr.ndim == 3 else arr.transpose(0, 3, 1, 2)
            out[k] = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
        elif isinstance(v0, (bool, int, np.integer)):
            out[k] = torch.tensor([int(v) for v in vals], dtype=torch.long)
        elif isinstance(v0, (float, np.floating)):
            out[k] = torch.tensor([float(v) for v in vals], dtype=torch.float32)
        elif isinstance(v0, torch.Tensor):
            out[k] = torch.stack(vals)
        else:
            out[k] = list(vals)
    return out


def worker_init(worker_id: int) -> None:
    """Seed ``random`` and ``numpy``'s global generators in a DataLoader worker.

    The stream itself never uses global generators; this only makes third-party code inside
    datasets deterministic. PyTorch already seeds each worker's torch generator.
    """
    s = torch.initial_seed() % 2**32
    random.seed(s)
    np.random.seed(s)


def make_loader(
    stream: SampleStream,
    *,
    global_batch: int,
    start_step: int,
    stop_step: int,
    rank: int = 0,
    world_size: int = 1,
    num_workers: int = 0,
    seed: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """DataLoader over ``stream`` yielding this rank's batches of steps ``start_step .. stop_step - 1``.

    Args:
        stream: the sample stream.
        global_batch: samples per step over all ranks.
        start_step: first step (global batch index) to load.
        stop_step: one past the last step.
        rank: process rank.
        world_size: number of processes.
        num_workers: worker processes (0: load in the main process).
        seed: seeds the workers' base seed (see :func:`worker_init`).
        pin_memory: pin host memory (for GPU training).
    """
    sampler = ShardedBatchSampler(global_batch, start_step, stop_step, rank=rank, world_size=world_size)
    gen = torch.Generator()
    gen.manual_seed(int(seed) * 1000 + rank)
    return DataLoader(
        stream,
        batch_sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate_items,
        worker_init_fn=worker_init if num_workers > 0 else None,
        generator=gen,
        pin_memory=pin_memory,
        persistent_workers=False,
    )
