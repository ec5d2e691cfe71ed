"""CIFAR readers on tiny fixtures written in the official python-pickle layout."""
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from pickle_fixture import malicious_pickle

from bench.data import DatasetLayoutError
from bench.datasets.cifar import CIFAR10, CIFAR100, focal_calibration_split
from bench.registry import DATASETS

PER_BATCH, NUM_TEST = 20, 10


def write_pickle(path: Path, content: dict) -> None:
    with open(path, "wb") as f:
        pickle.dump(content, f)


def random_batch(rng: np.random.Generator, n: int, label_key: bytes, num_classes: int, tag: str) -> dict:
    return {b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
            label_key: rng.integers(0, num_classes, size=n).tolist(),
            b"filenames": [f"{tag}_{i}.png".encode() for i in range(n)]}


@pytest.fixture
def cifar10_root(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """5 data batches of 20 images, a test batch of 10; returns root, train data/labels, test data/labels."""
    rng = np.random.default_rng(0)
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    batches = [random_batch(rng, PER_BATCH, b"labels", 10, f"b{i}") for i in range(1, 6)]
    for i, batch in enumerate(batches, start=1):
        write_pickle(base / f"data_batch_{i}", batch)
    test = random_batch(rng, NUM_TEST, b"labels", 10, "t")
    write_pickle(base / "test_batch", test)
    write_pickle(base / "batches.meta", {b"label_names": [f"class{i}".encode() for i in range(10)]})
    train_data = np.concatenate([b[b"data"] for b in batches])
    train_labels = np.concatenate([b[b"labels"] for b in batches])
    return tmp_path, train_data, train_labels, test[b"data"], np.asarray(test[b"labels"])


@pytest.fixture
def cifar100_root(tmp_path: Path) -> tuple[Path, dict, dict]:
    rng = np.random.default_rng(1)
    base = tmp_path / "cifar-100-python"
    base.mkdir()
    train, test = (random_batch(rng, n, b"fine_labels", 100, tag) for n, tag in ((100, "tr"), (NUM_TEST, "te")))
    for batch in (train, test):
        batch[b"coarse_labels"] = [label // 5 for label in batch[b"fine_labels"]]
    write_pickle(base / "train", train)
    write_pickle(base / "test", test)
    write_pickle(base / "meta", {b"fine_label_names": [f"f{i}".encode() for i in range(100)],
                                 b"coarse_label_names": [f"c{i}".encode() for i in range(20)]})
    return tmp_path, train, test


def global_seed_shuffle(num_train: int, random_seed: int) -> list[int]:
    """focal_calibration's own shuffle (np.random.seed + np.random.shuffle on a list); restores the global state."""
    state = np.random.get_state()
    try:
        indices = list(range(num_train))
        np.random.seed(random_seed)
        np.random.shuffle(indices)
        return indices
    finally:
        np.random.set_state(state)


def test_local_random_state_equals_the_global_seed_shuffle():
    for num_train, seed in ((100, 1), (50000, 1), (37, 5)):
        indices = global_seed_shuffle(num_train, seed)
        split = int(np.floor(0.1 * num_train))
        assert focal_calibration_split(num_train, 0.1, seed) == (indices[split:], indices[:split])


def test_split_sizes_disjointness_and_focal_calibration_val(cifar10_root):
    root = cifar10_root[0]
    splits = {name: CIFAR10(root, split=name) for name in ("train", "val", "test", "train_full")}
    assert {name: len(s) for name, s in splits.items()} == {"train": 90, "val": 10, "test": 10, "train_full": 100}
    train, val = set(splits["train"].source_index.tolist()), set(splits["val"].source_index.tolist())
    assert not train & val and train | val == set(range(100))
    # focal_calibration Data/cifar10.py get_train_valid_loader with random_seed=1, valid_size=0.1
    indices = global_seed_shuffle(100, 1)
    assert splits["val"].source_index.tolist() == indices[:10]
    assert splits["train"].source_index.tolist() == indices[10:]
    assert splits["train_full"].source_index.tolist() == list(range(100))
    assert len(CIFAR10(root, split="val", valid_size=0.25)) == 25
    assert CIFAR10(root, split="val", split_seed=2).source_index.tolist() != indices[:10]


def test_pixels_and_labels_round_trip_from_the_pickle_bytes(cifar10_root):
    root, train_data, train_labels, test_data, test_labels = cifar10_root
    for split, data, labels in (("val", train_data, train_labels), ("test", test_data, test_labels)):
        dataset = CIFAR10(root, split=split)
        for index in (0, len(dataset) - 1):
            item = dataset[index]
            source = int(dataset.source_index[index])
            assert item["image"].shape == (3, 32, 32) and item["image"].dtype == torch.float32
            assert item["target"].dtype == torch.int64 and int(item["target"]) == labels[source]
            for c, y, x in ((0, 0, 0), (1, 5, 7), (2, 31, 31), (2, 17, 3)):
                assert round(float(item["image"][c, y, x]) * 255) == data[source, c * 1024 + y * 32 + x]
            assert torch.equal((item["image"] * 255).round().to(torch.uint8).flatten(),
                               torch.from_numpy(data[source]))


def test_sample_ids_index_the_official_file_order(cifar10_root):
    root = cifar10_root[0]
    val = CIFAR10(root, split="val")
    assert val.sample_id(0) == f"cifar10-train-{int(val.source_index[0]):05d}"
    assert CIFAR10(root, split="train_full").sample_id(42) == "cifar10-train-00042"
    assert CIFAR10(root, split="test").sample_id(7) == "cifar10-test-00007"


def test_fingerprint_is_stable_and_sensitive(cifar10_root):
    root = cifar10_root[0]
    first = CIFAR10(root, split="val").fingerprint()
    assert first == CIFAR10(root, split="val").fingerprint()
    assert first != CIFAR10(root, split="val", split_seed=2).fingerprint()
    assert first != CIFAR10(root, split="train").fingerprint()
    val_index = int(CIFAR10(root, split="val").source_index[0])
    batch_path = root / "cifar-10-batches-py" / f"data_batch_{val_index // PER_BATCH + 1}"
    with open(batch_path, "rb") as f:
        batch = pickle.load(f)
    batch[b"data"][val_index % PER_BATCH, 0] ^= 1  # one pixel of one val image
    write_pickle(batch_path, batch)
    assert CIFAR10(root, split="val").fingerprint() != first


def test_describe_records_the_split(cifar10_root):
    facts = CIFAR10(cifar10_root[0], split="val").describe()
    assert facts["split_seed"] == 1 and facts["valid_size"] == 0.1 and facts["val_size"] == 10
    assert facts["num_samples"] == 10 and facts["num_classes"] == 10 and facts["source_size"] == 100


def test_missing_file_names_path_layout_and_fix(cifar10_root):
    root = cifar10_root[0]
    (root / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DatasetLayoutError) as error:
        CIFAR10(root, split="train")
    message = str(error.value)
    assert str(root / "cifar-10-batches-py" / "data_batch_3") in message
    assert "test_batch" in message and "batches.meta" in message
    assert "download=True" in message and "cifar-10-python.tar.gz" in message
    assert len(CIFAR10(root, split="test")) == NUM_TEST  # the test split does not read the train batches
    with pytest.raises(DatasetLayoutError, match="cifar-100-python"):
        CIFAR100(root)


def test_cifar100_fine_labels(cifar100_root):
    root, train, test = cifar100_root
    val = CIFAR100(root, split="val")
    assert len(val) == 10 and len(CIFAR100(root, split="train")) == 90 and len(CIFAR100(root)) == NUM_TEST
    source = int(val.source_index[3])
    assert int(val[3]["target"]) == train[b"fine_labels"][source]
    pixels = (val[3]["image"] * 255).round().to(torch.uint8).flatten()
    assert torch.equal(pixels, torch.from_numpy(train[b"data"][source]))
    assert CIFAR100(root, split="test").sample_id(9) == "cifar100-test-00009"
    assert val.describe()["num_classes"] == 100


def test_registered_and_bad_split(cifar10_root):
    assert DATASETS.get("CIFAR10") is CIFAR10 and DATASETS.get("CIFAR100") is CIFAR100
    with pytest.raises(ValueError, match="split must be one of"):
        CIFAR10(cifar10_root[0], split="valid")


def test_crafted_batch_is_refused_without_running_it(cifar10_root):
    root = cifar10_root[0]
    marker = root / "marker"
    (root / "cifar-10-batches-py" / "test_batch").write_bytes(malicious_pickle(marker))
    with pytest.raises(DatasetLayoutError) as error:
        CIFAR10(root, split="test")
    assert not marker.exists()
    message = str(error.value)
    assert message.startswith("CIFAR10: ")
    assert "refused to unpickle the global posix.system" in message
    assert str(root / "cifar-10-batches-py" / "test_batch") in message and "cifar-10-python.tar.gz" in message


def test_corrupt_and_wrong_batches_name_the_file(cifar10_root):
    root = cifar10_root[0]
    base = root / "cifar-10-batches-py"
    path = base / "test_batch"
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    with pytest.raises(DatasetLayoutError, match="cannot read a CIFAR python pickle .*truncated or corrupt"):
        CIFAR10(root, split="test")
    write_pickle(path, {b"labels": [0]})
    with pytest.raises(DatasetLayoutError, match=r"not a CIFAR pickle: need the keys \[b'data', b'labels'\]"):
        CIFAR10(root, split="test")
    batch = random_batch(np.random.default_rng(0), 4, b"labels", 10, "t")
    batch[b"labels"][2] = 10
    write_pickle(path, batch)
    with pytest.raises(DatasetLayoutError, match="1 labels outside 0..9, first 10 at row 2"):
        CIFAR10(root, split="test")
    batch[b"data"] = batch[b"data"].astype(np.int64)
    write_pickle(path, batch)
    with pytest.raises(DatasetLayoutError, match=r"b'data' must be uint8 \[N, 3072\], got int64 \[4, 3072\]"):
        CIFAR10(root, split="test")
    write_pickle(base / "batches.meta", {b"label_names": [b"a", b"b"]})
    with pytest.raises(DatasetLayoutError, match="b'label_names' lists 2 class names, expected 10"):
        CIFAR10(root, split="test")


def test_cifar100_labels_must_be_fine_labels(cifar100_root):
    root, train, test = cifar100_root
    test[b"fine_labels"][0] = 100
    write_pickle(root / "cifar-100-python" / "test", test)
    with pytest.raises(DatasetLayoutError, match="labels outside 0..99"):
        CIFAR100(root)


# --- CIFAR-2 / CIFAR-10 attribution splits (D-TRAK, DAS) ---

from bench.datasets.cifar import (CIFAR2, HF_TRAIN_BATCHES, HF_TRAIN_LABEL_HEAD,  # noqa: E402
                                  CIFAR10Attribution, hf_train_rows)

ATTR_PER_BATCH, ATTR_TEST = 30, 60


@pytest.fixture
def attribution_root(tmp_path: Path) -> tuple[Path, dict, dict]:
    """Official pickle layout, 5 batches of 30 (labels cycle so each batch holds classes 1 and 7), test of 60."""
    rng = np.random.default_rng(3)
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    batches = {}
    for i in range(1, 6):
        batch = random_batch(rng, ATTR_PER_BATCH, b"labels", 10, f"b{i}")
        batch[b"labels"] = rng.permutation([(j + i) % 10 for j in range(ATTR_PER_BATCH)]).tolist()
        batches[f"data_batch_{i}"] = batch
        write_pickle(base / f"data_batch_{i}", batch)
    test = random_batch(rng, ATTR_TEST, b"labels", 10, "t")
    test[b"labels"] = rng.permutation([j % 10 for j in range(ATTR_TEST)]).tolist()
    write_pickle(base / "test_batch", test)
    write_pickle(base / "batches.meta", {b"label_names": [f"class{i}".encode() for i in range(10)]})
    return tmp_path, batches, test


def notebook_selection(labels: list[int], kept: tuple[int, ...], size: int) -> list[int]:
    """D-TRAK 00_EDA.ipynb's own call: filter a label frame, train_test_split(..., random_state=42, stratify)."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    frame = pd.DataFrame({"label": labels})
    frame = frame[frame["label"].isin(kept)]
    if size >= len(frame):
        return frame.index.to_list()
    selected, _ = train_test_split(frame, train_size=size, random_state=42, stratify=frame["label"])
    return selected.index.to_list()


def test_hf_train_rows_follow_the_archive_order():
    assert HF_TRAIN_BATCHES == ("data_batch_4", "data_batch_3", "data_batch_2", "data_batch_5", "data_batch_1")
    assert hf_train_rows([2, 2, 2, 2, 2]).tolist() == [6, 7, 4, 5, 2, 3, 8, 9, 0, 1]
    assert hf_train_rows([1, 2, 1, 3, 1]).tolist() == [4, 5, 6, 3, 1, 2, 7, 0]
    with pytest.raises(ValueError, match="need the sizes of the 5 train batches, got 2"):
        hf_train_rows([1, 1])


def test_cifar2_train_is_the_notebook_selection_in_huggingface_rows(attribution_root):
    root, batches, _ = attribution_root
    hf_labels = sum((batches[name][b"labels"] for name in HF_TRAIN_BATCHES), [])
    train = CIFAR2(root, split="train", train_size=12)
    assert train.rows.tolist() == notebook_selection(hf_labels, (1, 7), 12)
    assert len(train) == 12 and sorted(train.labels.tolist()) == [1] * 6 + [7] * 6  # stratified: 15 + 15 → 6 + 6
    assert train.classes == ["class1", "class7"]
    for index in (0, 5, 11):  # the pixels of HuggingFace row h are row h % 30 of batch HF_TRAIN_BATCHES[h // 30]
        hf = int(train.rows[index])
        batch = batches[HF_TRAIN_BATCHES[hf // ATTR_PER_BATCH]]
        pixels = (train[index]["image"] * 255).round().to(torch.uint8).flatten()
        assert torch.equal(pixels, torch.from_numpy(batch[b"data"][hf % ATTR_PER_BATCH]))
        assert int(train[index]["target"]) == batch[b"labels"][hf % ATTR_PER_BATCH]
        file_row = (int(HF_TRAIN_BATCHES[hf // ATTR_PER_BATCH][-1]) - 1) * ATTR_PER_BATCH + hf % ATTR_PER_BATCH
        assert train.sample_id(index) == f"cifar10-train-{file_row:05d}"
    assert train.fingerprint() == CIFAR2(root, split="train", train_size=12).fingerprint()
    assert train.fingerprint() != CIFAR2(root, split="train", train_size=14).fingerprint()


def test_cifar2_val_and_test_come_from_the_test_batch(attribution_root):
    root, _, test = attribution_root
    val, whole = CIFAR2(root, split="val", val_size=8), CIFAR2(root, split="test")
    assert val.rows.tolist() == notebook_selection(test[b"labels"], (1, 7), 8)
    assert sorted(val.labels.tolist()) == [1] * 4 + [7] * 4
    ones_and_sevens = [i for i, label in enumerate(test[b"labels"]) if label in (1, 7)]
    assert whole.source_index.tolist() == ones_and_sevens and len(whole) == 12
    assert val.sample_id(0) == f"cifar10-test-{int(val.rows[0]):05d}"
    assert set(val.source_index.tolist()) < set(ones_and_sevens)
    facts = val.describe()
    assert facts["num_samples"] == 8 and facts["val_size"] == 8 and facts["val_is_whole_test"] is False


def test_cifar10_attribution_keeps_all_train_rows_in_huggingface_order(attribution_root):
    root, batches, test = attribution_root
    train = CIFAR10Attribution(root, split="train", train_size=150)
    assert train.rows.tolist() == list(range(150))  # the notebooks' df.copy() branch: no shuffle
    assert train.source_index[:3].tolist() == [90, 91, 92]  # HuggingFace row 0 is data_batch_4 row 0
    val = CIFAR10Attribution(root, split="val", val_size=20)
    assert val.rows.tolist() == notebook_selection(test[b"labels"], tuple(range(10)), 20)
    assert np.bincount(val.labels, minlength=10).tolist() == [2] * 10


def test_released_index_files_are_read_as_given(attribution_root, tmp_path):
    root, batches, test = attribution_root
    hf_labels = sum((batches[name][b"labels"] for name in HF_TRAIN_BATCHES), [])
    released = [i for i, label in enumerate(hf_labels) if label in (1, 7)][::-1][:5]
    write_pickle(tmp_path / "idx-train.pkl", released)
    train = CIFAR2(root, split="train", index_file=tmp_path / "idx-train.pkl")
    assert train.rows.tolist() == released and train.describe()["index_file"] == str(tmp_path / "idx-train.pkl")
    # DAS's notebook pickles df_test.index as idx-val.pkl: the whole filtered test split, flagged
    write_pickle(tmp_path / "idx-val.pkl", [i for i, label in enumerate(test[b"labels"]) if label in (1, 7)])
    val = CIFAR2(root, split="val", index_file=tmp_path / "idx-val.pkl")
    assert len(val) == 12 and val.describe()["val_is_whole_test"] is True
    wrong = next(i for i, label in enumerate(hf_labels) if label == 3)
    write_pickle(tmp_path / "idx-train.pkl", [released[0], wrong])
    with pytest.raises(DatasetLayoutError, match=rf"1 of 2 indices are not HuggingFace cifar10 train rows of "
                                                 rf"classes \(1, 7\) \(first {wrong}\)"):
        CIFAR2(root, split="train", index_file=tmp_path / "idx-train.pkl")


def test_cifar2_errors_name_the_folder_and_the_fix(attribution_root, monkeypatch):
    root = attribution_root[0]
    with pytest.raises(DatasetLayoutError, match="the train split selects 5000 of the 30 HuggingFace cifar10 train "
                                                 r"rows of classes \(1, 7\); the official pickles hold 10000"):
        CIFAR2(root, split="train")
    with pytest.raises(ValueError, match=r"CIFAR2 split must be one of \('train', 'val', 'test'\), got 'gen'"):
        CIFAR2(root, split="gen")
    (root / "cifar-10-batches-py" / "test_batch").unlink()
    with pytest.raises(DatasetLayoutError) as error:
        CIFAR2(root, split="val")
    assert str(root / "cifar-10-batches-py" / "test_batch") in str(error.value)
    assert str(error.value).startswith("CIFAR10: missing file") and "cifar-10-python.tar.gz" in str(error.value)
    assert DATASETS.get("CIFAR2") is CIFAR2 and DATASETS.get("CIFAR10Attribution") is CIFAR10Attribution


def test_order_checks_on_the_official_sizes(attribution_root, monkeypatch):
    """On the real pickles (here: the fixture declared official) the HuggingFace label head and the released
    val head are checked, so a wrong order or another sklearn cannot pick other images silently."""
    root, batches, test = attribution_root
    monkeypatch.setattr(CIFAR2, "official_rows", {"train": 150, "test": 60})
    hf_labels = sum((batches[name][b"labels"] for name in HF_TRAIN_BATCHES), [])
    assert tuple(hf_labels[:5]) != HF_TRAIN_LABEL_HEAD
    with pytest.raises(DatasetLayoutError, match=r"the train labels in HuggingFace order .* start \(.*\), "
                                                 r"HuggingFace cifar10 starts \(0, 6, 0, 2, 7\)"):
        CIFAR2(root, split="train", train_size=12)
    monkeypatch.setattr(CIFAR2, "val_size", 8)
    with pytest.raises(DatasetLayoutError, match=r"the released idx-val.pkl starts \(7405, 5226, 1363, 6615, 7612\)"):
        CIFAR2(root, split="val")
    head = tuple(notebook_selection(test[b"labels"], (1, 7), 8)[:5])
    monkeypatch.setattr(CIFAR2, "val_head", head)
    assert tuple(CIFAR2(root, split="val").rows[:5].tolist()) == head
