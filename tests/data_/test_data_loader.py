"""The sample stream: epoch coverage, rank sharding, resumption, collation, worker independence."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mmfuse.data import PairedFolderDataset, RandomCropFlip, SampleStream, ShardedBatchSampler, collate_items, make_loader
from mmfuse.errors import InputError, ShapeError


class _Numbers:
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        return {"name": f"n{i}", "ir": np.full((2, 2), i, np.float32), "label": i}


def test_every_epoch_visits_each_item_once():
    s = SampleStream(_Numbers(7), seed=1)
    for epoch in range(3):
        idx = [s.index_of(epoch * 7 + j)[1] for j in range(7)]
        assert sorted(idx) == list(range(7))
    e0 = [s.index_of(j)[1] for j in range(7)]
    e1 = [s.index_of(7 + j)[1] for j in range(7)]
    assert e0 != e1  # reshuffled
    assert [SampleStream(_Numbers(7), seed=1).index_of(j)[1] for j in range(7)] == e0
    assert [SampleStream(_Numbers(7), shuffle=False).index_of(j)[1] for j in range(7)] == list(range(7))
    with pytest.raises(InputError, match="empty"):
        SampleStream(_Numbers(0))


def test_ranks_split_the_global_batch():
    one = list(ShardedBatchSampler(6, 0, 4))
    two = [list(ShardedBatchSampler(6, 0, 4, rank=r, world_size=2)) for r in range(2)]
    three = [list(ShardedBatchSampler(6, 0, 4, rank=r, world_size=3)) for r in range(3)]
    for b in range(4):
        assert one[b] == two[0][b] + two[1][b] == three[0][b] + three[1][b] + three[2][b]
        assert one[b] == list(range(6 * b, 6 * b + 6))
    with pytest.raises(InputError, match="not divisible"):
        ShardedBatchSampler(5, 0, 1, world_size=2)


def test_resuming_continues_the_same_sequence(ivif_dir):
    ds = PairedFolderDataset(ivif_dir)
    crop = RandomCropFlip(ds, 32, seed=4)
    stream = SampleStream(crop, seed=4, epoch_aware=[crop])
    full = list(make_loader(stream, global_batch=2, start_step=0, stop_step=5))
    tail = list(make_loader(stream, global_batch=2, start_step=3, stop_step=5))
    assert len(full) == 5 and len(tail) == 2
    for a, b in zip(full[3:], tail):
        assert a["name"] == b["name"]
        assert torch.equal(a["ir"], b["ir"]) and torch.equal(a["vis"], b["vis"])
    # a rank's share of a global batch is exactly that slice of the single-process batch
    r1 = list(make_loader(stream, global_batch=2, start_step=0, stop_step=5, rank=1, world_size=2))
    for a, b in zip(full, r1):
        assert torch.equal(a["vis"][1:], b["vis"]) and a["name"][1:] == b["name"]


def test_workers_do_not_change_the_batches(ivif_dir):
    ds = PairedFolderDataset(ivif_dir).preload()
    crop = RandomCropFlip(ds, 24, seed=0)
    stream = SampleStream(crop, seed=0, epoch_aware=[crop])
    a = list(make_loader(stream, global_batch=3, start_step=0, stop_step=3, num_workers=0))
    b = list(make_loader(stream, global_batch=3, start_step=0, stop_step=3, num_workers=2))
    for x, y in zip(a, b):
        assert torch.equal(x["ir"], y["ir"]) and torch.equal(x["vis"], y["vis"])


def test_collate_shapes_and_types():
    items = [
        {"name": "a", "ir": np.zeros((4, 5), np.float32), "vis": np.ones((4, 5, 3), np.float32), "label": 2, "w": 0.5, "setting": "rain"},
        {"name": "b", "ir": np.ones((4, 5), np.float32), "vis": np.zeros((4, 5, 3), np.float32), "label": 1, "w": 1.5, "setting": "haze"},
    ]
    b = collate_items(items)
    assert b["ir"].shape == (2, 1, 4, 5) and b["vis"].shape == (2, 3, 4, 5)
    assert b["ir"].dtype == torch.float32 and b["ir"][1].min() == 1.0
    assert b["vis"][0, :, 0, 0].tolist() == [1.0, 1.0, 1.0]
    assert b["label"].tolist() == [2, 1] and b["label"].dtype == torch.long
    assert b["w"].tolist() == [0.5, 1.5]
    assert b["name"] == ["a", "b"] and b["setting"] == ["rain", "haze"]
    items[1]["ir"] = np.zeros((3, 5), np.float32)
    with pytest.raises(ShapeError, match="'ir'"):
        collate_items(items)
