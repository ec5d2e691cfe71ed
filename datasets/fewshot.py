"""Few-shot target domains of CDC (Ojha et al. 2021) as DPMs-ANT reads them: 10 training images per target and
the full target set (the FID reference), or one ImageFolder root as the official loader takes it.

Layouts: the suggested ``<root>/<target>/train10/*.png`` and ``<root>/<target>/full/*.png`` (flat, as CDC's
release and the DPMs-ANT fork's loader), and the official ``torchvision.datasets.ImageFolder`` convention
``<folder>/<any_class>/*.png`` (images one level below; the class is ignored: the official training code never
reads the labels). Preprocessing is the official ``build_transform`` without its random flip (left to training):
RGB, bicubic resize of both sides to ``size`` x ``size`` (no crop, as ``Resize([s, s])``), ToTensor. Items are
float [3, size, size] in [0, 1] like the project's other image readers; the official Normalize to [-1, 1] is the
diffusion training's step. Files are ordered as ImageFolder orders them (sorted classes, then sorted names).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from PIL import Image

from bench.data import BenchDataset, visible
from bench.datasets.imagenet import ImageFiles
from bench.registry import DATASETS

SPLITS = ("train10", "full")
# torchvision.datasets.folder.IMG_EXTENSIONS: what the official ImageFolder accepts
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def load_square(path: Path, size: int) -> torch.Tensor:
    """RGB image resized to (size, size) with PIL's bicubic (``Resize([s, s], BICUBIC)`` on a PIL image), float
    [3, size, size] in [0, 1]."""
    import torchvision.transforms.functional as F

    with Image.open(path) as image:
        rgb = image.convert("RGB")
    resized = F.resize(rgb, [size, size], interpolation=F.InterpolationMode.BICUBIC)
    return F.pil_to_tensor(resized).float() / 255.0


@DATASETS.register_module()
class FewShotImages(ImageFiles):
    """The images of one few-shot target: ``<root>/<target>/<split>`` when ``target`` is given (``split``
    ``train10`` or ``full``), else ``root`` itself (the official ``target_data_path``). A folder holds its images
    directly (flat) or in class sub-folders (ImageFolder), not both. ``num_shots`` (default 10) is checked on
    ``train10``: a 10-shot run on 9 or 11 images would be another benchmark; pass ``num_shots=None`` to skip.

    Items: ``image`` float [3, size, size] in [0, 1], ``target`` 0 (unconditional). Sample ids are paths relative
    to the folder (``img01.png`` or ``<class>/img01.png``).
    """

    layout = """
<root>/<target>/train10/*.png   (the 10 training images; CDC's R_train)
<root>/<target>/full/*.png      (the whole target set, the FID reference; CDC's R_test)
or the official ImageFolder convention (images one folder below the root, the class name is ignored):
<root>/<any_class>/*.png
"""
    obtain = ("CDC's few-shot targets (babies, sunglasses, sketches, ...) from "
              "WisconsinAIVision/few-shot-gan-adaptation (README, 'Datasets'), or DCL's Google Drive mirror "
              "(yunqing-me/A-Closer-Look-at-FSIG); put the 10 "
              "training images in <target>/train10 and the full set in <target>/full")

    def __init__(self, root: str | Path, target: str | None = None, split: str = "train10", size: int = 256,
                 num_shots: int | None = 10) -> None:
        if split not in SPLITS:
            raise ValueError(f"FewShotImages split must be one of {SPLITS}, got {split!r}")
        if size <= 0:
            raise ValueError(f"FewShotImages size must be positive, got {size}")
        super().__init__(resize=size, crop_size=size, interpolation="bicubic")
        self.root, self.target, self.split, self.size = Path(root), target, split, int(size)
        self.folder = self.require(self.root / target / split if target is not None else self.root, "directory")
        if not self.folder.is_dir():
            raise self.layout_error(self.folder, "not a directory")
        entries = visible(sorted(self.folder.iterdir()))
        images = [e for e in entries if e.is_file() and e.suffix.lower() in IMAGE_SUFFIXES]
        classes = [e for e in entries if e.is_dir()]
        if images and classes:
            raise self.layout_error(self.folder, f"both images ({images[0].name}, ...) and sub-folders "
                                                 f"({classes[0].name}, ...): a folder is either flat or ImageFolder",
                                    obtain="move the images into one layout")
        if classes:
            self.image_layout = "imagefolder"
            images = [path for folder in classes for path in visible(sorted(folder.iterdir()))
                      if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES]
        else:
            self.image_layout = "flat"
        if not images:
            raise self.layout_error(self.folder, f"no images ({', '.join(IMAGE_SUFFIXES)}) in the folder or in "
                                                 "class sub-folders of it")
        self.num_shots = num_shots
        if split == "train10" and num_shots is not None and len(images) != num_shots:
            raise self.layout_error(self.folder, f"{len(images)} images where a {num_shots}-shot training set has "
                                                 f"{num_shots}", obtain=f"keep exactly {num_shots} images there "
                                                                        "(CDC's R_train), or pass num_shots=None")
        for path in images:
            self.paths.append(path)
            self.labels.append(0)
            self.ids.append(path.relative_to(self.folder).as_posix())

    def __getitem__(self, index: int) -> dict[str, Any]:
        with self.reading(self.paths[index], "a JPEG or PNG image"):
            image = load_square(self.paths[index], self.size)
        return {"image": image, "target": torch.tensor(0, dtype=torch.int64)}

    def describe(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "num_samples": len(self), "root": str(self.root),
                "target": self.target, "split": self.split, "folder": str(self.folder),
                "image_layout": self.image_layout, "size": self.size, "resize": "bicubic to size x size (no crop)",
                "num_shots": self.num_shots}


@DATASETS.register_module()
class DomainPair(BenchDataset):
    """Source and target images together, labelled as DPMs-ANT's domain classifier is trained (source 1, target 0,
    train_discriminator.py:112-113): for evaluating that classifier with the classification task. ``source`` and
    ``target`` are dataset specs whose items hold float ``image``; items are ``image`` and ``target`` (the domain
    label); ids ``source/<id>`` and ``target/<id>``."""

    layout = "the two datasets' own layouts"
    obtain = "see the source and target datasets"

    def __init__(self, source: dict[str, Any], target: dict[str, Any]) -> None:
        self.source, self.target = DATASETS.build(dict(source)), DATASETS.build(dict(target))
        self.parts = ((self.source, 1, "source"), (self.target, 0, "target"))

    def __len__(self) -> int:
        return len(self.source) + len(self.target)

    def _locate(self, index: int) -> tuple[Any, int, str, int]:
        if not 0 <= index < len(self):
            raise IndexError(f"DomainPair index {index} out of range (0..{len(self) - 1})")
        dataset, label, name = self.parts[0] if index < len(self.source) else self.parts[1]
        return dataset, label, name, index if index < len(self.source) else index - len(self.source)

    def __getitem__(self, index: int) -> dict[str, Any]:
        dataset, label, _, inner = self._locate(index)
        return {"image": dataset[inner]["image"], "target": torch.tensor(label, dtype=torch.int64)}

    def sample_id(self, index: int) -> str:
        dataset, _, name, inner = self._locate(index)
        return f"{name}/{dataset.sample_id(inner)}"

    def describe(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "num_samples": len(self), "labels": {"source": 1, "target": 0},
                "source": self.source.describe(), "target": self.target.describe()}
