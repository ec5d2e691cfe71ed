"""Semantic-segmentation benchmarks in mmsegmentation 1.x's on-disk conventions (``BaseSegDataset``).

An image ``<data_root>/<img_dir>/<stem><img_suffix>`` pairs with ``<data_root>/<ann_dir>/<stem><seg_map_suffix>``.
Stems come from a split file (one per line, in file order) or, without one, from a recursive scan of the image
folder sorted by path, as mmseg does (hidden files and folders, e.g. AppleDouble ``._x.jpg`` or
``.ipynb_checkpoints``, skipped). Labels load as mmseg's ``LoadAnnotations`` (PIL, uint8; palette PNGs give
indices) and ``reduce_zero_label`` maps 0 to 255 and every other label l to l-1. The presets below are the eight
Trident benchmarks (ADE20K among them, which VSSD's UperNet uses too); each can write a tiny example in its
exact layout (``write_example``) so that tests and demos read real files through the real code path.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from bench.data import BenchDataset, visible
from bench.datasets import segmentation_classes as names
from bench.registry import DATASETS

IGNORE_INDEX = 255


def load_label_map(path: str | Path, reduce_zero_label: bool = False) -> np.ndarray:
    """A label PNG as mmseg's ``LoadAnnotations`` reads it: uint8 [H, W], optionally with zero reduced."""
    with Image.open(path) as image:
        label = np.array(image).squeeze().astype(np.uint8)
    if reduce_zero_label:
        label[label == 0] = 255
        label = label - 1
        label[label == 254] = 255
    return label


def load_rgb(path: str | Path) -> torch.Tensor:
    """An image as uint8 RGB [3, H, W]."""
    with Image.open(path) as image:
        return torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1)


@DATASETS.register_module()
class SegmentationFolder(BenchDataset):
    """Image/label pairs under mmseg's ``BaseSegDataset`` conventions; the presets below fix the arguments.

    Items: ``img_path``, ``seg_map_path``, ``gt_seg_map`` (uint8 [H, W], after ``reduce_zero_label``) and, with
    ``with_image``, ``image`` (uint8 RGB [3, H, W]). Methods that decode from ``img_path`` themselves (mmseg's own
    test pipeline) set ``with_image=False``. Sample ids are the stems (relative, without suffix).
    """

    layout = """
<data_root>/<img_dir>/<stem><img_suffix>
<data_root>/<ann_dir>/<stem><seg_map_suffix>      (uint8 label PNG, 255 = ignore)
<data_root>/<split_file>                          (optional: one stem per line; else all images, sorted)
"""
    obtain = "see the dataset's preparation notes (mmsegmentation docs: user_guides/2_dataset_prepare.md)"
    num_classes: int = 0
    #: class names in label order (the presets' mmseg ``METAINFO``); empty for a bare folder
    classes: tuple[str, ...] = ()
    #: stems ``write_example`` uses: the official naming pattern of each benchmark
    example_stems: tuple[str, ...] = ("img_0001", "img_0002", "img_0003")

    def __init__(self, data_root: str | Path, img_dir: str, ann_dir: str, img_suffix: str = ".jpg",
                 seg_map_suffix: str = ".png", split_file: str | None = None, reduce_zero_label: bool = False,
                 num_classes: int | None = None, with_image: bool = True) -> None:
        self.data_root = Path(data_root)
        self.img_dir = self.require(self.data_root / img_dir, "image directory")
        self.ann_dir = self.require(self.data_root / ann_dir, "annotation directory")
        self.img_suffix, self.seg_map_suffix = img_suffix, seg_map_suffix
        self.reduce_zero_label, self.with_image = reduce_zero_label, with_image
        self.num_classes = num_classes if num_classes is not None else type(self).num_classes
        if self.num_classes <= 0:
            raise ValueError(f"{type(self).__name__} needs num_classes > 0")
        self.split_file = self.require(self.data_root / split_file, "split file") if split_file else None
        self.stems = self._split_stems() if self.split_file else self._scanned_stems()
        if not self.stems:
            raise self.layout_error(self.img_dir, f"no images ending in {img_suffix!r}")
        self.img_paths = [self.img_dir / f"{stem}{img_suffix}" for stem in self.stems]
        self.seg_map_paths = [self.ann_dir / f"{stem}{seg_map_suffix}" for stem in self.stems]
        for path in (*self.img_paths, *self.seg_map_paths):
            if not path.is_file():
                raise self.layout_error(path, "missing image or label file")

    def _split_stems(self) -> list[str]:
        return [line.strip() for line in self.split_file.read_text().splitlines() if line.strip()]

    def _scanned_stems(self) -> list[str]:
        found = visible(self.img_dir.rglob(f"*{self.img_suffix}"), self.img_dir)
        paths = sorted(str(p.relative_to(self.img_dir)) for p in found if p.is_file())
        return [p[: -len(self.img_suffix)] for p in paths]


    def __len__(self) -> int:
        return len(self.stems)

    def __getitem__(self, index: int) -> dict[str, Any]:
        with self.reading(self.seg_map_paths[index], "a label PNG"):
            label = load_label_map(self.seg_map_paths[index], self.reduce_zero_label)
        self._check_label_values(index, label)
        item: dict[str, Any] = {"img_path": str(self.img_paths[index]), "seg_map_path": str(self.seg_map_paths[index]),
                                "gt_seg_map": torch.from_numpy(label)}
        if self.with_image:
            with self.reading(self.img_paths[index], "an image"):
                item["image"] = load_rgb(self.img_paths[index])
        return item

    def _check_label_values(self, index: int, label: np.ndarray) -> None:
        """Labels must be class ids (0..num_classes-1, after ``reduce_zero_label``) or 255; checked here (a 256-bin
        count per map, well under a millisecond) because mmseg's IoU drops other values from its histograms
        silently, so a wrong label file (an RGB-coloured map, raw ids not converted to train ids) would score."""
        counts = np.bincount(label.ravel(), minlength=256)
        counts[IGNORE_INDEX] = 0
        bad = np.flatnonzero(counts[self.num_classes:]) + self.num_classes
        if len(bad):
            raw = f" before reduce_zero_label: {[int(v) + 1 for v in bad[:8]]}" if self.reduce_zero_label else ""
            raise self.layout_error(self.seg_map_paths[index], (
                f"label values {bad[:8].tolist()}{' ...' if len(bad) > 8 else ''} ({int(counts[bad].sum())} pixels) "
                f"are neither class ids 0..{self.num_classes - 1} nor {IGNORE_INDEX} (ignore){raw}; the label map is "
                "not converted to this benchmark's train ids: convert it as the obtain note says"))

    def sample_id(self, index: int) -> str:
        return self.stems[index]

    def fingerprint(self) -> str:
        """sha256 over stems and the sizes of both files (contents would mean reading the whole set)."""
        digest = hashlib.sha256(type(self).__name__.encode())
        digest.update(f"reduce_zero_label={self.reduce_zero_label}\0".encode())
        for stem, image, label in zip(self.stems, self.img_paths, self.seg_map_paths, strict=True):
            digest.update(f"{stem}\0{image.stat().st_size}\0{label.stat().st_size}\0".encode())
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "data_root": str(self.data_root), "num_classes": self.num_classes,
                "reduce_zero_label": self.reduce_zero_label, "img_dir": str(self.img_dir), "ann_dir": str(self.ann_dir),
                "split_file": str(self.split_file) if self.split_file else None}

    # --- tiny examples in the exact layout --------------------------------------------------------------------

    @classmethod
    def write_example(cls, data_root: str | Path, split: str | None = None, size: tuple[int, int] = (40, 30),
                      seed: int = 0, stems: tuple[str, ...] | None = None) -> Path:
        """Write a few random images and labels in this benchmark's layout (names, suffixes, split file).

        Labels use the raw on-disk range: 0..num_classes with 0 = background/ignored for ``reduce_zero_label``
        sets, 0..num_classes-1 otherwise, plus a band of 255 (ignore). Returns ``data_root``.
        """
        data_root = Path(data_root)
        spec = cls.example_spec(split)
        rng = np.random.default_rng(seed)
        width, height = size
        raw_classes = spec["num_classes"] + (1 if spec["reduce_zero_label"] else 0)
        for stem in stems or cls.example_stems:
            image_path = data_root / spec["img_dir"] / f"{stem}{spec['img_suffix']}"
            label_path = data_root / spec["ann_dir"] / f"{stem}{spec['seg_map_suffix']}"
            image_path.parent.mkdir(parents=True, exist_ok=True)
            label_path.parent.mkdir(parents=True, exist_ok=True)
            pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(image_path, **({"quality": 95} if image_path.suffix == ".jpg" else {}))
            label = rng.integers(0, min(raw_classes, 254), size=(height, width), dtype=np.uint8)
            label[:, : max(1, width // 10)] = IGNORE_INDEX
            Image.fromarray(label).save(label_path)
        if spec.get("split_file"):
            split_path = data_root / spec["split_file"]
            split_path.parent.mkdir(parents=True, exist_ok=True)
            split_path.write_text("".join(f"{stem}\n" for stem in stems or cls.example_stems))
        return data_root

    @classmethod
    def example_spec(cls, split: str | None) -> dict[str, Any]:
        """The constructor arguments a preset uses for ``split`` (what ``write_example`` lays out)."""
        raise NotImplementedError(f"{cls.__name__} has no preset layout; write files with its constructor's arguments")


class _Preset(SegmentationFolder):
    """A benchmark with fixed conventions: only the root, the split and ``with_image`` are chosen."""

    img_dir_pattern = ann_dir_pattern = ""
    img_suffix_default, seg_map_suffix_default = ".jpg", ".png"
    split_file_pattern: str | None = None
    reduce_zero_label_default = False
    splits: tuple[str, ...] = ("val",)

    def __init__(self, data_root: str | Path, split: str | None = None, with_image: bool = True) -> None:
        spec = self.example_spec(split)
        self.split = spec.pop("split")
        super().__init__(data_root, with_image=with_image, **spec)

    @classmethod
    def example_spec(cls, split: str | None) -> dict[str, Any]:
        split = split or cls.splits[-1]
        if split not in cls.splits:
            raise ValueError(f"{cls.__name__} split must be one of {cls.splits}, got {split!r}")
        return {"split": split, "img_dir": cls.img_dir_pattern.format(split=split),
                "ann_dir": cls.ann_dir_pattern.format(split=split), "img_suffix": cls.img_suffix_default,
                "seg_map_suffix": cls.seg_map_suffix_default,
                "split_file": cls.split_file_pattern.format(split=split) if cls.split_file_pattern else None,
                "reduce_zero_label": cls.reduce_zero_label_default, "num_classes": cls.num_classes}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "split": self.split}


@DATASETS.register_module()
class ADE20K(_Preset):
    """ADE20K SceneParsing (150 classes, ``reduce_zero_label``), mmseg ``ADE20KDataset``; 2,000 val images."""

    layout = """
<data_root = .../ade/ADEChallengeData2016>/images/validation/ADE_val_00000001.jpg
<data_root>/annotations/validation/ADE_val_00000001.png   (0 = other/ignored, 1..150 = classes)
"""
    obtain = "ADEChallengeData2016.zip from http://data.csail.mit.edu/places/ADEchallenge/ADEChallengeData2016.zip"
    classes = names.ADE20K_CLASSES
    num_classes = len(classes)
    img_dir_pattern, ann_dir_pattern = "images/{split}", "annotations/{split}"
    reduce_zero_label_default = True
    splits = ("training", "validation")
    example_stems = ("ADE_val_00000001", "ADE_val_00000002", "ADE_val_00000003")


@DATASETS.register_module()
class PascalVOC(_Preset):
    """PASCAL VOC 2012 segmentation with background (21 classes; "VOC21"), mmseg ``PascalVOCDataset``."""

    layout = """
<data_root = .../VOCdevkit/VOC2012>/JPEGImages/2007_000033.jpg
<data_root>/SegmentationClass/2007_000033.png          (palette PNG: 0 = background, 255 = boundary)
<data_root>/ImageSets/Segmentation/val.txt            (1,449 stems)
"""
    obtain = "VOCtrainval_11-May-2012.tar from http://host.robots.ox.ac.uk/pascal/VOC/voc2012/"
    classes = names.PASCAL_VOC_CLASSES
    num_classes = len(classes)
    img_dir_pattern, ann_dir_pattern = "JPEGImages", "SegmentationClass"
    split_file_pattern = "ImageSets/Segmentation/{split}.txt"
    splits = ("train", "trainval", "val")
    example_stems = ("2007_000033", "2007_000042", "2007_000061")


@DATASETS.register_module()
class PascalVOC20(PascalVOC):
    """VOC without background (20 classes; "VOC20"): the VOC21 files with ``reduce_zero_label``."""

    classes = names.PASCAL_VOC20_CLASSES
    num_classes = len(classes)
    reduce_zero_label_default = True


@DATASETS.register_module()
class PascalContext60(_Preset):
    """PASCAL-Context with background (60 classes), mmseg ``PascalContextDataset``; 5,105 val images."""

    layout = """
<data_root = .../VOCdevkit/VOC2010>/JPEGImages/2008_000002.jpg
<data_root>/SegmentationClassContext/2008_000002.png     (0 = background, 1..59)
<data_root>/ImageSets/SegmentationContext/val.txt
"""
    obtain = ("VOCtrainval_03-May-2010.tar and trainval_merged.json (detail-api), converted with mmseg's "
              "tools/dataset_converters/pascal_context.py")
    classes = names.PASCAL_CONTEXT60_CLASSES
    num_classes = len(classes)
    img_dir_pattern, ann_dir_pattern = "JPEGImages", "SegmentationClassContext"
    split_file_pattern = "ImageSets/SegmentationContext/{split}.txt"
    splits = ("train", "val")
    example_stems = ("2008_000002", "2008_000019", "2008_000023")


@DATASETS.register_module()
class PascalContext59(PascalContext60):
    """PASCAL-Context without background (59 classes), mmseg ``PascalContextDataset59`` (``reduce_zero_label``)."""

    classes = names.PASCAL_CONTEXT59_CLASSES
    num_classes = len(classes)
    reduce_zero_label_default = True


@DATASETS.register_module()
class COCOObject(_Preset):
    """COCO-Object: background + 80 thing classes (81), labels ``*_instanceTrainIds.png`` (GroupViT converter)."""

    layout = """
<data_root = .../COCOObject>/images/val2017/000000000139.jpg
<data_root>/annotations/val2017/000000000139_instanceTrainIds.png   (0 = background, 1..80 = things)
"""
    obtain = ("COCO 2017 val images + stuffthingmaps, converted by GroupViT's convert_dataset/cvt_coco_object.py "
              "(Trident's datasets/cvt_coco_object.py)")
    classes = names.COCO_OBJECT_CLASSES
    num_classes = len(classes)
    img_dir_pattern, ann_dir_pattern = "images/{split}", "annotations/{split}"
    seg_map_suffix_default = "_instanceTrainIds.png"
    splits = ("train2017", "val2017")
    example_stems = ("000000000139", "000000000285", "000000000632")


@DATASETS.register_module()
class COCOStuff164k(_Preset):
    """COCO-Stuff 164k (171 classes), mmseg ``COCOStuffDataset``, labels ``*_labelTrainIds.png``."""

    layout = """
<data_root = .../coco_stuff164k>/images/val2017/000000000139.jpg
<data_root>/annotations/val2017/000000000139_labelTrainIds.png     (0..170, 255 = unlabeled)
"""
    obtain = ("val2017.zip and stuffthingmaps_trainval2017.zip (cocodataset.org), converted with mmseg's "
              "tools/dataset_converters/coco_stuff164k.py")
    classes = names.COCO_STUFF_CLASSES
    num_classes = len(classes)
    img_dir_pattern, ann_dir_pattern = "images/{split}", "annotations/{split}"
    seg_map_suffix_default = "_labelTrainIds.png"
    splits = ("train2017", "val2017")
    example_stems = ("000000000139", "000000000285", "000000000632")


@DATASETS.register_module()
class Cityscapes(_Preset):
    """Cityscapes fine (19 train ids), mmseg ``CityscapesDataset``; 500 val images in 3 city folders."""

    layout = """
<data_root = .../cityscapes>/leftImg8bit/val/frankfurt/frankfurt_000000_000294_leftImg8bit.png
<data_root>/gtFine/val/frankfurt/frankfurt_000000_000294_gtFine_labelTrainIds.png   (0..18, 255 = ignore)
"""
    obtain = ("leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip (cityscapes-dataset.com, login); "
              "*_labelTrainIds.png from mmseg's tools/dataset_converters/cityscapes.py")
    classes = names.CITYSCAPES_CLASSES
    num_classes = len(classes)
    img_dir_pattern, ann_dir_pattern = "leftImg8bit/{split}", "gtFine/{split}"
    img_suffix_default, seg_map_suffix_default = "_leftImg8bit.png", "_gtFine_labelTrainIds.png"
    splits = ("train", "val")
    example_stems = ("frankfurt/frankfurt_000000_000294", "frankfurt/frankfurt_000000_000576",
                     "lindau/lindau_000000_000019")


@DATASETS.register_module()
class GeneratedScenes(BenchDataset):
    """Synthetic scenes for smoke runs and demos, generated in memory: a background of class 0 with one
    axis-aligned rectangle per foreground class (random position and size, a class colour plus noise), drawn in
    class order so later classes may cover earlier ones. Deterministic in ``seed``; no files."""

    layout = "generated in memory (no files)"
    obtain = "nothing to download"

    def __init__(self, num_images: int = 4, size: tuple[int, int] = (64, 96), num_classes: int = 3,
                 seed: int = 0) -> None:
        self.num_images, self.size, self.num_classes, self.seed = num_images, tuple(size), num_classes, seed
        self.colours = np.random.default_rng(seed).integers(0, 256, size=(num_classes, 3))

    def __len__(self) -> int:
        return self.num_images

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = np.random.default_rng([self.seed, index])
        height, width = self.size
        label = np.zeros((height, width), dtype=np.uint8)
        for c in range(1, self.num_classes):
            h, w = rng.integers(height // 4, height // 2 + 1), rng.integers(width // 4, width // 2 + 1)
            y, x = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
            label[y:y + h, x:x + w] = c
        image = self.colours[label] + rng.normal(0, 12, size=(height, width, 3))
        return {"image": torch.from_numpy(image.clip(0, 255).astype(np.uint8)).permute(2, 0, 1),
                "gt_seg_map": torch.from_numpy(label), "img_path": f"generated/{index:04d}"}

    def sample_id(self, index: int) -> str:
        return f"scene-{self.seed}-{index:04d}"

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "size": list(self.size), "num_classes": self.num_classes, "seed": self.seed}
