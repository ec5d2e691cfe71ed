"""ImageNet-1k validation (seeded calib/test split) and ImageNet-LT (OLTR split files, Liu et al. 2019).

Class folders are checked against the known class list (the 1,000 ImageNet-1k wnids that timm ships, or the
``classes`` subset given): a missing or unknown folder would shift every label after it, so it is an error, and
hidden entries (``.ipynb_checkpoints``, ``.DS_Store``, AppleDouble ``._*`` files) are ignored. Images are
preprocessed here so batches have equal sizes: RGB, shorter side resized to ``resize``, center crop
``crop_size``, float [3, crop, crop] in [0, 1]; normalisation is left to the classifier. Fingerprints hash sample
ids, labels and file sizes, not file contents (reading 50k JPEGs to fingerprint would cost a full pass).
"""
from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from bench.data import BenchDataset, is_hidden, visible
from bench.formats.oltr import read_split_file
from bench.registry import DATASETS

VAL_SPLITS = ("all", "calib", "test")
LT_SPLITS = ("train", "val", "test")
INTERPOLATIONS = ("nearest", "nearest-exact", "bilinear", "bicubic", "box", "hamming", "lanczos")
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")
IMAGENET_OBTAIN = ("ILSVRC2012_img_val.tar from https://image-net.org/download-images (login); untar into "
                   "<root>/val and sort into wnid folders (e.g. the valprep.sh script) or keep it flat with "
                   "mmpretrain's meta/val.txt")


NUM_IMAGENET1K_CLASSES = 1000
SHOWN = 5  # names listed in an error before "and N more"


@functools.lru_cache(maxsize=1)
def imagenet1k_wnids() -> tuple[str, ...]:
    """The 1,000 ImageNet-1k wnids in class-index order (timm's ``ImageNetInfo``; sorted, as torchvision's
    ImageFolder orders the folders of a complete tree, so label = position)."""
    from timm.data import ImageNetInfo

    wnids = tuple(ImageNetInfo().label_names())
    if len(wnids) != NUM_IMAGENET1K_CLASSES or list(wnids) != sorted(set(wnids)):
        raise RuntimeError(f"timm's ImageNet-1k class list has {len(wnids)} entries or is not sorted: "
                           "the timm install is not what this reader was written against")
    return wnids


def known_classes(classes: Sequence[str] | None) -> tuple[str, ...]:
    """The wnids a reader expects, in label order: ImageNet-1k's, or ``classes`` (a subset such as ImageNet-100)
    sorted as ImageFolder sorts them; ValueError for a repeated name or one that is not an ImageNet-1k wnid."""
    if classes is None:
        return imagenet1k_wnids()
    if isinstance(classes, str):
        raise ValueError(f"classes must be a list of wnids (e.g. ['n01440764', ...]), got the string {classes!r}")
    names = [str(name) for name in classes]
    repeated = sorted({name for name in names if names.count(name) > 1})
    unknown = sorted(set(names) - set(imagenet1k_wnids()))
    if not names or repeated or unknown:
        raise ValueError(f"classes must list distinct ImageNet-1k wnids; repeated: {_shown(repeated)}, not "
                         f"ImageNet-1k wnids: {_shown(unknown)}")
    return tuple(sorted(names))


def _shown(names: Sequence[str]) -> str:
    if not names:
        return "none"
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more


def class_folder_problem(found: Sequence[str], expected: Sequence[str]) -> str | None:
    """None when the class folders ``found`` are exactly ``expected``, else what is wrong and how to fix it.

    Labels are positions in ``expected``; any folder too many or too few would shift them, so both are refused.
    """
    unknown = sorted(set(found) - set(expected))
    wanted = set(found)
    missing = [name for name in expected if name not in wanted]
    if not unknown and not missing:
        return None
    parts = []
    if unknown:
        parts.append(f"{len(unknown)} folder(s) that are not expected class wnids: {_shown(unknown)}")
    if missing:
        parts.append(f"{len(missing)} of the {len(expected)} expected wnid folders missing: {_shown(missing)}")
    return (f"{'; '.join(parts)}. Expected exactly one folder per class ({len(expected)} wnids; label = position "
            "of the wnid in sorted order), so any other set would shift labels. Fix: move stray folders out of the "
            "val directory, restore missing classes from ILSVRC2012_img_val.tar, or pass classes=[...] to read a "
            "class subset")


def load_image(path: Path, resize: int, crop_size: int, interpolation: str,
               first_crop: int | None = None) -> torch.Tensor:
    """torchvision's eval preprocessing on a PIL image (what timm and IMAGENET1K_V1 weights use), without Normalize;
    ``first_crop`` cuts a central square of that side before resizing (D-TRAK's CelebA ``CenterCrop(140)``)."""
    # Imported here: torchvision pulls in torch._dynamo (seconds), and registry look-ups import every reader module.
    import torchvision.transforms.functional as F

    with Image.open(path) as image:
        image = image.convert("RGB")
    if first_crop is not None:
        image = F.center_crop(image, first_crop)
    image = F.resize(image, resize, interpolation=F.InterpolationMode(interpolation))
    image = F.center_crop(image, crop_size)
    return F.pil_to_tensor(image).float() / 255.0


class ImageFiles(BenchDataset):
    """Items from a list of (image path, label, sample id); subclasses build the list and the split."""

    def __init__(self, resize: int, crop_size: int, interpolation: str, first_crop: int | None = None) -> None:
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
        self.resize, self.crop_size, self.interpolation = resize, crop_size, interpolation
        self.first_crop = first_crop
        self.paths: list[Path] = []
        self.labels: list[int] = []
        self.ids: list[str] = []

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        with self.reading(self.paths[index], "a JPEG or PNG image"):
            image = load_image(self.paths[index], self.resize, self.crop_size, self.interpolation, self.first_crop)
        return {"image": image, "target": torch.tensor(self.labels[index], dtype=torch.int64)}

    def sample_id(self, index: int) -> str:
        return self.ids[index]

    def fingerprint(self) -> str:
        """sha256 over sample ids, labels and file sizes (not contents: a content hash would read every image)."""
        digest = hashlib.sha256(type(self).__name__.encode())
        for sample_id, label, path in zip(self.ids, self.labels, self.paths, strict=True):
            digest.update(f"{sample_id}\0{label}\0{path.stat().st_size}\0".encode())
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        first = {} if self.first_crop is None else {"first_crop": self.first_crop}
        return {**super().describe(), "num_classes": len(set(self.labels)), **first, "resize": self.resize,
                "crop_size": self.crop_size, "interpolation": self.interpolation}



@DATASETS.register_module()
class ImageNetVal(ImageFiles):
    """The 50k ImageNet-1k validation images; "calib"/"test" split them by a seeded permutation.

    Samples are ordered by file name in both layouts, so the split does not depend on the layout. "calib" is the
    first ``calib_size`` entries of ``np.random.default_rng(split_seed).permutation(n)``, "test" the rest (in
    permutation order). Labels follow the sorted-wnid class order (torchvision/timm; mmpretrain's meta/val.txt).
    Sample ids are file stems, e.g. ``ILSVRC2012_val_00000001``. The wnid folders must be exactly the known
    classes: the 1,000 ImageNet-1k wnids, or ``classes`` (a subset such as ImageNet-100, labelled by position in
    sorted order); ``num_classes``, when given, must equal their number. Hidden entries are ignored.
    """

    layout = """
either ImageFolder (torchvision/timm; class index = position of the wnid among the sorted folders):
  <root>/val/n01440764/ILSVRC2012_val_00000293.JPEG
  <root>/val/<wnid>/<file>.JPEG           (1000 wnid folders, 50 images each; with classes=[...], exactly those)
or flat (mmpretrain/Caffe):
  <root>/val/ILSVRC2012_val_00000001.JPEG ... ILSVRC2012_val_00050000.JPEG
  <root>/meta/val.txt                     (lines "ILSVRC2012_val_00000001.JPEG 65", sorted-wnid labels)
"""
    obtain = IMAGENET_OBTAIN

    def __init__(self, root: str | Path, split: str = "all", calib_size: int = 25000, split_seed: int = 0,
                 resize: int = 256, crop_size: int = 224, interpolation: str = "bilinear",
                 num_classes: int | None = None, classes: Sequence[str] | None = None) -> None:
        super().__init__(resize, crop_size, interpolation)
        if split not in VAL_SPLITS:
            raise ValueError(f"ImageNetVal split must be one of {VAL_SPLITS}, got {split!r}")
        self.root, self.split, self.calib_size, self.split_seed = Path(root), split, calib_size, split_seed
        self.classes = known_classes(classes)
        self.class_subset = classes is not None
        if num_classes is not None and num_classes != len(self.classes):
            raise ValueError(f"ImageNetVal: num_classes={num_classes} but the class list has {len(self.classes)} "
                             "wnids (ImageNet-1k's 1000, or the classes given); drop num_classes or fix classes")
        val_dir = self.require(self.root / "val", "directory")
        entries = visible(sorted(val_dir.iterdir()))
        folders = [e for e in entries if e.is_dir()]
        if folders:
            self.image_layout = "imagefolder"
            samples = self._image_folder(folders)
        elif any(e.suffix.lower() in IMAGE_SUFFIXES for e in entries):
            self.image_layout = "flat"
            samples = self._flat(val_dir)
        else:
            raise self.layout_error(val_dir, "neither wnid folders nor flat images in the val directory")
        samples.sort(key=lambda sample: sample[0])
        ids = [sample[0] for sample in samples]
        if len(set(ids)) != len(ids):
            raise self.layout_error(val_dir, "the same file name appears in two class folders")
        self.num_classes = len(self.classes)
        self.source_size = len(samples)
        if split == "all":
            chosen = np.arange(len(samples))
        else:
            if not 0 <= calib_size <= len(samples):
                raise ValueError(f"calib_size {calib_size} does not fit {len(samples)} validation images")
            order = np.random.default_rng(split_seed).permutation(len(samples))
            chosen = order[:calib_size] if split == "calib" else order[calib_size:]
        self.ids = [samples[i][0] for i in chosen]
        self.labels = [samples[i][1] for i in chosen]
        self.paths = [samples[i][2] for i in chosen]

    def _image_folder(self, folders: list[Path]) -> list[tuple[str, int, Path]]:
        problem = class_folder_problem([folder.name for folder in folders], self.classes)
        if problem:
            raise self.layout_error(self.root / "val", problem)
        label = {wnid: index for index, wnid in enumerate(self.classes)}
        return [(file.stem, label[folder.name], file) for folder in folders
                for file in sorted(folder.iterdir()) if file.suffix.lower() in IMAGE_SUFFIXES and not is_hidden(file)]

    def _flat(self, val_dir: Path) -> list[tuple[str, int, Path]]:
        labels_file = self.require(self.root / "meta" / "val.txt", "labels file for the flat layout")
        samples = []
        for number, line in enumerate(labels_file.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2 or not parts[1].isdigit():
                raise self.layout_error(labels_file, f"line {number} is not '<file> <label>': {line!r}")
            if int(parts[1]) >= len(self.classes):
                raise self.layout_error(labels_file, f"line {number} has label {parts[1]}, outside 0..."
                                                     f"{len(self.classes) - 1} (the {len(self.classes)} classes)")
            path = self.require(val_dir / parts[0])
            samples.append((path.stem, int(parts[1]), path))
        return samples

    def describe(self) -> dict[str, Any]:
        sizes = {"calib_size": min(self.calib_size, self.source_size),
                 "test_size": self.source_size - min(self.calib_size, self.source_size)}
        return {**super().describe(), "split": self.split, "root": str(self.root), "layout": self.image_layout,
                "num_classes": self.num_classes, "classes": list(self.classes) if self.class_subset else "imagenet1k",
                "source_size": self.source_size, "split_seed": self.split_seed,
                "split_rule": "calib = np.random.default_rng(split_seed).permutation(n)[:calib_size]", **sizes}


@DATASETS.register_module()
class ImageNetLT(ImageFiles):
    """ImageNet-LT: the images listed in OLTR's ``ImageNet_LT_<split>.txt``; sample ids are the listed paths."""

    layout = """
<split_dir>/ImageNet_LT_train.txt   (115,846 lines "train/n01440764/n01440764_10026.JPEG 0")
<split_dir>/ImageNet_LT_val.txt     (20,000 lines, images from ImageNet train)
<split_dir>/ImageNet_LT_test.txt    (50,000 lines "val/n01440764/ILSVRC2012_val_00000293.JPEG 0")
<root>/train/<wnid>/*.JPEG, <root>/val/<wnid>/*.JPEG   (listed paths are relative to the ImageNet root)
"""
    obtain = ("split files: https://github.com/zhmiao/OpenLongTailRecognition-OLTR (README links the ImageNet_LT "
              "folder); images: " + IMAGENET_OBTAIN + ", plus ILSVRC2012_img_train.tar for the train/val splits")

    def __init__(self, root: str | Path, split: str = "test", split_dir: str | Path | None = None,
                 resize: int = 256, crop_size: int = 224, interpolation: str = "bilinear") -> None:
        super().__init__(resize, crop_size, interpolation)
        if split not in LT_SPLITS:
            raise ValueError(f"ImageNetLT split must be one of {LT_SPLITS}, got {split!r}")
        self.root, self.split = Path(root), split
        self.split_dir = Path(split_dir) if split_dir is not None else self.root
        self.split_file = self.require(self.split_dir / f"ImageNet_LT_{split}.txt", "OLTR split file")
        entries = read_split_file(self.split_file, self.layout_error)
        self._check_labels(entries)
        for relative, label in entries:
            self.paths.append(self.require(self.root / relative))
            self.ids.append(relative)
            self.labels.append(label)

    def _check_labels(self, entries: list[tuple[str, int]]) -> None:
        """Labels are ImageNet-1k class indices, and one wnid folder has one label (else the file is not OLTR's)."""
        label_of: dict[str, tuple[int, int]] = {}  # wnid folder -> (label, line)
        for number, (relative, label) in enumerate(entries, start=1):
            if not 0 <= label < NUM_IMAGENET1K_CLASSES:
                raise self.layout_error(self.split_file, f"entry {number} ({relative}) has label {label}, outside "
                                                         f"0..{NUM_IMAGENET1K_CLASSES - 1}")
            parts = Path(relative).parts
            if len(parts) < 2:
                continue
            first = label_of.setdefault(parts[-2], (label, number))
            if first[0] != label:
                raise self.layout_error(self.split_file, (
                    f"entry {number} ({relative}) has label {label} but entry {first[1]} gives the folder "
                    f"{parts[-2]} label {first[0]}: one class folder must have one label"))

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "split": self.split, "root": str(self.root), "split_file": str(self.split_file)}
