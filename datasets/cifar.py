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


class CIFAR(BenchDataset):
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
        return np.concatenate(data), np.concatenate(labels)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"image": self.images[index].float() / 255.0, "target": self.targets[index]}

    def sample_id(self, index: int) -> str:
        source = "test" if self.split == "test" else "train"
        return f"{self.name}-{source}-{int(self.source_index[index]):05d}"

    def fingerprint(self) -> str:
        """sha256 over the pixel bytes, labels and official-file indices of the selected samples."""
        digest = hashlib.sha256(type(self).__name__.encode())
        for array in (self.data, self.labels, self.source_index):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

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
