"""ClassFolderImages: one folder per class, labels by sorted folder name, clear errors for a wrong root."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bench.data import DatasetLayoutError
from bench.datasets.class_folders import ClassFolderImages, class_names
from bench.methods.collage_prompting.adapter import load_categories


def write_folders(root, classes=("sea_lion", "apple", "tabby cat"), per_class=2):
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(np.full((10, 12, 3), 40 * c + i, np.uint8)).save(root / name / f"img{i}.png")
    (root / ".hidden").mkdir()
    return root


def test_labels_follow_sorted_folders_and_categories_read_them(tmp_path):
    root = write_folders(tmp_path / "test")
    dataset = ClassFolderImages(root, resize=8, crop_size=8)
    assert class_names(root) == ["apple", "sea_lion", "tabby cat"]
    assert len(dataset) == 6 and dataset.labels == [0, 0, 1, 1, 2, 2]
    assert dataset.sample_id(2) == "sea_lion/img0"
    item = dataset[2]
    assert item["image"].shape == (3, 8, 8) and int(item["target"]) == 1
    assert item["image"].mean().item() == pytest.approx(0 / 255, abs=0.01)   # sea_lion was written with value 0
    assert load_categories(str(root)) == ["apple", "sea lion", "tabby cat"]


def test_a_wrong_root_names_the_layout(tmp_path):
    with pytest.raises(DatasetLayoutError, match="missing directory"):
        ClassFolderImages(tmp_path / "nowhere")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(DatasetLayoutError, match="no .jpeg/.jpg/.png images"):
        ClassFolderImages(tmp_path / "empty")
