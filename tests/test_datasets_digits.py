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


def test_digits2_splits_are_stratified_disjoint_and_seeded():
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from bench.datasets.digits import Digits2

    splits = {name: Digits2(split=name) for name in ("train", "val", "test")}
    assert [len(s) for s in splits.values()] == [240, 60, 60]  # 178 zeros + 182 ones
    counts = {name: np.bincount(s.targets.numpy(), minlength=2).tolist() for name, s in splits.items()}
    assert counts == {"train": [119, 121], "val": [29, 31], "test": [30, 30]}
    rows = [set(s.original_index.tolist()) for s in splits.values()]
    target = load_digits().target
    assert set.union(*rows) == set(np.flatnonzero(target <= 1).tolist()) and sum(map(len, rows)) == 360
    candidates = np.flatnonzero(target <= 1)
    expected, _ = train_test_split(candidates, train_size=240, random_state=0, stratify=target[candidates])
    assert splits["train"].original_index.tolist() == expected.tolist()
    first_val = f"digits-{splits['val'].original_index[0]:04d}"
    assert Digits2(split="val").sample_id(0) == splits["val"].sample_id(0) == first_val
    assert Digits2(split="train", split_seed=1).original_index.tolist() != expected.tolist()
    assert Digits2(split="train").fingerprint() == splits["train"].fingerprint()


def test_digits2_items_are_nearest_neighbour_upsampled():
    from sklearn.datasets import load_digits

    from bench.datasets.digits import Digits2

    data = Digits2(split="test", classes=(3, 8), size=16)
    assert set(data.targets.tolist()) == {3, 8}
    item = data[0]
    assert item["image"].shape == (1, 16, 16) and item["image"].dtype == torch.float32
    source = torch.from_numpy(load_digits().images[int(data.original_index[0])] / 16.0).float()
    assert torch.equal(item["image"][0], source.repeat_interleave(2, 0).repeat_interleave(2, 1))
    assert Digits2(split="val", size=24)[0]["image"].shape == (1, 24, 24)
    assert data.describe() == {"type": "Digits2", "num_samples": len(data), "split": "test", "split_seed": 0,
                               "classes": [3, 8], "size": 16, "resize": "nearest neighbour from 8x8"}


def test_digits2_bad_arguments_say_what_is_expected():
    from bench.datasets.digits import Digits2
    from bench.registry import DATASETS

    assert DATASETS.get("Digits2") is Digits2
    with pytest.raises(ValueError, match=r"classes must be two different digits in 0..9, got \(1, 1\)"):
        Digits2(classes=(1, 1))
    with pytest.raises(ValueError, match=r"classes must be two different digits in 0..9, got \(1, 10\)"):
        Digits2(classes=(1, 10))
    with pytest.raises(ValueError, match="size must be an int >= 8"):
        Digits2(size=4)
    with pytest.raises(ValueError, match="train_size \\+ val_size must leave test images: 300 \\+ 60 of 360"):
        Digits2(train_size=300)
    with pytest.raises(ValueError, match="Digits2 split must be one of"):
        Digits2(split="gen")
