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

Several prompts may record the same collage (the same images) under different arrangements (2x2: 25,000 collages,
110,250 prompts). :func:`heldout_collages` holds out a seeded fraction of the collages recorded at least twice, by
collage (the set of its image names, whatever the metainfo keys are): ``CollagePrompt(split="train",
heldout_fraction=f)`` leaves out every record of them (the predictor's training records) and
:class:`CollagePromptHeldOut` reads them, one item per collage with all its recorded arrangements.

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


def collage_key(images: list[str] | tuple[str, ...]) -> str:
    """A collage's identity: sha256 of its sorted image names (16 hex digits), the same for every record of it
    whatever its order of ``ori`` or its metainfo key."""
    return hashlib.sha256("\n".join(sorted(images)).encode()).hexdigest()[:16]


def group_records(images: list[list[str]]) -> dict[str, list[int]]:
    """Record indices grouped by :func:`collage_key`, collages in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for index, names in enumerate(images):
        groups.setdefault(collage_key(names), []).append(index)
    return groups


def heldout_collages(groups: dict[str, list[int]], fraction: float, seed: int, min_records: int = 2) -> list[str]:
    """The held-out collage keys: ``round(fraction * K)`` of the K collages with at least ``min_records`` records,
    drawn by a permutation seeded with ``seed`` (in that permutation's order)."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"heldout_fraction must be in [0, 1), got {fraction}")
    eligible = [key for key, records in groups.items() if len(records) >= min_records]
    count = int(round(fraction * len(eligible)))
    order = torch.randperm(len(eligible), generator=torch.Generator().manual_seed(int(seed)))
    return [eligible[int(i)] for i in order[:count]]


def feature_name(image: str) -> str:
    """``<image stem>.npy``: the official loaders replace ``.JPEG`` / ``.jpg`` by ``.npy``."""
    stem, _ = os.path.splitext(image)
    return f"{stem}.npy"


@DATASETS.register_module()
class CollagePrompt(BenchDataset):
    """Collages of ``grid`` x ``grid`` images: items ``{"features": [n, D], "arrangement": int64 [n], "images":
    [n names]}`` plus ``"correctness": float [n]`` (GPT-4V's per-tile 0/1, in the metainfo's order) for ``train``.

    Sample ids are the metainfo's collage keys. ``dataset`` names the validation set (ignored for ``train``,
    which is ImageNet's). ``heldout_fraction`` / ``heldout_seed`` (``train`` only): leave out every record of the
    collages :func:`heldout_collages` holds out (read them with :class:`CollagePromptHeldOut` and the same two
    settings).
    """

    layout = ("<root>/train/metainfo/imagenet_train_{g}x{g}_collage_pred_info.pkl  {collage: {'ori': [names], "
              "'ord': [n], 'pred': [n]}}\n"
              "<root>/train/subset/feat/<image stem>.npy  one feature vector per image\n"
              "<root>/val/<dataset>/metainfo/<dataset>_test_{g}x{g}_collage_info.json  {collage: {tile: {'image': "
              "name}}}\n"
              "<root>/val/<dataset>/set/feat/<image stem>.npy")
    obtain = ("download the CollagePrompt dataset (Kaggle siyuxu/collageprompt or the Google Drive link in "
              "github.com/siyuhsu/CollagePrompt) and point root at its dataset/ folder")

    def __init__(self, root: str, grid: int = 3, split: str = "train", dataset: str = "imagenet",
                 heldout_fraction: float = 0.0, heldout_seed: int = 0) -> None:
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
            self.heldout_fraction, self.heldout_seed = float(heldout_fraction), int(heldout_seed)
            if self.heldout_fraction > 0:
                heldout = set(heldout_collages(group_records(self.images), self.heldout_fraction, self.heldout_seed))
                self._keep([i for i, names in enumerate(self.images) if collage_key(names) not in heldout])
        else:
            if heldout_fraction:
                raise ValueError("heldout_fraction applies to split='train' (validation collages carry no recorded "
                                 "correctness to hold out)")
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

    def _keep(self, indices: list[int]) -> None:
        """Keep only the records ``indices`` (in that order)."""
        if not indices:
            raise ValueError(f"{self.meta_path}: holding out {self.heldout_fraction} of the collages left no "
                             "training record; lower heldout_fraction")
        index = torch.tensor(indices, dtype=torch.long)
        self.ids = [self.ids[i] for i in indices]
        self.images = [self.images[i] for i in indices]
        self.arrangements = self.arrangements[index]
        if self.correctness is not None:
            self.correctness = self.correctness[index]

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
        facts = {**super().describe(), "root": str(self.root), "split": self.split, "dataset": self.dataset,
                 "grid": self.grid, "metainfo": str(self.meta_path)}
        if self.split == "train":
            facts.update(heldout_fraction=self.heldout_fraction, heldout_seed=self.heldout_seed)
        return facts

    def collage_keys(self) -> list[str]:
        """:func:`collage_key` of every distinct collage read, in order of first appearance."""
        return list(group_records(self.images))

    @classmethod
    def write_example(cls, root: str | Path, grid: int = 3, num_collages: int = 6, dim: int = 16,
                      val_datasets: tuple[str, ...] = ("caltech101",), seed: int = 0,
                      arrangements_per_collage: int | tuple[int, ...] = 1) -> Path:
        """A small copy of the official layout: ``num_collages`` training collages (ImageNet-style ``.JPEG`` names,
        ``ord`` as numpy arrays, 0/1 ``pred`` lists, pickled) and as many validation collages per dataset
        (``.jpg`` names, JSON), with random ``[1, dim]`` float32 features. Returns ``root``.

        ``arrangements_per_collage`` (one count, or one per collage): how many prompts record each collage; the
        first is keyed ``collage_<k>``, the others ``collage_<k>_p<j>`` with ``ori`` reshuffled, a random ``ord``
        and their own ``pred``."""
        root, rng, n = Path(root), np.random.default_rng(seed), grid * grid
        feat = root / "train" / "subset" / "feat"
        feat.mkdir(parents=True, exist_ok=True)
        (root / "train" / "metainfo").mkdir(parents=True, exist_ok=True)
        pool = [f"n01440764_{10000 + i}.JPEG" for i in range(2 * n)]  # collages share images, as the official do
        for name in pool:
            np.save(feat / feature_name(name), rng.standard_normal((1, dim)).astype(np.float32))
        counts = ([int(arrangements_per_collage)] * num_collages if isinstance(arrangements_per_collage, int)
                  else [int(c) for c in arrangements_per_collage])
        if len(counts) != num_collages or min(counts) < 1:
            raise ValueError(f"arrangements_per_collage must be a count >= 1 or one per collage ({num_collages}), "
                             f"got {arrangements_per_collage!r}")
        meta, used = {}, set()
        for number in range(num_collages):
            picked = rng.choice(len(pool), size=n, replace=False)
            while frozenset(picked.tolist()) in used:  # distinct collages have distinct image sets
                picked = rng.choice(len(pool), size=n, replace=False)
            used.add(frozenset(picked.tolist()))
            for prompt in range(counts[number]):
                names = [pool[i] for i in (picked if prompt == 0 else rng.permutation(picked))]
                key = f"collage_{number:05d}" + (f"_p{prompt}" if prompt else "")
                meta[key] = {"ori": names, "ord": rng.permutation(n),
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


@DATASETS.register_module()
class CollagePromptHeldOut(BenchDataset):
    """The held-out training collages (:func:`heldout_collages`), one item per collage with every recorded
    arrangement: ``{"features": [n, D] (the images of its first record, in that record's ``ori`` order),
    "arrangements": int64 [R, n] (each record's ``ord`` re-indexed onto that order), "correctness": float [R, n]
    (GPT-4V's per-tile 0/1), "images": [n names], "collage_key": str}``.

    The API-free measure of a search: which recorded arrangement the predictor ranks best, and that record's
    accuracy. Sample ids are the collage's first record key. ``heldout_fraction`` / ``heldout_seed`` must be the
    training reader's (``CollagePrompt(split="train", ...)``).
    """

    layout = CollagePrompt.layout
    obtain = CollagePrompt.obtain

    def __init__(self, root: str, grid: int = 3, heldout_fraction: float = 0.1, heldout_seed: int = 0) -> None:
        if not heldout_fraction > 0:
            raise ValueError(f"CollagePromptHeldOut needs heldout_fraction > 0, got {heldout_fraction}")
        self.records = CollagePrompt(root, grid=grid, split="train")
        self.grid, self.n = grid, grid * grid
        self.heldout_fraction, self.heldout_seed = float(heldout_fraction), int(heldout_seed)
        groups = group_records(self.records.images)
        self.keys = heldout_collages(groups, self.heldout_fraction, self.heldout_seed)
        if not self.keys:
            raise ValueError(f"{self.records.meta_path}: no collage is recorded under 2 or more arrangements (or "
                             f"heldout_fraction {heldout_fraction} rounds to none of them); nothing to hold out")
        self.members = [groups[key] for key in self.keys]

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: int) -> dict[str, Any]:
        records = self.members[index]
        names = self.records.images[records[0]]
        position = {name: i for i, name in enumerate(names)}
        arrangements = torch.stack([torch.tensor([position[self.records.images[r][int(k)]]
                                                  for k in self.records.arrangements[r]], dtype=torch.long)
                                    for r in records])
        assert self.records.correctness is not None
        return {"features": self.records.collage_features(records[0]), "arrangements": arrangements,
                "correctness": self.records.correctness[torch.tensor(records)], "images": list(names),
                "collage_key": self.keys[index]}

    def sample_id(self, index: int) -> str:
        return self.records.ids[self.members[index][0]]

    def fingerprint(self) -> str:
        return self.records.fingerprint()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "root": str(self.records.root), "grid": self.grid,
                "metainfo": str(self.records.meta_path), "heldout_fraction": self.heldout_fraction,
                "heldout_seed": self.heldout_seed, "records": sum(len(m) for m in self.members)}
