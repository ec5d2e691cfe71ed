"""CollagePrompt's collage records: training collages with GPT-4V's per-tile correctness, validation collages.

Official layout (``siyuhsu/CollagePrompt`` ``dataset/``, data on Kaggle ``siyuxu/collageprompt``):

- training (ImageNet-1K subset): ``train/metainfo/imagenet_train_{g}x{g}_collage_pred_info.pkl``, a pickled dict
  collage id -> ``{"ori": [image file names], "ord": permutation, "pred": per-tile 0/1 correctness}``; features
  ``train/subset/feat/<image stem>.npy``. ``ord[p]`` is the index into ``ori`` of the image at grid position ``p``
  (row-major), the arrangement convention of :mod:`bench.methods.collage_prompting.predictor`;
- validation: ``val/<dataset>/metainfo/<dataset>_test_{g}x{g}_collage_info.json`` (ImageNet's loader also names
  ``imagenet_val_...``), a dict collage file name -> ``{tile: {"image": file name, ...}}`` (other tile fields are
  ignored), features ``val/<dataset>/set/feat/<image stem>.npy``. Validation collages carry no correctness; their
  ``arrangement`` is the identity (the tiles in the JSON's order).

A feature file is one vector (the official loaders squeeze ``[1, 512]``). The pickle is read with the harness's
restricted unpickler (numpy arrays and plain containers only), never ``pickle.load``.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from bench.data import BenchDataset
from bench.registry import DATASETS
from bench.safe_pickle import load_npy, load_pickle

SPLITS = ("train", "val")
#: the ImageNet training set and the ten downstream validation sets of the paper
VAL_DATASETS = ("imagenet", "aircraft", "caltech101", "dtd", "eurosat", "food101", "oxflowers", "oxpets", "stcars",
                "sun397", "ucf101")


def feature_name(image: str) -> str:
    """``<image stem>.npy``: the official loaders replace ``.JPEG`` / ``.jpg`` by ``.npy``."""
    stem, _ = os.path.splitext(image)
    return f"{stem}.npy"


@DATASETS.register_module()
class CollagePrompt(BenchDataset):
    """Collages of ``grid`` x ``grid`` images: items ``{"features": [n, D], "arrangement": int64 [n], "images":
    [n names]}`` plus ``"correctness": float [n]`` (GPT-4V's per-tile 0/1, in the metainfo's order) for ``train``.

    Sample ids are the metainfo's collage keys. ``dataset`` names the validation set (ignored for ``train``,
    which is ImageNet's).
    """

    layout = ("<root>/train/metainfo/imagenet_train_{g}x{g}_collage_pred_info.pkl  {collage: {'ori': [names], "
              "'ord': [n], 'pred': [n]}}\n"
              "<root>/train/subset/feat/<image stem>.npy  one feature vector per image\n"
              "<root>/val/<dataset>/metainfo/<dataset>_test_{g}x{g}_collage_info.json  {collage: {tile: {'image': "
              "name}}}\n"
              "<root>/val/<dataset>/set/feat/<image stem>.npy")
    obtain = ("download the CollagePrompt dataset (Kaggle siyuxu/collageprompt or the Google Drive link in "
              "github.com/siyuhsu/CollagePrompt) and point root at its dataset/ folder")

    def __init__(self, root: str, grid: int = 3, split: str = "train", dataset: str = "imagenet") -> None:
        if split not in SPLITS:
            raise ValueError(f"CollagePrompt split must be one of {SPLITS}, got {split!r}")
        if grid not in (2, 3):
            raise ValueError(f"CollagePrompt grid must be 2 or 3 (the shipped collages), got {grid!r}")
        self.root, self.grid, self.split = Path(root), grid, split
        self.dataset = "imagenet" if split == "train" else dataset
        self.n = grid * grid
        self._features: dict[str, Tensor] = {}
        if split == "train":
            self.meta_path = self.require(self.root / "train" / "metainfo" /
                                          f"imagenet_train_{grid}x{grid}_collage_pred_info.pkl", "training metainfo")
            self.feat_dir = self.require(self.root / "train" / "subset" / "feat", "feature folder")
            self._read_train()
        else:
            base = self.root / "val" / dataset
            candidates = [base / "metainfo" / f"{dataset}_{word}_{grid}x{grid}_collage_info.json"
                          for word in ("test", "val")]
            self.meta_path = next((p for p in candidates if p.is_file()), candidates[0])
            self.require(self.meta_path, "validation metainfo")
            self.feat_dir = self.require(base / "set" / "feat", "feature folder")
            self._read_val()

    # --- metainfo -------------------------------------------------------------------------------------------
    def _read_train(self) -> None:
        with self.reading(self.meta_path, "the training metainfo pickle"):
            meta = load_pickle(self.meta_path)
        if not isinstance(meta, dict) or not meta:
            raise self.layout_error(self.meta_path, f"expected a non-empty dict collage id -> {{'ori', 'ord', "
                                                    f"'pred'}}, got {type(meta).__name__}")
        self.ids, self.images, orders, correct = [], [], [], []
        for key, entry in meta.items():
            where = f"collage {key!r}"
            if not isinstance(entry, dict) or not {"ori", "ord", "pred"} <= set(entry):
                found = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
                raise self.layout_error(self.meta_path, f"{where}: expected keys 'ori', 'ord', 'pred', found {found}")
            names = [str(name) for name in entry["ori"]]
            order = np.asarray(entry["ord"]).reshape(-1)
            pred = np.asarray(entry["pred"], dtype=np.float64).reshape(-1)
            if len(names) != self.n or order.size != self.n or pred.size != self.n:
                raise self.layout_error(self.meta_path, f"{where}: 'ori', 'ord' and 'pred' must each have {self.n} "
                                                        f"entries for a {self.grid}x{self.grid} collage, got "
                                                        f"{len(names)}, {order.size}, {pred.size}")
            if not np.issubdtype(order.dtype, np.integer) or sorted(order.tolist()) != list(range(self.n)):
                raise self.layout_error(self.meta_path, f"{where}: 'ord' must be a permutation of 0..{self.n - 1}, "
                                                        f"got {order.tolist()}")
            if not np.isin(pred, (0.0, 1.0)).all():
                raise self.layout_error(self.meta_path, f"{where}: 'pred' must hold per-tile 0/1 correctness, got "
                                                        f"{pred.tolist()}")
            self.ids.append(str(key))
            self.images.append(names)
            orders.append(order.astype(np.int64))
            correct.append(pred)
        self.arrangements = torch.from_numpy(np.stack(orders))
        self.correctness: Tensor | None = torch.from_numpy(np.stack(correct)).float()

    def _read_val(self) -> None:
        with self.reading(self.meta_path, "the validation metainfo JSON"):
            meta = json.loads(self.meta_path.read_text())
        if not isinstance(meta, dict) or not meta:
            raise self.layout_error(self.meta_path, "expected a non-empty JSON object collage -> {tile: {'image': "
                                                    "name}}")
        self.ids, self.images = [], []
        for key, tiles in meta.items():
            names = [tile.get("image") if isinstance(tile, dict) else None
                     for tile in (tiles.values() if isinstance(tiles, dict) else [None])]
            if len(names) != self.n or not all(isinstance(name, str) for name in names):
                raise self.layout_error(self.meta_path, f"collage {key!r}: expected {self.n} tiles, each an object "
                                                        f"with an 'image' file name, got {tiles!r:.200}")
            self.ids.append(str(key))
            self.images.append([str(name) for name in names])
        self.arrangements = torch.arange(self.n).repeat(len(self.ids), 1)
        self.correctness = None

    # --- features -------------------------------------------------------------------------------------------
    def image_features(self, name: str) -> Tensor:
        """The feature vector of image ``name`` (cached: collages share images)."""
        if name not in self._features:
            path = self.require(self.feat_dir / feature_name(name), f"feature file of image {name!r}")
            with self.reading(path, "a feature .npy"):
                array = load_npy(path, allow_object=False)
            vector = torch.from_numpy(np.asarray(array, dtype=np.float32)).reshape(-1)
            if self._features and vector.numel() != next(iter(self._features.values())).numel():
                raise self.layout_error(path, f"feature of size {vector.numel()}, but earlier files hold "
                                              f"{next(iter(self._features.values())).numel()}; all features must "
                                              "come from one encoder")
            self._features[name] = vector
        return self._features[name]

    def collage_features(self, index: int) -> Tensor:
        """``[n, D]``: the features of collage ``index``'s images, in its list order (``ori`` / the JSON's)."""
        return torch.stack([self.image_features(name) for name in self.images[index]])

    def tensors(self) -> tuple[Tensor, Tensor, Tensor]:
        """``(features [N, n, D], arrangements [N, n], accuracy [N])`` for ``train_predictor``; accuracy is the
        mean per-tile correctness (the official target). Training split only."""
        if self.correctness is None:
            raise ValueError(f"{self.meta_path}: validation collages carry no correctness; train on split='train'")
        features = torch.stack([self.collage_features(i) for i in range(len(self))])
        return features, self.arrangements.clone(), self.correctness.mean(dim=1)

    def accuracy_stats(self) -> tuple[float, float]:
        """Mean and unbiased std of the collages' mean correctness: the official target standardisation, to pass
        to ``load_official_predictor(mean=..., std=...)``."""
        if self.correctness is None:
            raise ValueError(f"{self.meta_path}: validation collages carry no correctness; use split='train'")
        accuracy = self.correctness.double().mean(dim=1)
        return float(accuracy.mean()), float(accuracy.std())

    # --- BenchDataset ---------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item: dict[str, Any] = {"features": self.collage_features(index), "arrangement": self.arrangements[index],
                                "images": list(self.images[index])}
        if self.correctness is not None:
            item["correctness"] = self.correctness[index]
        return item

    def sample_id(self, index: int) -> str:
        return self.ids[index]

    def fingerprint(self) -> str:
        digest = hashlib.sha256(type(self).__name__.encode())
        digest.update(self.meta_path.read_bytes())
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "root": str(self.root), "split": self.split, "dataset": self.dataset,
                "grid": self.grid, "metainfo": str(self.meta_path)}

    @classmethod
    def write_example(cls, root: str | Path, grid: int = 3, num_collages: int = 6, dim: int = 16,
                      val_datasets: tuple[str, ...] = ("caltech101",), seed: int = 0) -> Path:
        """A small copy of the official layout: ``num_collages`` training collages (ImageNet-style ``.JPEG`` names,
        ``ord`` as numpy arrays, 0/1 ``pred`` lists, pickled) and as many validation collages per dataset
        (``.jpg`` names, JSON), with random ``[1, dim]`` float32 features. Returns ``root``."""
        root, rng, n = Path(root), np.random.default_rng(seed), grid * grid
        feat = root / "train" / "subset" / "feat"
        feat.mkdir(parents=True, exist_ok=True)
        (root / "train" / "metainfo").mkdir(parents=True, exist_ok=True)
        pool = [f"n01440764_{10000 + i}.JPEG" for i in range(2 * n)]  # collages share images, as the official do
        for name in pool:
            np.save(feat / feature_name(name), rng.standard_normal((1, dim)).astype(np.float32))
        meta = {}
        for number in range(num_collages):
            picked = rng.choice(len(pool), size=n, replace=False)
            meta[f"collage_{number:05d}"] = {"ori": [pool[i] for i in picked], "ord": rng.permutation(n),
                                             "pred": [bool(v) for v in rng.integers(0, 2, size=n)]}
        with open(root / "train" / "metainfo" / f"imagenet_train_{grid}x{grid}_collage_pred_info.pkl", "wb") as out:
            pickle.dump(meta, out, protocol=2)
        for name in val_datasets:
            base = root / "val" / name
            (base / "set" / "feat").mkdir(parents=True, exist_ok=True)
            (base / "metainfo").mkdir(parents=True, exist_ok=True)
            val_meta = {}
            for number in range(num_collages):
                images = [f"{name}_{number:04d}_{tile}.jpg" for tile in range(n)]
                for image in images:
                    np.save(base / "set" / "feat" / feature_name(image),
                            rng.standard_normal((1, dim)).astype(np.float32))
                val_meta[f"{name}_{grid}x{grid}_{number:05d}.jpg"] = {str(t): {"image": image}
                                                                      for t, image in enumerate(images)}
            (base / "metainfo" / f"{name}_test_{grid}x{grid}_collage_info.json").write_text(json.dumps(val_meta))
        return root
