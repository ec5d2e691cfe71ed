"""Images in one folder per class (``<root>/<class name>/<image>``), labelled by the class folders' sorted order.

The generic layout of a classification test split (torchvision's ImageFolder without its ImageNet wnid check):
collage prompting reads the ten downstream sets of its paper (Aircraft, Caltech101, DTD, ...) this way, each test
split arranged as class folders, and takes the category names of its prompt from the same folders
(``class_names``), so labels and names cannot drift apart.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.data import is_hidden, visible
from bench.datasets.imagenet import IMAGE_SUFFIXES, ImageFiles
from bench.registry import DATASETS


def class_names(root: str | Path) -> list[str]:
    """The class folder names under ``root`` in label order (sorted), hidden folders ignored."""
    return sorted(entry.name for entry in visible(Path(root).iterdir()) if entry.is_dir())


@DATASETS.register_module()
class ClassFolderImages(ImageFiles):
    """Every image under ``<root>/<class>/`` (JPEG or PNG), label = position of the class among the sorted folder
    names; sample ids ``<class>/<file stem>``. Images are resized (shorter side ``resize``) and centre-cropped to
    ``crop_size`` as the harness's other image readers do."""

    layout = """
<root>/<class name>/<image>.jpg      (one folder per class; label = position in sorted folder order)
"""
    obtain = "arrange the split's images in one folder per class (e.g. CoOp's split_zhou_<dataset>.json test entries)"

    def __init__(self, root: str | Path, resize: int = 224, crop_size: int = 224,
                 interpolation: str = "bicubic") -> None:
        super().__init__(resize, crop_size, interpolation)
        self.root = self.require(Path(root), "directory")
        self.classes = class_names(self.root)
        if not self.classes:
            raise self.layout_error(self.root, "no class folders")
        for label, name in enumerate(self.classes):
            files = sorted(path for path in (self.root / name).iterdir()
                           if path.suffix.lower() in IMAGE_SUFFIXES and not is_hidden(path))
            for path in files:
                self.paths.append(path)
                self.labels.append(label)
                self.ids.append(f"{name}/{path.stem}")
        if not self.ids:
            raise self.layout_error(self.root, f"no {'/'.join(IMAGE_SUFFIXES)} images in the class folders")

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "root": str(self.root), "num_classes": len(self.classes)}
