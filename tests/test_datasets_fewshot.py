"""FewShotImages: the CDC train10/full layout, the official ImageFolder convention, bicubic square resize, and the
layout errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from bench.data import DatasetLayoutError
from bench.datasets.fewshot import FewShotImages
from bench.registry import DATASETS


def _write(path, value, size=(12, 8)):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full((size[1], size[0], 3), value, dtype=np.uint8)
    pixels[0, 0] = (255, 0, 0)
    Image.fromarray(pixels).save(path)


def test_train10_and_full_read_flat_folders_in_sorted_order(tmp_path):
    for i in range(10):
        _write(tmp_path / "babies" / "train10" / f"img{9 - i:02d}.png", 10 * i)
    for i in range(3):
        _write(tmp_path / "babies" / "full" / f"{i}.jpg", 100)
    (tmp_path / "babies" / "full" / ".DS_Store").write_bytes(b"junk")
    train = FewShotImages(tmp_path, target="babies", split="train10", size=4)
    assert len(train) == 10 and train.image_layout == "flat"
    assert [train.sample_id(i) for i in range(3)] == ["img00.png", "img01.png", "img02.png"]
    item = train[0]
    assert item["image"].shape == (3, 4, 4) and item["image"].dtype == torch.float32
    assert int(item["target"]) == 0
    full = FewShotImages(tmp_path, target="babies", split="full", size=4)
    assert len(full) == 3
    assert DATASETS.get("FewShotImages") is FewShotImages


def test_resize_is_pil_bicubic_to_a_square_without_crop(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (10, 20, 3), dtype=np.uint8)  # 20 wide, 10 high: a crop would drop columns
    (tmp_path / "a").mkdir()
    Image.fromarray(pixels).save(tmp_path / "a" / "x.png")
    data = FewShotImages(tmp_path, size=8, num_shots=None)
    expected = np.asarray(Image.fromarray(pixels).resize((8, 8), Image.Resampling.BICUBIC), dtype=np.float32) / 255
    torch.testing.assert_close(data[0]["image"], torch.from_numpy(expected).permute(2, 0, 1))
    assert data.image_layout == "imagefolder" and data.sample_id(0) == "a/x.png"
    assert data.describe()["resize"] == "bicubic to size x size (no crop)"


def test_image_folder_convention_reads_class_folders_in_imagefolder_order(tmp_path):
    for cls in ("b", "a"):
        for i in range(5):
            _write(tmp_path / "sunglasses" / "train10" / cls / f"{i}.png", 50)
    data = FewShotImages(tmp_path, target="sunglasses", size=2)
    assert [data.sample_id(i) for i in (0, 5)] == ["a/0.png", "b/0.png"]


def test_layout_errors_name_the_folder_and_the_expected_layout(tmp_path):
    with pytest.raises(DatasetLayoutError, match=r"FewShotImages: missing directory\n  path: .*babies/train10\n"
                                                 r"  expected layout:\n    <root>/<target>/train10/\*\.png"):
        FewShotImages(tmp_path, target="babies")
    for i in range(9):
        _write(tmp_path / "babies" / "train10" / f"{i}.png", 0)
    with pytest.raises(DatasetLayoutError, match="9 images where a 10-shot training set has 10"):
        FewShotImages(tmp_path, target="babies")
    assert len(FewShotImages(tmp_path, target="babies", num_shots=None)) == 9
    _write(tmp_path / "babies" / "train10" / "cls" / "x.png", 0)
    with pytest.raises(DatasetLayoutError, match="both images .* and sub-folders .*: a folder is either flat or "
                                                 "ImageFolder"):
        FewShotImages(tmp_path, target="babies", num_shots=None)
    (tmp_path / "empty" / "full").mkdir(parents=True)
    with pytest.raises(DatasetLayoutError, match=r"no images \(\.jpg, .*\) in the folder or in class sub-folders"):
        FewShotImages(tmp_path, target="empty", split="full")
    with pytest.raises(ValueError, match=r"split must be one of \('train10', 'full'\), got 'test'"):
        FewShotImages(tmp_path, target="babies", split="test")


def test_a_corrupt_image_is_a_layout_error_naming_the_file(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "0.png").write_bytes(b"not a png")
    data = FewShotImages(tmp_path / "full", split="full")
    with pytest.raises(DatasetLayoutError, match=r"cannot read a JPEG or PNG image .*\n  path: .*0\.png"):
        data[0]
