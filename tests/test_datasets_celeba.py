"""CelebA 64 reader on a tiny fixture in the official layout: img_align_celeba/ and list_eval_partition.txt."""
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from sklearn.model_selection import train_test_split

import bench.datasets.celeba as celeba
from bench.data import DatasetLayoutError
from bench.datasets.celeba import CelebA
from bench.registry import DATASETS

PARTITION = [0] * 24 + [1] * 10 + [2] * 6  # the official file lists train, then val, then test


@pytest.fixture
def celeba_root(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    (tmp_path / "img_align_celeba").mkdir()
    lines = []
    for i, code in enumerate(PARTITION, start=1):
        name = f"{i:06d}.jpg"
        pixels = rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)  # the aligned images are 178 wide, 218 high
        Image.fromarray(pixels).save(tmp_path / "img_align_celeba" / name, quality=90)
        lines.append(f"{name} {code}")
    (tmp_path / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    return tmp_path


def notebook_selection(root: Path, code: int, size: int) -> list[int]:
    """D-TRAK CelebA/00_EDA.ipynb's own reading and call (no stratification)."""
    frame = pd.read_csv(root / "list_eval_partition.txt", delimiter=" ", names=["path", "split"], header=None,
                        skipinitialspace=True)
    selected, _ = train_test_split(frame[frame["split"] == code], train_size=size, random_state=42)
    return selected.index.to_list()


def test_splits_are_d_trak_selection_of_partition_lines(celeba_root):
    train = CelebA(celeba_root, split="train", train_size=8)
    val = CelebA(celeba_root, split="val", val_size=4)
    test = CelebA(celeba_root, split="test")
    assert train.rows.tolist() == notebook_selection(celeba_root, 0, 8)
    assert val.rows.tolist() == notebook_selection(celeba_root, 1, 4)
    assert set(val.rows.tolist()) <= set(range(24, 34))  # val comes from partition 1, not from the train partition
    assert test.rows.tolist() == list(range(34, 40)) and len(test) == 6
    assert train.sample_id(0) == f"img_align_celeba/{int(train.rows[0]) + 1:06d}.jpg"
    assert train.fingerprint() == CelebA(celeba_root, split="train", train_size=8).fingerprint() != val.fingerprint()
    facts = val.describe()
    assert facts["preprocessing"] == "CenterCrop(140), Resize(64, bilinear), CenterCrop(64)"
    assert facts["num_samples"] == 4 and facts["val_size"] == 4 and facts["index_file"] is None


def test_items_are_d_trak_preprocessing_without_the_flip(celeba_root):
    import torchvision.transforms as T

    data = CelebA(celeba_root, split="test")
    item = data[2]
    transform = T.Compose([T.CenterCrop(140), T.Resize(64, interpolation=T.InterpolationMode.BILINEAR),
                           T.CenterCrop(64), T.ToTensor()])
    expected = transform(Image.open(data.paths[2]).convert("RGB"))
    assert item["image"].shape == (3, 64, 64) and item["image"].dtype == torch.float32
    assert torch.allclose(item["image"], expected, atol=1e-6) and int(item["target"]) == 0
    assert CelebA(celeba_root, split="test", size=32)[0]["image"].shape == (3, 32, 32)


def test_released_index_files_and_reference_heads(celeba_root, tmp_path, monkeypatch):
    with open(tmp_path / "idx-val.pkl", "wb") as f:
        pickle.dump([30, 25, 27], f)
    val = CelebA(celeba_root, split="val", index_file=tmp_path / "idx-val.pkl")
    assert val.rows.tolist() == [30, 25, 27] and val.sample_id(0) == "img_align_celeba/000031.jpg"
    with pytest.raises(DatasetLayoutError, match=r"3 of 3 indices are not list_eval_partition.txt lines of "
                                                 r"partition 0 \(train\) \(first 30\)"):
        CelebA(celeba_root, split="train", index_file=tmp_path / "idx-val.pkl")
    monkeypatch.setattr(celeba, "PARTITION_LINES", len(PARTITION))
    monkeypatch.setitem(celeba.SIZES, "val", 4)
    with pytest.raises(DatasetLayoutError, match=r"D-TRAK's released idx-val.pkl starts \(167013, 179842"):
        CelebA(celeba_root, split="val")
    monkeypatch.setitem(celeba.REFERENCE_HEADS, "val", tuple(notebook_selection(celeba_root, 1, 4)))
    assert CelebA(celeba_root, split="val").rows.tolist() == notebook_selection(celeba_root, 1, 4)


def test_errors_name_the_file_and_the_fix(celeba_root):
    with pytest.raises(DatasetLayoutError, match=r"the train split selects 5000 of the 24 list_eval_partition.txt "
                                                 r"lines of partition 0 \(train\)"):
        CelebA(celeba_root)
    (celeba_root / "img_align_celeba" / "000036.jpg").unlink()
    with pytest.raises(DatasetLayoutError, match=r"missing image \(1 of the 6 images of the test split") as error:
        CelebA(celeba_root, split="test")
    assert str(celeba_root / "img_align_celeba" / "000036.jpg") in str(error.value)
    path = celeba_root / "list_eval_partition.txt"
    path.write_text("image_id,partition\n000001.jpg,0\n")  # the Kaggle CSV, not the official file
    with pytest.raises(DatasetLayoutError, match="line 1 is 'image_id,partition', expected '<image>.jpg <0|1|2>'"):
        CelebA(celeba_root, split="test")
    path.unlink()
    with pytest.raises(DatasetLayoutError) as error:
        CelebA(celeba_root)
    message = str(error.value)
    assert message.startswith("CelebA: missing partition file") and str(path) in message
    assert "img_align_celeba.zip" in message and "torchvision.datasets.CelebA" in message
    with pytest.raises(ValueError, match=r"CelebA split must be one of \('train', 'val', 'test'\), got 'valid'"):
        CelebA(celeba_root, split="valid")
    assert DATASETS.get("CelebA") is CelebA
