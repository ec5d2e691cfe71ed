"""CIFAR-10 and CIFAR-100 from the official python pickles, with the focal_calibration 45k/5k train/val split.

The calibration set is the 5,000 training images that Mukhoti et al. (2020) hold out in
``Data/cifar10.py::get_train_valid_loader`` (``valid_size=0.1``; ``random_seed=1`` at both call sites, train.py
and evaluate.py), so logits of their model zoo line up with our "val" split sample for sample. The pickles are
read with a restricted unpickler (``bench.safe_pickle``): a crafted batch file cannot run code.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.data import BenchDataset
from bench.datasets.attribution_splits import official_selection, read_index_file
from bench.registry import DATASETS
from bench.safe_pickle import load_pickle

SPLITS = ("train", "val", "test", "train_full")
IMAGE_BYTES = 3 * 32 * 32


def focal_calibration_split(num_train: int, valid_size: float = 0.1, random_seed: int = 1) -> tuple[list, list]:
    """(train, val) indices exactly as focal_calibration's global-seed ``np.random.shuffle`` gives them."""
    if not 0.0 <= valid_size <= 1.0:
        raise ValueError(f"valid_size must be in [0, 1], got {valid_size}")
    indices = list(range(num_train))
    split = int(np.floor(valid_size * num_train))
    # A local RandomState draws the same stream as np.random.seed(random_seed); np.random.shuffle(indices).
    np.random.RandomState(random_seed).shuffle(indices)
    return indices[split:], indices[:split]


class _SelectedImages:
    """Items and fingerprint of a reader holding its selected CIFAR images as arrays: ``images`` uint8 [N, 3, 32, 32],
    ``targets``, and the ``data`` / ``labels`` / ``source_index`` (official-file rows) they came from."""

    images: torch.Tensor
    targets: torch.Tensor
    data: np.ndarray
    labels: np.ndarray
    source_index: np.ndarray

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"image": self.images[index].float() / 255.0, "target": self.targets[index]}

    def fingerprint(self) -> str:
        """sha256 over the class name, pixel bytes, labels and official-file rows of the selected samples, in order."""
        digest = hashlib.sha256(type(self).__name__.encode())
        for array in (self.data, self.labels, self.source_index):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()


class CIFAR(_SelectedImages, BenchDataset):
    """Shared reader for the pickle layout; subclasses name the folder, files and label key.

    Images are float tensors [3, 32, 32] in [0, 1] (byte / 255). Sample ids index the official file order:
    ``<name>-train-<00000..49999>`` for the train, val and train_full splits, ``<name>-test-<00000..09999>``.
    """

    name = ""
    folder = ""
    train_files: tuple[str, ...] = ()
    test_files: tuple[str, ...] = ()
    meta_file = ""
    label_key = b""
    label_names_key = b""
    num_classes = 0

    def __init__(self, root: str | Path, split: str = "test", valid_size: float = 0.1, split_seed: int = 1) -> None:
        if split not in SPLITS:
            raise ValueError(f"{type(self).__name__} split must be one of {SPLITS}, got {split!r}")
        self.root, self.split, self.valid_size, self.split_seed = Path(root), split, valid_size, split_seed
        base = self.require(self.root / self.folder, "directory")
        self.classes = self._read_classes(base / self.meta_file)
        data, labels = self._read_batches(base, self.test_files if split == "test" else self.train_files)
        self.num_source = len(labels)
        train, val = focal_calibration_split(self.num_source, valid_size, split_seed)
        chosen = {"train": train, "val": val, "test": range(self.num_source), "train_full": range(self.num_source)}
        self.source_index = np.asarray(chosen[split], dtype=np.int64)
        self.data = data[self.source_index]
        self.labels = labels[self.source_index]
        self.images = torch.from_numpy(self.data).view(-1, 3, 32, 32)
        self.targets = torch.from_numpy(self.labels)

    def _unpickle(self, path: Path, keys: tuple[bytes, ...]) -> dict:
        """The dict pickled in ``path`` (restricted unpickler); a layout error unless it holds ``keys``."""
        with self.reading(self.require(path), "a CIFAR python pickle"):
            content = load_pickle(path, encoding="bytes")
        if not isinstance(content, dict) or not all(key in content for key in keys):
            found = sorted(content) if isinstance(content, dict) else type(content).__name__
            raise self.layout_error(path, f"not a CIFAR pickle: need the keys {list(keys)}, found {found}")
        return content

    def _read_classes(self, path: Path) -> list[str]:
        names = self._unpickle(path, (self.label_names_key,))[self.label_names_key]
        if not isinstance(names, list) or len(names) != self.num_classes:
            count = len(names) if isinstance(names, list) else type(names).__name__
            raise self.layout_error(path, f"{self.label_names_key!r} lists {count} class names, expected "
                                          f"{self.num_classes}")
        return [name.decode() if isinstance(name, bytes) else str(name) for name in names]

    def _read_batches(self, base: Path, files: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Concatenated uint8 pixel rows [N, 3072] and int64 labels [N] of ``files`` in the given order."""
        data, labels = [], []
        self.batch_sizes: list[int] = []  # rows per file, in ``files`` order (maps other orders of the same files)
        for file in files:
            batch = self._unpickle(base / file, (b"data", self.label_key))
            rows = np.asarray(batch[b"data"])
            if rows.dtype != np.uint8 or rows.ndim != 2 or rows.shape[1] != IMAGE_BYTES:
                raise self.layout_error(base / file, f"b'data' must be uint8 [N, {IMAGE_BYTES}], got {rows.dtype} "
                                                     f"{list(rows.shape)}")
            try:
                batch_labels = np.asarray(batch[self.label_key], dtype=np.int64)
            except (TypeError, ValueError) as error:
                raise self.layout_error(base / file, f"{self.label_key!r} must be integers ({error})") from error
            if batch_labels.shape != (len(rows),):
                raise self.layout_error(base / file, f"{len(batch_labels)} labels for {len(rows)} images")
            outside = np.flatnonzero((batch_labels < 0) | (batch_labels >= self.num_classes))
            if len(outside):
                raise self.layout_error(base / file, (
                    f"{len(outside)} labels outside 0..{self.num_classes - 1}, first {int(batch_labels[outside[0]])} "
                    f"at row {int(outside[0])}"))
            data.append(rows)
            labels.append(batch_labels)
            self.batch_sizes.append(len(rows))
        return np.concatenate(data), np.concatenate(labels)

    def sample_id(self, index: int) -> str:
        source = "test" if self.split == "test" else "train"
        return f"{self.name}-{source}-{int(self.source_index[index]):05d}"

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "split": self.split, "root": str(self.root), "num_classes": len(self.classes),
                "split_convention": "focal_calibration get_train_valid_loader (Mukhoti et al. 2020)",
                "split_seed": self.split_seed, "valid_size": self.valid_size,
                "val_size": int(np.floor(self.valid_size * self.num_source)) if self.split != "test" else None,
                "source_size": self.num_source}


@DATASETS.register_module()
class CIFAR10(CIFAR):
    """CIFAR-10 (50k train / 10k test, 10 classes) from ``<root>/cifar-10-batches-py``."""

    name, folder, meta_file = "cifar10", "cifar-10-batches-py", "batches.meta"
    train_files = tuple(f"data_batch_{i}" for i in range(1, 6))
    test_files = ("test_batch",)
    label_key, label_names_key, num_classes = b"labels", b"label_names", 10
    layout = """
<root>/cifar-10-batches-py/
  data_batch_1 ... data_batch_5   (pickles: b"data" uint8 [10000, 3072], b"labels", b"filenames")
  test_batch
  batches.meta                    (b"label_names")
"""
    obtain = ("python -c \"import torchvision; torchvision.datasets.CIFAR10('<root>', download=True)\" on a machine "
              "with internet, or untar https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz into <root>")


@DATASETS.register_module()
class CIFAR100(CIFAR):
    """CIFAR-100 (50k train / 10k test, 100 fine classes) from ``<root>/cifar-100-python``."""

    name, folder, meta_file = "cifar100", "cifar-100-python", "meta"
    train_files = ("train",)
    test_files = ("test",)
    label_key, label_names_key, num_classes = b"fine_labels", b"fine_label_names", 100
    layout = """
<root>/cifar-100-python/
  train   (pickle: b"data" uint8 [50000, 3072], b"fine_labels", b"coarse_labels", b"filenames")
  test    (same keys, 10000 rows)
  meta    (b"fine_label_names", b"coarse_label_names")
"""
    obtain = ("python -c \"import torchvision; torchvision.datasets.CIFAR100('<root>', download=True)\" on a machine "
              "with internet, or untar https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz into <root>")


# HuggingFace's ``cifar10`` (what D-TRAK and DAS load) yields the train pickles in the order of the members of
# cifar-10-python.tar.gz (its builder iterates the archive): data_batch_4, 3, 2, 5, 1. Their index pickles count
# rows in that order; our sample ids count rows in the file order (data_batch_1 ... 5) like the CIFAR10 reader.
HF_TRAIN_BATCHES = ("data_batch_4", "data_batch_3", "data_batch_2", "data_batch_5", "data_batch_1")
# First five train labels of HuggingFace's cifar10 (D-TRAK CIFAR2/00_EDA.ipynb prints ``df_train.head()``): checks
# the order above on the real 50,000 images.
HF_TRAIN_LABEL_HEAD = (0, 6, 0, 2, 7)


def hf_train_rows(batch_sizes: list[int]) -> np.ndarray:
    """``rows[h]`` = the file-order row (data_batch_1 ... 5 concatenated) of HuggingFace cifar10 train row ``h``."""
    if len(batch_sizes) != len(HF_TRAIN_BATCHES):
        raise ValueError(f"need the sizes of the {len(HF_TRAIN_BATCHES)} train batches, got {len(batch_sizes)}")
    starts = np.concatenate([[0], np.cumsum(batch_sizes)[:-1]])
    return np.concatenate([starts[int(name[-1]) - 1] + np.arange(batch_sizes[int(name[-1]) - 1])
                           for name in HF_TRAIN_BATCHES]).astype(np.int64)


class CIFARAttribution(_SelectedImages, BenchDataset):
    """The data-attribution splits of CIFAR-10 (D-TRAK / DAS), read from the official pickles by :class:`CIFAR10`.

    Splits (``datasets.attribution_splits``: sklearn ``train_test_split(..., random_state=42, stratify=label)``):
    ``train``: ``train_size`` of the train images of ``kept_classes``, in HuggingFace row order, selected in
    sklearn's order (all of them, in HuggingFace order, when ``train_size`` is their count); ``val``: ``val_size``
    stratified from the test images of ``kept_classes``; ``test``: all those test images, file order.
    ``index_file`` reads a released ``idx-train.pkl`` / ``idx-val.pkl`` (HuggingFace rows) for the split instead;
    ``train_size`` / ``val_size`` scale the selection down (same call, smaller ``train_size``).
    DAS's notebooks pickle ``df_test.index`` instead of ``df_val.index`` as ``idx-val.pkl`` (2,000 CIFAR-2 /
    10,000 CIFAR-10 indices, the whole filtered test split): such a file is read as it is and ``describe`` flags
    it (``val_is_whole_test``); the computed val split is the 1,000 the code intends (= D-TRAK's ``idx-val.pkl``).

    Items: ``image`` float [3, 32, 32] in [0, 1], ``target`` the CIFAR-10 label (1 and 7 stay 1 and 7 for CIFAR-2).
    Sample ids are the CIFAR10 reader's (``cifar10-train-<file-order row>``, ``cifar10-test-<row>``); ``rows``
    holds the HuggingFace rows that the released index pickles use.
    """

    kept_classes: tuple[int, ...] = ()
    train_size = 0
    val_size = 1000
    # first five val indices of D-TRAK's released idx-val.pkl (test rows: HuggingFace and the pickle agree);
    # checked on the real 10,000 test images, so a changed sklearn cannot silently pick another val set
    val_head: tuple[int, ...] = ()
    official_rows = {"train": 50000, "test": 10000}  # the real pickles: the order checks run on these only
    layout, obtain = CIFAR10.layout, CIFAR10.obtain

    def __init__(self, root: str | Path, split: str = "train", index_file: str | Path | None = None,
                 train_size: int | None = None, val_size: int | None = None) -> None:
        if split not in ("train", "val", "test"):
            raise ValueError(f"{type(self).__name__} split must be one of ('train', 'val', 'test'), got {split!r}")
        self.root, self.split = Path(root), split
        self.train_size = self.train_size if train_size is None else train_size
        self.val_size = self.val_size if val_size is None else val_size
        self.index_file = Path(index_file) if index_file is not None else None
        source = CIFAR10(root, split="test" if split in ("val", "test") else "train_full")
        self.classes = [source.classes[c] for c in self.kept_classes]
        labels = source.labels
        # hf_to_file[h]: file-order row of HuggingFace row h (the identity on the test split)
        hf_to_file = hf_train_rows(source.batch_sizes) if split == "train" else np.arange(len(labels))
        hf_labels = labels[hf_to_file]
        official = len(labels) == self.official_rows["train" if split == "train" else "test"]
        if split == "train" and official and tuple(hf_labels[:5].tolist()) != HF_TRAIN_LABEL_HEAD:
            raise self.layout_error(self.root / CIFAR10.folder, (
                f"the train labels in HuggingFace order ({', '.join(HF_TRAIN_BATCHES)}) start "
                f"{tuple(hf_labels[:5].tolist())}, HuggingFace cifar10 starts {HF_TRAIN_LABEL_HEAD}: the pickles "
                "are not the official ones, so the official index files would pick other images"))
        candidates = np.flatnonzero(np.isin(hf_labels, self.kept_classes))
        what = f"HuggingFace cifar10 {'train' if split == 'train' else 'test'} rows of classes {self.kept_classes}"
        if self.index_file is not None:
            self.rows = read_index_file(self, self.index_file, candidates, what)
        elif split in ("train", "val"):
            size = self.train_size if split == "train" else self.val_size
            if not 0 < size <= len(candidates):
                raise self.layout_error(self.root / CIFAR10.folder, (
                    f"the {split} split selects {size} of the {len(candidates)} {what}; the official pickles hold "
                    f"{5000 * len(self.kept_classes) if split == 'train' else 1000 * len(self.kept_classes)}"))
            self.rows = official_selection(candidates, size, hf_labels[candidates])
            checked = split == "val" and official and self.val_size == type(self).val_size and self.val_head
            if checked and tuple(self.rows[:5].tolist()) != self.val_head:
                raise self.layout_error(self.root / CIFAR10.folder, (
                    f"the val selection starts {tuple(self.rows[:5].tolist())}, the released idx-val.pkl starts "
                    f"{self.val_head}: this scikit-learn selects differently; pass index_file= with the released "
                    "idx-val.pkl"), obtain="D-TRAK's data/indices/<setting>/idx-val.pkl (sail-sg/D-TRAK)")
        else:
            self.rows = candidates
        self.val_is_whole_test = split == "val" and len(self.rows) == len(candidates)
        self.source_index = hf_to_file[self.rows]
        self.data, self.labels = source.data[self.source_index], labels[self.source_index]
        self.images = torch.from_numpy(self.data).view(-1, 3, 32, 32)
        self.targets = torch.from_numpy(self.labels)

    def sample_id(self, index: int) -> str:
        return f"cifar10-{'train' if self.split == 'train' else 'test'}-{int(self.source_index[index]):05d}"

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "split": self.split, "root": str(self.root), "classes": self.classes,
                "split_convention": "D-TRAK/DAS 00_EDA: sklearn train_test_split(random_state=42, stratify=label) "
                                    "on HuggingFace cifar10 rows (train: data_batch_4, 3, 2, 5, 1)",
                "index_file": str(self.index_file) if self.index_file else None,
                "train_size": self.train_size, "val_size": self.val_size,
                "val_is_whole_test": self.val_is_whole_test}


@DATASETS.register_module()
class CIFAR2(CIFARAttribution):
    """CIFAR-2 of D-TRAK and DAS: automobile (1) and horse (7); train 5,000 of their 10,000 train images, val
    1,000 of their 2,000 test images (500 each), test all 2,000."""

    kept_classes, train_size = (1, 7), 5000
    val_head = (7405, 5226, 1363, 6615, 7612)


@DATASETS.register_module()
class CIFAR10Attribution(CIFARAttribution):
    """CIFAR-10 of D-TRAK and DAS: train all 50,000 (HuggingFace order), val 1,000 of the test split (100 per
    class), test all 10,000."""

    kept_classes, train_size = tuple(range(10)), 50000
    val_head = (9128, 5468, 62, 2465, 2810)
