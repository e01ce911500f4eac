"""OnTheFlyDegradation: per-(seed, epoch, index) determinism, labels, weights, single-modality mode, loaders."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from torch.utils.data import DataLoader, Dataset

from mmfuse.data import SampleStream, collate_items
from mmfuse.data.degraded import OnTheFlyDegradation
from mmfuse.degrade import apply_setting, load_preset
from mmfuse.errors import InputError


class Crops(Dataset):
    """Six 48x64 crops of the real RoadScene pair (clean items as mmfuse datasets yield them)."""

    def __init__(self, pair):
        ir, vi = pair
        self.items = [{"name": f"c{i}", "ir": ir[40 * i:40 * i + 48, 64:128].copy(),
                       "vis": vi[40 * i:40 * i + 48, 64:128].copy(), "extra": i} for i in range(6)]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return dict(self.items[i])


def same(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    return all(np.array_equal(a[k], b[k]) if isinstance(a[k], np.ndarray) else a[k] == b[k] for k in a)


def test_pair_items(pair):
    ds = Crops(pair)
    w = OnTheFlyDegradation(ds, "demmi-rf", seed=3)
    assert w.labels == load_preset("demmi-rf").names and w.num_labels == 24 and len(w) == 6
    for i in range(6):
        it = w[i]
        assert set(it) == {"name", "ir", "vis", "ir_clean", "vis_clean", "label", "setting", "extra"}
        assert it["extra"] == i and w.labels[it["label"]] == it["setting"]
        np.testing.assert_array_equal(it["ir_clean"], ds[i]["ir"])
        np.testing.assert_array_equal(it["vis_clean"], ds[i]["vis"])
        assert it["ir"].shape == (48, 64) and it["vis"].shape == (48, 64, 3) and it["vis"].dtype == np.float32
        # the item is exactly apply_setting with the drawn seed
        label, seed = w.draw(i)
        ir_d, vis_d, _ = apply_setting(ds[i]["ir"], ds[i]["vis"], w.preset.settings[label], seed)
        np.testing.assert_array_equal(it["ir"], ir_d)
        np.testing.assert_array_equal(it["vis"], vis_d)


def test_deterministic_per_seed_epoch_index_and_different_across_epochs(pair):
    a = OnTheFlyDegradation(Crops(pair), seed=1)
    b = OnTheFlyDegradation(Crops(pair), seed=1)
    for i in reversed(range(6)):  # order of access does not matter
        assert same(a[i], b[i])
    e0 = [a[i] for i in range(6)]
    a.set_epoch(1)
    e1 = [a[i] for i in range(6)]
    assert not all(same(x, y) for x, y in zip(e0, e1))
    assert {a.draw(i) for i in range(6)} != {b.draw(i) for i in range(6)}
    a.set_epoch(0)
    assert all(same(x, a[i]) for i, x in enumerate(e0))
    c = OnTheFlyDegradation(Crops(pair), seed=2)
    assert [c.draw(i) for i in range(6)] != [b.draw(i) for i in range(6)]


def test_weights_select_and_balance_settings(pair):
    six = {"noise15": 1, "noise25": 1, "noise50": 1, "haze": 1, "defocus": 1, "stripe": 1}
    w = OnTheFlyDegradation(Crops(pair), weights=six, seed=0)
    counts = Counter()
    for epoch in range(400):
        w.set_epoch(epoch)
        counts.update(w.labels[w.draw(i)[0]] for i in range(6))
    assert set(counts) == set(six)
    assert all(abs(c / 2400 - 1 / 6) < 0.03 for c in counts.values())  # 2400 draws: 3 sigma ~ 0.023
    seq = [0.0] * 24
    seq[w.labels.index("noise50+haze+defocus+stripe")] = 2.0
    only = OnTheFlyDegradation(Crops(pair), weights=seq)
    assert {only[i]["setting"] for i in range(6)} == {"noise50+haze+defocus+stripe"}
    assert "noise50+haze+defocus+stripe=1" in repr(only)


@pytest.mark.parametrize("weights,match", [
    ({"noise30": 1}, "unknown setting"), ([1.0] * 3, "24 settings"), ({"haze": -1}, ">= 0"),
    ({"haze": 0}, "not all 0"), ([float("nan")] * 24, "finite"),
])
def test_bad_weights(pair, weights, match):
    with pytest.raises(InputError, match=match):
        OnTheFlyDegradation(Crops(pair), weights=weights)


def test_bad_mode_preset_and_items(pair):
    with pytest.raises(InputError, match="mode"):
        OnTheFlyDegradation(Crops(pair), mode="both")
    with pytest.raises(InputError, match="unknown preset"):
        OnTheFlyDegradation(Crops(pair), preset="nope")
    with pytest.raises(InputError, match="'ir' and 'vis'"):
        OnTheFlyDegradation([{"image": np.zeros((4, 4), np.float32)}])[0]


def test_single_modality_mode(pair):
    ds = Crops(pair)
    for vis_gray, channels in ((True, None), (False, 3)):
        w = OnTheFlyDegradation(ds, weights={"noise25": 1, "stripe": 1, "clean": 1, "noise25+stripe": 1},
                                mode="single", vis_gray=vis_gray, seed=5)
        seen = set()
        for epoch in range(8):
            w.set_epoch(epoch)
            for i in range(6):
                it = w[i]
                assert set(it) == {"name", "modality", "input", "target", "label", "setting"}
                shape = (48, 64) if channels is None else (48, 64, channels)
                assert it["input"].shape == it["target"].shape == shape
                s = w.preset.settings[it["label"]]
                if s.name == "noise25":
                    assert it["modality"] == "vis"
                if s.name == "stripe":
                    assert it["modality"] == "ir"
                if s.name == "clean":
                    np.testing.assert_array_equal(it["input"], it["target"])
                else:
                    assert np.abs(it["input"] - it["target"]).mean() > 1e-3
                seen.add((s.name, it["modality"]))
        assert {("noise25+stripe", "vis"), ("noise25+stripe", "ir"), ("clean", "vis"), ("clean", "ir")} <= seen


def test_vis_gray_in_pair_mode_degrades_colour_first(pair):
    ds = Crops(pair)
    g = OnTheFlyDegradation(ds, weights={"noise50": 1}, vis_gray=True)[0]
    c = OnTheFlyDegradation(ds, weights={"noise50": 1})[0]
    assert g["vis"].shape == (48, 64) and g["vis_clean"].shape == (48, 64)
    np.testing.assert_allclose(g["vis"], c["vis"] @ np.array([0.299, 0.587, 0.114], np.float32), atol=1e-5)


def test_works_with_the_sample_stream_and_dataloader_workers(pair):
    w = OnTheFlyDegradation(Crops(pair), seed=9)
    stream = SampleStream(w, seed=9, epoch_aware=[w])
    positions = list(range(14))  # crosses into epoch 2
    direct = [stream[k] for k in positions]
    loader = DataLoader(stream, batch_size=7, num_workers=2, collate_fn=collate_items,
                        sampler=positions, multiprocessing_context="fork")
    batches = list(loader)
    assert batches[0]["ir"].shape == (7, 1, 48, 64) and batches[0]["vis"].shape == (7, 3, 48, 64)
    labels = [int(x) for b in batches for x in b["label"]]
    assert labels == [d["label"] for d in direct]
    got = np.concatenate([b["vis"].numpy() for b in batches])
    want = np.stack([d["vis"].transpose(2, 0, 1) for d in direct])
    np.testing.assert_array_equal(got, want)
