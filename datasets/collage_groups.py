"""Collage groups: any classification reader's images cut into seeded groups of g*g, one sample per group.

The paper's validation collages are fixed groups of g*g images (ImageNet: 12,500 2x2 and 5,555 3x3 collages of the
50,000 validation images); this wrapper builds such groups from a reader's samples: a seeded permutation, then
consecutive runs of g*g. A tail of fewer than g*g images is left out (recorded in ``describe``), as the official
3x3 set leaves out 5 of 50,000. Used by collage prompting (``bench.methods.collage_prompting``).
"""
from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch

from bench.data import BenchDataset
from bench.registry import DATASETS

GRIDS = (2, 3)


@DATASETS.register_module()
class CollageGroups(BenchDataset):
    """Groups of ``grid * grid`` samples of ``source`` (a dataset spec whose items have ``image`` and ``target``).

    Items: ``images`` [n, C, H, W] (the source's tensors, stacked), ``targets`` [n] and ``tile_ids`` (the source
    sample ids joined by ``|``). Sample ids are ``g<grid>-<k>`` plus the first tile's id. ``num_groups`` keeps the
    first groups only; ``order``: ``"seeded"`` (a ``np.random.default_rng(seed)`` permutation) or ``"sequential"``.
    """

    def __init__(self, source: dict[str, Any], grid: int = 2, seed: int = 0, order: str = "seeded",
                 num_groups: int | None = None) -> None:
        if order not in ("seeded", "sequential"):
            raise ValueError(f"CollageGroups order must be 'seeded' or 'sequential', got {order!r}")
        if isinstance(grid, bool) or grid not in GRIDS:
            raise ValueError(f"CollageGroups grid must be one of {GRIDS} (g x g collages), got {grid!r}")
        self.grid, self.seed, self.order = int(grid), int(seed), order
        self.source = DATASETS.build(dict(source))
        n = self.grid * self.grid
        total = len(self.source)
        permutation = np.random.default_rng(self.seed).permutation(total) if order == "seeded" else np.arange(total)
        count = total // n
        if num_groups is not None:
            if int(num_groups) < 1:
                raise ValueError(f"CollageGroups num_groups must be positive, got {num_groups!r}")
            count = min(count, int(num_groups))
        if count == 0:
            raise ValueError(f"CollageGroups: the source has {total} samples, fewer than one {self.grid}x{self.grid} "
                             f"collage ({n})")
        self.members = permutation[:count * n].reshape(count, n)
        self.left_out = total - (total // n) * n

    def __len__(self) -> int:
        return len(self.members)

    def __getitem__(self, index: int) -> dict[str, Any]:
        items = [self.source[int(i)] for i in self.members[index]]
        return {"images": torch.stack([torch.as_tensor(item["image"]) for item in items]),
                "targets": torch.stack([torch.as_tensor(item["target"]).long() for item in items]),
                "tile_ids": "|".join(self.source.sample_id(int(i)) for i in self.members[index])}

    def sample_id(self, index: int) -> str:
        return f"g{self.grid}-{index:05d}-{self.source.sample_id(int(self.members[index][0]))}"

    def fingerprint(self) -> str:
        digest = hashlib.sha256(self.source.fingerprint().encode())
        digest.update(self.members.astype(np.int64).tobytes())
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "grid": self.grid, "seed": self.seed, "order": self.order,
                "source": self.source.describe(), "source_samples_left_out": self.left_out}
