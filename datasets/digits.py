"""scikit-learn's handwritten digits (1,797 8x8 images) with seeded train/val/test splits.

The data ships inside scikit-learn, so the demo runs a real learned result with no download.
"""
from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch

from bench.data import BenchDataset
from bench.datasets.attribution_splits import official_selection
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


@DATASETS.register_module()
class Digits2(Digits):
    """digits-2: two classes of scikit-learn's digits, nearest-neighbour upsampled, for the toy attribution demo.

    ``classes`` (default 0 and 1: 178 + 182 = 360 images) are split stratified and seeded like the CIFAR-2
    benchmark: ``train`` = ``train_test_split(train_size=train_size, stratify=label, random_state=split_seed)``
    of all of them, ``val`` the same call with ``val_size`` on the rest, ``test`` what remains (source order).
    Images are float [1, size, size] in [0, 1] (pixel / 16, upsampled from 8x8 by nearest neighbour: a tiny DDPM
    needs a size its down-sampling halves twice); targets keep the digit; ids are ``digits-<original index>``.
    """

    def __init__(self, split: str = "train", classes: tuple[int, int] | list[int] = (0, 1), size: int = 16,
                 split_seed: int = 0, train_size: int = 240, val_size: int = 60) -> None:
        if split not in SPLITS:
            raise ValueError(f"Digits2 split must be one of {SPLITS}, got {split!r}")
        kept = tuple(int(c) for c in classes)
        if len(kept) != 2 or kept[0] == kept[1] or not all(0 <= c <= 9 for c in kept):
            raise ValueError(f"Digits2 classes must be two different digits in 0..9, got {tuple(classes)}")
        if not isinstance(size, int) or size < 8:
            raise ValueError(f"Digits2 size must be an int >= 8 (the digits are 8x8), got {size!r}")
        from sklearn.datasets import load_digits

        data = load_digits()
        candidates = np.flatnonzero(np.isin(data.target, kept))
        if not (0 < train_size and 0 < val_size and train_size + val_size < len(candidates)):
            raise ValueError(f"Digits2 train_size + val_size must leave test images: {train_size} + {val_size} of "
                             f"{len(candidates)} images of the digits {kept}")
        train = official_selection(candidates, train_size, data.target[candidates], random_state=split_seed)
        rest = np.setdiff1d(candidates, train)
        val = official_selection(rest, val_size, data.target[rest], random_state=split_seed)
        chosen = {"train": train, "val": val, "test": np.setdiff1d(rest, val)}[split]
        self.split, self.split_seed, self.classes, self.size = split, split_seed, kept, size
        self.original_index = chosen.astype(np.int64)
        images = torch.from_numpy(data.images[self.original_index] / 16.0).float().unsqueeze(1)
        self.images = torch.nn.functional.interpolate(images, size=(size, size), mode="nearest")
        self.targets = torch.from_numpy(data.target[self.original_index]).long()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "classes": list(self.classes), "size": self.size,
                "resize": "nearest neighbour from 8x8"}


DOMAIN_TRANSFORMS = ("none", "rot180", "invert")


@DATASETS.register_module()
class DigitsDomain(Digits):
    """A digits domain for few-shot transfer demos (DPMs-ANT): the :class:`Digits` ``split`` with a fixed
    ``transform`` ("none"; "rot180", each image turned upside down; "invert", ``1 - x``), optionally only the first
    ``num_images`` of a seeded shuffle (``shot_seed``: the 10-shot training set). A source model trained on plain
    digits has never drawn an upside-down or inverted one, so the transform makes a visibly different domain with
    the digits' own variety. Items, ids and ranges as :class:`Digits` (ids gain ``-<transform>``)."""

    def __init__(self, split: str = "train", transform: str = "rot180", num_images: int | None = None,
                 shot_seed: int = 0, split_seed: int = 0, train_size: int = 1000, val_size: int = 297) -> None:
        if transform not in DOMAIN_TRANSFORMS:
            raise ValueError(f"DigitsDomain transform must be one of {DOMAIN_TRANSFORMS}, got {transform!r}")
        super().__init__(split=split, split_seed=split_seed, train_size=train_size, val_size=val_size)
        if num_images is not None:
            if not 0 < int(num_images) <= len(self.targets):
                raise ValueError(f"DigitsDomain num_images must be in 1..{len(self.targets)} (the {split} split), "
                                 f"got {num_images}")
            keep = np.sort(np.random.default_rng(shot_seed).permutation(len(self.targets))[:int(num_images)])
            self.original_index, self.images, self.targets = (self.original_index[keep], self.images[keep],
                                                              self.targets[keep])
        if transform == "rot180":
            self.images = self.images.flip(-1, -2).contiguous()
        elif transform == "invert":
            self.images = 1.0 - self.images
        self.transform, self.num_images, self.shot_seed = transform, num_images, shot_seed

    def sample_id(self, index: int) -> str:
        return f"{super().sample_id(index)}-{self.transform}"

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "transform": self.transform, "num_images": self.num_images,
                "shot_seed": self.shot_seed}
