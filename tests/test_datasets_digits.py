import pytest
import torch

from bench.datasets.digits import Digits


def test_splits_partition_the_1797_images():
    splits = {name: Digits(split=name) for name in ("train", "val", "test")}
    assert [len(s) for s in splits.values()] == [1000, 297, 500]
    ids = [set(s.sample_id(i) for i in range(len(s))) for s in splits.values()]
    assert set.union(*ids) == {f"digits-{i:04d}" for i in range(1797)}


def test_items_and_stable_ids():
    data = Digits(split="test")
    item = data[0]
    assert item["image"].shape == (1, 8, 8) and 0.0 <= float(item["image"].min()) <= float(item["image"].max()) <= 1.0
    assert item["target"].dtype == torch.int64
    assert data.sample_id(0) == Digits(split="test").sample_id(0)
    assert data.fingerprint() == Digits(split="test").fingerprint() != Digits(split="test", split_seed=1).fingerprint()


def test_unknown_split():
    with pytest.raises(ValueError, match="split must be one of"):
        Digits(split="dev")
