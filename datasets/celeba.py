"""CelebA 64 of D-TRAK (and DAS's paper), read from the official aligned images and partition file.

D-TRAK ``CelebA/00_EDA.ipynb`` reads ``list_eval_partition.txt`` with pandas (row = line number) and selects
``train_test_split(rows, train_size=n, random_state=42)`` without stratification: 5,000 train images from
partition 0 and 1,000 val images from partition 1 (the official validation partition, not the train partition),
kept in sklearn's order; its index pickles hold those line numbers. ``train_unconditional.py`` then applies
``CenterCrop(140)``, ``Resize(64, bilinear)``, ``CenterCrop(64)`` (and a random flip, left to training).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.datasets.attribution_splits import split_rows
from bench.datasets.imagenet import ImageFiles
from bench.registry import DATASETS

PARTITIONS = {"train": 0, "val": 1, "test": 2}  # list_eval_partition.txt's codes
SIZES = {"train": 5000, "val": 1000}
PARTITION_LINES = 202599  # the official file: the reference heads are checked on it
# first line numbers of D-TRAK's released idx-train.pkl / idx-val.pkl (CelebA/00_EDA.ipynb outputs)
REFERENCE_HEADS = {"train": (48803, 28992, 118843, 86803, 153263), "val": (167013, 179842, 176165, 167714, 180120)}


@DATASETS.register_module()
class CelebA(ImageFiles):
    """``split``: ``train`` (5,000 of partition 0), ``val`` (1,000 of partition 1), ``test`` (all of partition 2,
    file order), selected as D-TRAK does; ``index_file`` reads a released ``idx-train.pkl`` / ``idx-val.pkl``
    (line numbers of ``list_eval_partition.txt``) instead; ``train_size`` / ``val_size`` scale the selection down.

    Items: ``image`` float [3, size, size] in [0, 1] after D-TRAK's crop and resize, ``target`` 0 (unconditional).
    Sample ids are ``img_align_celeba/<file>``; ``rows`` holds the partition-file line numbers.
    """

    layout = """
<root>/list_eval_partition.txt   (one line per image: "000001.jpg 0"; 0 = train, 1 = val, 2 = test)
<root>/img_align_celeba/000001.jpg ... 202599.jpg   (the aligned and cropped 178 x 218 JPEGs)
"""
    obtain = ("img_align_celeba.zip and Eval/list_eval_partition.txt from the CelebA Google Drive "
              "(https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html), or python -c \"import torchvision; "
              "torchvision.datasets.CelebA('<dir>', download=True)\" and pass <dir>/celeba as the root")

    def __init__(self, root: str | Path, split: str = "train", size: int = 64, first_crop: int = 140,
                 index_file: str | Path | None = None, train_size: int | None = None,
                 val_size: int | None = None) -> None:
        if split not in PARTITIONS:
            raise ValueError(f"CelebA split must be one of {tuple(PARTITIONS)}, got {split!r}")
        super().__init__(resize=size, crop_size=size, interpolation="bilinear", first_crop=first_crop)
        self.root, self.split = Path(root), split
        self.train_size = SIZES["train"] if train_size is None else train_size
        self.val_size = SIZES["val"] if val_size is None else val_size
        self.index_file = Path(index_file) if index_file is not None else None
        names, partitions = self._read_partitions(self.root / "list_eval_partition.txt")
        candidates = np.flatnonzero(partitions == PARTITIONS[split])
        what = f"list_eval_partition.txt lines of partition {PARTITIONS[split]} ({split})"
        self.rows, selected = split_rows(
            self, split, candidates, what, self.root / "list_eval_partition.txt", index_file=self.index_file,
            wanted=self.train_size if split == "train" else self.val_size)
        if selected:
            official = len(names) == PARTITION_LINES and (train_size if split == "train" else val_size) is None
            head = REFERENCE_HEADS[split]
            if official and tuple(self.rows[:len(head)].tolist()) != head:
                raise self.layout_error(self.root / "list_eval_partition.txt", (
                    f"the {split} selection starts {tuple(self.rows[:len(head)].tolist())}, D-TRAK's released "
                    f"idx-{split}.pkl starts {head}: this scikit-learn selects differently; pass index_file= with the "
                    "released pickle"), obtain="D-TRAK's CelebA/data/indices (sail-sg/D-TRAK)")
        folder = self.require(self.root / "img_align_celeba", "directory")
        for row in self.rows.tolist():
            self.paths.append(folder / names[row])
            self.labels.append(0)
            self.ids.append(f"img_align_celeba/{names[row]}")
        missing = [path for path in self.paths if not path.is_file()]
        if missing:
            raise self.layout_error(missing[0], f"missing image ({len(missing)} of the {len(self.paths)} images of "
                                                f"the {split} split are missing; this is the first)")

    def _read_partitions(self, path: Path) -> tuple[list[str], np.ndarray]:
        """(file name, partition code) per line; a layout error naming the file and line when malformed."""
        with self.reading(self.require(path, "partition file"), "list_eval_partition.txt"):
            lines = path.read_text(encoding="utf-8").splitlines()
        names, codes = [], []
        for number, line in enumerate(lines, start=1):
            fields = line.split()
            if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
                raise self.layout_error(path, f"line {number} is {line!r}, expected '<image>.jpg <0|1|2>' (the "
                                              "official file has no header)")
            names.append(fields[0])
            codes.append(int(fields[1]))
        if not names:
            raise self.layout_error(path, "the partition file is empty")
        return names, np.asarray(codes, dtype=np.int64)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "split": self.split, "root": str(self.root), "train_size": self.train_size,
                "val_size": self.val_size, "index_file": str(self.index_file) if self.index_file else None,
                "preprocessing": f"CenterCrop({self.first_crop}), Resize({self.resize}, bilinear), "
                                 f"CenterCrop({self.crop_size})",
                "split_convention": "D-TRAK CelebA/00_EDA: sklearn train_test_split(random_state=42), train from "
                                    "partition 0, val from partition 1"}
