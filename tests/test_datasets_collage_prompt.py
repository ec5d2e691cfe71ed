"""CollagePrompt reader on a copy of the official layout written by ``write_example``."""
import json
import os
import pickle

import numpy as np
import pytest
import torch

from bench.data import DatasetLayoutError
from bench.datasets.collage_prompt import CollagePrompt, feature_name


def test_training_collages_read_ori_ord_pred_and_features(tmp_path):
    root = CollagePrompt.write_example(tmp_path, grid=3, num_collages=5, dim=16)
    with open(root / "train/metainfo/imagenet_train_3x3_collage_pred_info.pkl", "rb") as handle:
        meta = pickle.load(handle)  # our own fixture: plain pickle is fine here
    data = CollagePrompt(str(root), grid=3, split="train")
    assert len(data) == 5 and data.sample_id(0) == "collage_00000"
    entry = meta["collage_00000"]
    item = data[0]
    assert item["images"] == entry["ori"]
    assert item["arrangement"].dtype == torch.long and item["arrangement"].tolist() == list(entry["ord"])
    assert item["correctness"].tolist() == [float(v) for v in entry["pred"]]
    first = np.load(root / "train/subset/feat" / feature_name(entry["ori"][0]))
    assert first.shape == (1, 16) and item["features"].shape == (9, 16)
    assert torch.equal(item["features"][0], torch.from_numpy(first[0]))
    features, arrangements, accuracy = data.tensors()
    assert features.shape == (5, 9, 16) and arrangements.shape == (5, 9)
    expected = torch.tensor([np.mean(meta[k]["pred"]) for k in meta], dtype=torch.float32)
    torch.testing.assert_close(accuracy, expected)
    mean, std = data.accuracy_stats()
    assert (mean, std) == pytest.approx((float(np.mean(expected.numpy())), float(np.std(expected.numpy(), ddof=1))))
    assert data.describe()["grid"] == 3 and len(data.fingerprint()) == 64


def test_validation_collages_keep_the_json_tile_order(tmp_path):
    root = CollagePrompt.write_example(tmp_path, grid=2, num_collages=3, dim=8, val_datasets=("dtd",))
    data = CollagePrompt(str(root), grid=2, split="val", dataset="dtd")
    meta = json.loads((root / "val/dtd/metainfo/dtd_test_2x2_collage_info.json").read_text())
    key = next(iter(meta))
    assert data.sample_id(0) == key and data[0]["images"] == [t["image"] for t in meta[key].values()]
    assert data[0]["arrangement"].tolist() == [0, 1, 2, 3] and "correctness" not in data[0]
    assert data[0]["features"].shape == (4, 8)
    with pytest.raises(ValueError, match="validation collages carry no correctness"):
        data.tensors()
    # ImageNet's loader names the file imagenet_val_...: found too
    os.rename(root / "val/dtd/metainfo/dtd_test_2x2_collage_info.json",
              root / "val/dtd/metainfo/dtd_val_2x2_collage_info.json")
    assert len(CollagePrompt(str(root), grid=2, split="val", dataset="dtd")) == 3


def rewrite_meta(root, change):
    path = root / "train/metainfo/imagenet_train_3x3_collage_pred_info.pkl"
    with open(path, "rb") as handle:
        meta = pickle.load(handle)
    change(meta)
    with open(path, "wb") as handle:
        pickle.dump(meta, handle, protocol=2)
    return path


def test_bad_metainfo_names_the_file_the_collage_and_the_problem(tmp_path):
    root = CollagePrompt.write_example(tmp_path, grid=3, num_collages=2)
    path = rewrite_meta(root, lambda meta: meta["collage_00001"].update(ord=np.array([0, 0, 1, 2, 3, 4, 5, 6, 7])))
    with pytest.raises(DatasetLayoutError) as error:
        CollagePrompt(str(root), grid=3)
    message = str(error.value)
    assert "collage 'collage_00001': 'ord' must be a permutation of 0..8, got [0, 0, 1, 2, 3, 4, 5, 6, 7]" in message
    assert str(path) in message and "imagenet_train_{g}x{g}_collage_pred_info.pkl" in message

    rewrite_meta(root, lambda meta: meta["collage_00001"].update(ord=np.arange(9), pred=[1, 0, 2, 0, 0, 0, 0, 0, 0]))
    with pytest.raises(DatasetLayoutError, match=r"'pred' must hold per-tile 0/1 correctness"):
        CollagePrompt(str(root), grid=3)
    with pytest.raises(DatasetLayoutError, match=r"'ori', 'ord' and 'pred' must each have 4 entries"):
        os.rename(path, path.with_name("imagenet_train_2x2_collage_pred_info.pkl"))
        CollagePrompt(str(root), grid=2)


def test_a_pickle_naming_code_is_refused_and_missing_files_are_named(tmp_path):
    root = CollagePrompt.write_example(tmp_path, grid=3, num_collages=2)
    path = root / "train/metainfo/imagenet_train_3x3_collage_pred_info.pkl"
    path.write_bytes(pickle.dumps({"collage": os.getcwd}, protocol=2))  # names posix.getcwd
    with pytest.raises(DatasetLayoutError, match=r"refused to unpickle the global posix.getcwd"):
        CollagePrompt(str(root), grid=3)

    root = CollagePrompt.write_example(tmp_path / "b", grid=3, num_collages=2)
    data = CollagePrompt(str(root), grid=3)
    missing = root / "train/subset/feat" / feature_name(data.images[1][0])
    missing.unlink()
    with pytest.raises(DatasetLayoutError, match=r"missing feature file of image 'n01440764_1\d+\.JPEG'"):
        data.tensors()
    with pytest.raises(DatasetLayoutError, match="missing validation metainfo"):
        CollagePrompt(str(root), grid=3, split="val", dataset="eurosat")
    with pytest.raises(ValueError, match="grid must be 2 or 3"):
        CollagePrompt(str(root), grid=4)
