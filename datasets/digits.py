"""scikit-learn's handwritten digits (1,797 8x8 images) with seeded train/val/test splits.

The data ships inside scikit-learn, so the demo runs a real learned result with no download.
"""
from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch

from bench.data import BenchDataset
from bench.registry import DATASETS

SPLITS = ("train", "val", "test")


@DATASETS.register_module()
class Digits(BenchDataset):
    """``split`` of a seeded permutation: the first ``train_size`` samples, the next ``val_size``, the rest.

    Images are float tensors [1, 8, 8] in [0, 1] (pixel value / 16); sample ids are ``digits-<original index>``.
    """

    layout = "bundled with scikit-learn: sklearn/datasets/data/digits.csv.gz"
    obtain = "pip install scikit-learn"

    def __init__(self, split: str = "test", split_seed: int = 0, train_size: int = 1000, val_size: int = 297) -> None:
        if split not in SPLITS:
            raise ValueError(f"Digits split must be one of {SPLITS}, got {split!r}")
        from sklearn.datasets import load_digits

        data = load_digits()
        order = np.random.default_rng(split_seed).permutation(len(data.target))
        bounds = {"train": (0, train_size), "val": (train_size, train_size + val_size),
                  "test": (train_size + val_size, len(order))}
        lo, hi = bounds[split]
        self.split, self.split_seed = split, split_seed
        self.original_index = order[lo:hi]
        self.images = torch.from_numpy(data.images[self.original_index] / 16.0).float().unsqueeze(1)
        self.targets = torch.from_numpy(data.target[self.original_index]).long()

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"image": self.images[index], "target": self.targets[index]}

    def sample_id(self, index: int) -> str:
        return f"digits-{int(self.original_index[index]):04d}"

    def fingerprint(self) -> str:
        digest = hashlib.sha256(self.images.numpy().tobytes())
        digest.update(self.targets.numpy().tobytes())
        digest.update(self.original_index.tobytes())
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "split": self.split, "split_seed": self.split_seed}
