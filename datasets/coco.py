"""COCO 2017 instances (detection and instance segmentation) in the official layout, read as mmdet's CocoDataset.

Images come in the annotation file's order (pycocotools ``getImgIds``, what mmdet's test loader iterates);
no image is filtered in test mode. Ground truth stays in the annotation file, which the ``COCOMeanAP`` metric
reads with pycocotools, so items carry only the image path and id. ``write_example`` writes a tiny
``instances_<split>.json`` with the 80 official categories and a few polygon instances, for tests and demos.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from bench.data import BenchDataset
from bench.datasets.segmentation import load_rgb
from bench.registry import DATASETS

#: the 80 COCO thing classes in mmdet's order, with their official (non-contiguous) category ids
COCO_CATEGORIES: tuple[tuple[int, str], ...] = tuple(zip(
    [*range(1, 12), *range(13, 26), 27, 28, *range(31, 45), *range(46, 66), 67, 70, *range(72, 83), *range(84, 91)],
    ["person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
     "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
     "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
     "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
     "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
     "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
     "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
     "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
     "hair drier", "toothbrush"], strict=True))


@DATASETS.register_module()
class COCOInstances(BenchDataset):
    """COCO ``split`` (val2017: 5,000 images). Items: ``img_path``, ``image_id`` and, with ``with_image``,
    ``image`` (uint8 RGB [3, H, W]); sample ids are file-name stems (``000000000139``)."""

    layout = """
<data_root = .../coco>/annotations/instances_val2017.json
<data_root>/val2017/000000000139.jpg                     (file_name as listed in the annotation file)
"""
    obtain = "val2017.zip and annotations_trainval2017.zip from https://cocodataset.org/#download"

    def __init__(self, data_root: str | Path, split: str = "val2017", with_image: bool = False) -> None:
        self.data_root, self.split, self.with_image = Path(data_root), split, with_image
        self.ann_file = self.require(self.data_root / "annotations" / f"instances_{split}.json", "annotation file")
        image_dir = self.require(self.data_root / split, "image directory")
        with self.reading(self.ann_file, "a COCO annotation JSON file"):
            annotations = json.loads(self.ann_file.read_text())
        images = annotations.get("images") if isinstance(annotations, dict) else None
        if not isinstance(images, list) or not all(
                isinstance(image, dict) and isinstance(image.get("id"), int) and isinstance(image.get("file_name"), str)
                for image in images):
            raise self.layout_error(self.ann_file, "not a COCO annotation file: 'images' must be a list of "
                                                   "{'id': int, 'file_name': str, ...}")
        self._check_categories(annotations.get("categories"))
        self.image_ids = [int(image["id"]) for image in images]
        self.img_paths = [image_dir / image["file_name"] for image in images]
        self.num_categories = len(COCO_CATEGORIES)
        for path in self.img_paths:
            self.require(path, "image listed in the annotation file")

    def _check_categories(self, categories: Any) -> None:
        """The 80 official categories, ids and names: detectors' contiguous labels 0..79 map to the file's category
        ids sorted (mmdet's ``cat_ids``), so a missing or extra category would shift every label after it."""
        try:
            found = [(int(category["id"]), str(category["name"])) for category in categories]
        except (TypeError, KeyError, ValueError):
            raise self.layout_error(self.ann_file, "'categories' must be a list of {'id': int, 'name': str}") from None
        if sorted(found) != list(COCO_CATEGORIES):
            missing = [f"{i} {n}" for i, n in COCO_CATEGORIES if (i, n) not in set(found)]
            extra = [f"{i} {n}" for i, n in sorted(set(found) - set(COCO_CATEGORIES))]
            raise self.layout_error(self.ann_file, (
                f"'categories' are not the 80 COCO categories (missing: {missing[:5] or 'none'}, other: "
                f"{extra[:5] or 'none'}{', repeated entries' if len(found) != len(set(found)) else ''}); detector "
                "labels index the categories sorted by id, so any other list shifts them: use the official "
                "instances_<split>.json"))

    def __len__(self) -> int:
        return len(self.image_ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item: dict[str, Any] = {"img_path": str(self.img_paths[index]),
                                "image_id": torch.tensor(self.image_ids[index], dtype=torch.int64)}
        if self.with_image:
            with self.reading(self.img_paths[index], "a JPEG image"):
                item["image"] = load_rgb(self.img_paths[index])
        return item

    def sample_id(self, index: int) -> str:
        return self.img_paths[index].stem

    def fingerprint(self) -> str:
        """sha256 of the annotation file plus every image's id and size."""
        digest = hashlib.sha256(self.ann_file.read_bytes())
        for image_id, path in zip(self.image_ids, self.img_paths, strict=True):
            digest.update(f"{image_id}\0{path.stat().st_size}\0".encode())
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "data_root": str(self.data_root), "split": self.split,
                "ann_file": str(self.ann_file), "num_categories": self.num_categories}

    @classmethod
    def write_example(cls, data_root: str | Path, split: str = "val2017", num_images: int = 3,
                      size: tuple[int, int] = (64, 48), seed: int = 0) -> Path:
        """A few random images with 1-3 polygon instances each (real category ids), in the official layout."""
        data_root, rng = Path(data_root), np.random.default_rng(seed)
        (data_root / split).mkdir(parents=True, exist_ok=True)
        (data_root / "annotations").mkdir(parents=True, exist_ok=True)
        width, height = size
        images, annotations = [], []
        for number in range(num_images):
            image_id = 139 + 146 * number  # ids need not be contiguous, as in val2017
            file_name = f"{image_id:012d}.jpg"
            pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(data_root / split / file_name, quality=95)
            images.append({"id": image_id, "file_name": file_name, "width": width, "height": height})
            for _ in range(int(rng.integers(1, 4))):
                x, y = float(rng.integers(0, width // 2)), float(rng.integers(0, height // 2))
                w, h = float(rng.integers(8, width // 2)), float(rng.integers(8, height // 2))
                annotations.append({"id": len(annotations) + 1, "image_id": image_id, "iscrowd": 0,
                                    "category_id": COCO_CATEGORIES[int(rng.integers(0, 5))][0],
                                    "bbox": [x, y, w, h], "area": w * h,
                                    "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]]})
        categories = [{"id": cat_id, "name": name, "supercategory": ""} for cat_id, name in COCO_CATEGORIES]
        payload = {"info": {}, "licenses": [], "images": images, "annotations": annotations,
                   "categories": categories}
        (data_root / "annotations" / f"instances_{split}.json").write_text(json.dumps(payload))
        return data_root
