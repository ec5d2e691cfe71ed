"""ArtBench-2 and ArtBench-5 of D-TRAK and DAS, read from the official ArtBench-10 metadata and 256 px folders.

Both codes read ``ArtBench-10.csv`` (columns ``name``, ``label`` = style, ``split`` = train/test; one row per
image), keep the rows of the subset's styles and select with ``train_test_split(..., random_state=42,
stratify=label)`` (D-TRAK ``ArtBench{2,5}/00_EDA.ipynb``; DAS ``ArtBench2/00_subset.ipynb`` halves with
``train_size=0.5``: the same 5,000 and 1,000). Their index pickles hold CSV row numbers. Images come from
``artbench-10-imagefolder/<style>/<name>`` (what the code reads) or, when only that tar is missing, from the
split tar's ``artbench-10-imagefolder-split/<train|test>/<style>/<name>`` (same files). Preprocessing is the
training transform without its random flip: ``Resize(size, bilinear)`` of the shorter side, ``CenterCrop(size)``
(the identity on the official 256 x 256 images at ``size=256``).
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from bench.datasets.attribution_splits import split_rows
from bench.datasets.imagenet import ImageFiles
from bench.registry import DATASETS

# ArtBench-10's styles in class-index order (the folder names, sorted)
STYLES = ("art_nouveau", "baroque", "expressionism", "impressionism", "post_impressionism", "realism",
          "renaissance", "romanticism", "surrealism", "ukiyo_e")
SUBSETS = {
    "artbench2": ("post_impressionism", "ukiyo_e"),
    "artbench5": ("post_impressionism", "ukiyo_e", "romanticism", "renaissance", "baroque"),
}
TRAIN_SIZES = {"artbench2": 5000, "artbench5": 12500}  # of 5,000 train images per style
VAL_SIZE = 1000  # of 1,000 test images per style
CSV_ROWS = 60000  # the official metadata: the reference heads below are checked on it
# first indices of the released pickles (notebook outputs): D-TRAK ArtBench2 idx-val.pkl = DAS idx-test.pkl,
# DAS ArtBench2 idx-train.pkl, D-TRAK ArtBench5 idx-val.pkl (its printed head shows four)
REFERENCE_HEADS = {
    ("artbench2", "train"): (44104, 44132, 45049, 54897, 42530, 46662, 55330, 46539, 46774, 54646),
    ("artbench2", "val"): (58519, 45032, 42761, 58081, 58630, 58718, 58338, 46951, 43851, 46195),
    ("artbench5", "val"): (32382, 48318, 52045, 9845),
}


def caption(style: str) -> str:
    """The text prompt D-TRAK trains the LoRA with: ``'a {style} painting'``, underscores as spaces."""
    return f"a {style.replace('_', ' ').lower()} painting"


@DATASETS.register_module()
class ArtBench(ImageFiles):
    """``subset`` (``artbench2`` / ``artbench5``) of ArtBench-10; ``split``: ``train`` (5,000 / 12,500 of the
    subset's train images, stratified), ``val`` (1,000 of its test images, stratified: DAS calls it "test"),
    ``test`` (all its test images, CSV order). ``index_file`` reads a released ``idx-train.pkl`` / ``idx-val.pkl``
    (CSV rows) instead; ``train_size`` / ``val_size`` scale the selection down.

    Items: ``image`` float [3, size, size] in [0, 1], ``target`` the ArtBench-10 style index (``STYLES``),
    ``caption`` the training prompt. Sample ids are ``<style>/<name>``; ``rows`` holds the CSV rows.
    """

    layout = """
<root>/ArtBench-10.csv                       (columns include name, label (style), split (train/test))
<root>/artbench-10-imagefolder/<style>/<name>.jpg          (256 x 256 JPEGs, what the code reads), or
<root>/artbench-10-imagefolder-split/<train|test>/<style>/<name>.jpg
"""
    obtain = ("https://artbench.eecs.berkeley.edu/files/ArtBench-10.csv and "
              "https://artbench.eecs.berkeley.edu/files/artbench-10-imagefolder.tar (or "
              "artbench-10-imagefolder-split.tar), untarred into <root>; see github.com/liaopeiyuan/artbench")

    def __init__(self, root: str | Path, subset: str = "artbench2", split: str = "train", size: int = 256,
                 index_file: str | Path | None = None, train_size: int | None = None,
                 val_size: int | None = None) -> None:
        if subset not in SUBSETS:
            raise ValueError(f"ArtBench subset must be one of {tuple(SUBSETS)}, got {subset!r}")
        if split not in ("train", "val", "test"):
            raise ValueError(f"ArtBench split must be one of ('train', 'val', 'test'), got {split!r}")
        super().__init__(resize=size, crop_size=size, interpolation="bilinear")
        self.root, self.subset, self.split, self.size = Path(root), subset, split, size
        self.train_size = TRAIN_SIZES[subset] if train_size is None else train_size
        self.val_size = VAL_SIZE if val_size is None else val_size
        self.index_file = Path(index_file) if index_file is not None else None
        names, styles, splits = self._read_metadata(self.root / "ArtBench-10.csv")
        source_split = "train" if split == "train" else "test"
        candidates = np.flatnonzero(np.isin(styles, SUBSETS[subset]) & (splits == source_split))
        what = f"ArtBench-10.csv rows of {source_split} images of the styles {SUBSETS[subset]}"
        self.rows, selected = split_rows(
            self, split, candidates, what, self.root / "ArtBench-10.csv", index_file=self.index_file,
            wanted=self.train_size if split == "train" else self.val_size, labels=styles[candidates])
        if selected:
            self._check_reference_head(len(names), (train_size if split == "train" else val_size) is None)
        folder = self._image_folder()
        for row in self.rows.tolist():
            where = folder / splits[row] if folder.name.endswith("-split") else folder
            self.paths.append(where / styles[row] / names[row])
            self.labels.append(STYLES.index(styles[row]))
            self.ids.append(f"{styles[row]}/{names[row]}")
        missing = [path for path in self.paths if not path.is_file()]
        if missing:
            raise self.layout_error(missing[0], f"missing image ({len(missing)} of the {len(self.paths)} images of "
                                                f"the {subset} {split} split are missing; this is the first)")

    def _read_metadata(self, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(name, style, split) per CSV row, as arrays of str; a layout error naming the file when malformed."""
        with self.reading(self.require(path, "metadata file"), "the ArtBench-10 metadata CSV"):
            with open(path, newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                needed = ("name", "label", "split")
                if reader.fieldnames is None or not all(column in reader.fieldnames for column in needed):
                    raise self.layout_error(path, f"the CSV needs the columns {list(needed)}, its header is "
                                                  f"{reader.fieldnames}")
                try:
                    rows = [(r["name"], r["label"], r["split"]) for r in reader]
                except csv.Error as error:  # e.g. a runaway quote that swallows the file: not the official CSV
                    raise self.layout_error(path, f"cannot parse the CSV at line {reader.line_num} "
                                                  f"({error})") from error
        if not rows:
            raise self.layout_error(path, "the CSV has a header but no rows")
        names, styles, splits = (np.asarray(column, dtype=str) for column in zip(*rows, strict=True))
        for values, allowed, column in ((styles, STYLES, "label"), (splits, ("train", "test"), "split")):
            wrong = np.flatnonzero(~np.isin(values, allowed))
            if len(wrong):
                raise self.layout_error(path, f"column {column!r} of row {int(wrong[0])} is {str(values[wrong[0]])!r}, "
                                              f"expected one of {list(allowed)}")
        return names, styles, splits

    def _check_reference_head(self, num_rows: int, default_size: bool) -> None:
        """On the official CSV with the official size, the selection must start like the released pickle."""
        head = REFERENCE_HEADS.get((self.subset, self.split))
        if num_rows != CSV_ROWS or not default_size or head is None:
            return
        if tuple(self.rows[:len(head)].tolist()) != head:
            raise self.layout_error(self.root / "ArtBench-10.csv", (
                f"the {self.subset} {self.split} selection starts {tuple(self.rows[:len(head)].tolist())}, the "
                f"released index file starts {head}: this scikit-learn or CSV selects differently; pass "
                "index_file= with the released pickle"), obtain="D-TRAK's ArtBench*/data/indices (sail-sg/D-TRAK)")

    def _image_folder(self) -> Path:
        for name in ("artbench-10-imagefolder", "artbench-10-imagefolder-split"):
            if (self.root / name).is_dir():
                return self.root / name
        raise self.layout_error(self.root / "artbench-10-imagefolder", "missing directory (neither "
                                "artbench-10-imagefolder/ nor artbench-10-imagefolder-split/ is under the root)")

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {**super().__getitem__(index), "caption": caption(STYLES[self.labels[index]])}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "subset": self.subset, "split": self.split, "root": str(self.root),
                "styles": list(SUBSETS[self.subset]), "train_size": self.train_size, "val_size": self.val_size,
                "index_file": str(self.index_file) if self.index_file else None,
                "preprocessing": f"Resize({self.size}, bilinear) of the shorter side, CenterCrop({self.size})",
                "split_convention": "D-TRAK/DAS: sklearn train_test_split(random_state=42, stratify=style) on "
                                    "ArtBench-10.csv rows"}
