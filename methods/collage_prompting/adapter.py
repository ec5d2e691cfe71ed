"""The ``CollagePrompting`` adapter of the ``collage_recognition`` task: each sample is a group of g*g images
(``CollageGroups``, ``bench.datasets.collage_groups``), recognised either one image per call (``mode="standard"``,
the paper's baseline) or as one collage per call (``mode="collage"``) under an arrangement picked by ``arrangement``:

- ``identity``: the group's own order; ``random``: a seeded random permutation (the paper's random baseline);
- ``brute_force``: the best of 25 seeded random permutations by the predictor; ``ga``: the genetic search of the
  official scripts (presets ``2x2`` / ``3x3``) by the predictor (:mod:`.search`, :mod:`.predictor`).

The recognizer (:mod:`.recognizers`) is an OpenAI-compatible endpoint, a local classifier, or the demo's collage
reader. With a ``train`` section (settings: :func:`.demo_train.fit_demo`) the adapter trains the demo's reader, then
the predictor on the reader's recorded per-tile correctness; every config of one demo shares that stage (``mode``,
``arrangement`` and ``search`` only change evaluation).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.method import Method
from bench.methods.collage_prompting.collage import (check_grid, collage_prompt, make_collage, parse_indexed_answer,
                                                     parse_single_answer, resize_tile, standard_prompt, to_image_order,
                                                     to_uint8_hwc)
from bench.methods.collage_prompting.recognizers import Recognizer, UsdBudget, build_recognizer
from bench.registry import METHODS
from bench.store import Columns

MODES = ("collage", "standard")
ARRANGEMENTS = ("identity", "random", "brute_force", "ga")


def load_categories(categories: list[str] | tuple[str, ...] | str) -> list[str]:
    """The category names in label order: a list, ``"imagenet1k"`` (timm's ImageNet-1k descriptions, first synonym),
    the path of a text file with one name per line, or a folder of class folders (``ClassFolderImages``' root: the
    sorted folder names, ``_`` read as a space)."""
    if isinstance(categories, (list, tuple)):
        names = [str(name) for name in categories]
    elif categories == "imagenet1k":
        from timm.data import ImageNetInfo

        info = ImageNetInfo()
        names = []
        for index in range(info.num_classes()):
            description = info.index_to_description(index)
            name = description.split(",")[0].strip()
            if name in names:  # 'crane' (bird, machine) and 'maillot' name two classes each
                name = description if description not in names else f"{name} (class {index})"
            names.append(name)
    else:
        path = Path(str(categories))
        if path.is_dir():
            from bench.datasets.class_folders import class_names

            names = [name.replace("_", " ") for name in class_names(path)]
        elif path.is_file():
            names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        else:
            raise FileNotFoundError(f"method.categories: {path} does not exist; give a list of names, 'imagenet1k', "
                                    "a text file with one category name per line in label order, or the folder of "
                                    "class folders the dataset reads")
    if not names or len(set(names)) != len(names):
        raise ValueError(f"method.categories must be distinct non-empty names, got {len(names)} names with "
                         f"{len(names) - len(set(names))} repeated")
    return names


@METHODS.register_module()
class CollagePrompting(Method):
    """Recognition of g x g image groups through a recognizer (module docstring).

    Args:
        recognizer: ``dict(type="openai" | "local_classifier" | "collage_reader", ...)`` (:mod:`.recognizers`).
        categories: the category list of the prompt (a list, ``"imagenet1k"`` or a text file).
        grid: 2 or 3; must match the dataset's groups.
        mode: ``collage`` or ``standard`` (one call per image).
        arrangement: ``identity``, ``random``, ``brute_force`` or ``ga`` (collage mode).
        tile_size: pixels of each tile in a collage, and of a standard call's image (images are resized to it).
        search: for ``brute_force`` / ``ga``: ``dict(predictor=<checkpoint>, official=False, mean=None, std=None,
            features=<feature extractor spec>, preset="2x2" | "3x3", num=25)``. ``predictor`` defaults to the train
            stage's checkpoint; ``official=True`` reads the official ``499.pth`` (with the training target's
            ``mean`` / ``std``); ``features`` defaults to the recognizer's own embedding (the demo reader has one).
    """

    eval_only_params = ("mode", "arrangement", "search", "tile_size", "recognizer.detail", "recognizer.pricing")

    def __init__(self, recognizer: dict[str, Any], categories: list[str] | str, grid: int = 2, mode: str = "collage",
                 arrangement: str = "random", tile_size: int = 224, search: dict[str, Any] | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"method.mode must be one of {MODES}, got {mode!r}")
        if arrangement not in ARRANGEMENTS:
            raise ValueError(f"method.arrangement must be one of {ARRANGEMENTS}, got {arrangement!r}")
        self.grid, self.mode, self.arrangement = check_grid(grid), mode, arrangement
        self.tile_size = int(tile_size)
        self.recognizer_spec = dict(recognizer)
        self.recognizer: Recognizer = build_recognizer(recognizer)
        self.categories = load_categories(categories)
        self.search = dict(search or {})
        unknown = set(self.search) - {"predictor", "official", "mean", "std", "features", "preset", "num"}
        if unknown:
            raise ValueError(f"method.search has unknown keys {sorted(unknown)}; allowed: predictor, official, mean, "
                             "std, features, preset, num")
        self.checkpoint: str | None = None
        self.predictor: Any = None
        self.extractor: Any = None
        self.device = torch.device("cpu")
        self.facts: dict[str, float] = {}

    # ---- training (the demo) -------------------------------------------------------------------------------
    def fit(self, train_set: Any, val_set: Any | None, work_dir: Path, device: torch.device,
            resume: bool = True, **train_cfg: Any) -> Path:
        from bench.methods.collage_prompting.demo_train import fit_demo

        if self.recognizer.backend != "collage_reader":
            raise ValueError("a 'train' section trains the demo's collage reader: use recognizer=dict(type="
                             f"'collage_reader'), got {self.recognizer.backend!r}")
        if val_set is None:
            raise ValueError("the demo's train stage needs train.val_dataset: the images whose collages record the "
                             "reader's per-tile correctness for the predictor")
        return fit_demo(train_set, val_set, Path(work_dir), grid=self.grid, resume=resume, **train_cfg)

    def use_checkpoint(self, path: str | Path) -> None:
        self.checkpoint = str(path)

    # ---- evaluation ----------------------------------------------------------------------------------------
    def setup(self, device: torch.device, seed: int = 0) -> None:
        self.device = device
        entry: dict[str, Any] | None = None
        if self.checkpoint is not None:
            from bench.methods.collage_prompting.demo_train import load_demo_checkpoint

            entry = load_demo_checkpoint(self.checkpoint)
            self.facts = {k: float(v) for k, v in entry.get("facts", {}).items()}
            use_model = getattr(self.recognizer, "use_model", None)
            if use_model is not None:
                from bench.methods.collage_prompting.demo_reader import load_reader

                use_model(load_reader(entry["reader"]))
        self.recognizer.setup(device)
        if self.mode == "collage" and self.arrangement in ("brute_force", "ga"):
            self.predictor = self._load_predictor(entry)
            features = self.search.get("features")
            if features is not None:
                from bench.registry import EXTRACTORS

                self.extractor = EXTRACTORS.build(dict(features)).to(device)
            elif not hasattr(self.recognizer, "embed"):
                raise ValueError(f"method.search.features is not set and the {self.recognizer.backend!r} recognizer "
                                 "has no embedding: give a feature extractor spec (e.g. CLIP ViT-B/32, the "
                                 "predictor's training features)")

    def _load_predictor(self, entry: dict[str, Any] | None) -> Any:
        path = self.search.get("predictor")
        if self.search.get("official"):
            from bench.methods.collage_prompting.official_weights import load_official_predictor

            if path is None:
                raise ValueError("method.search.official=True needs search.predictor=<path of 499.pth>")
            return load_official_predictor(path, mean=self.search.get("mean"), std=self.search.get("std"))
        if path is not None:
            from bench.methods.collage_prompting.demo_train import load_demo_checkpoint

            entry = load_demo_checkpoint(path)
        if entry is None or "predictor" not in entry:
            raise ValueError(f"method.arrangement={self.arrangement!r} needs a predictor: a train stage, "
                             "search.predictor=<checkpoint>, or search.official=True with the official weights")
        from bench.methods.collage_prompting.demo_train import load_predictor

        return load_predictor(entry["predictor"]).to(self.device)

    def predict(self, batch: dict[str, Any], seeds: torch.Tensor) -> Columns:
        return self.recognize_batch(batch, seeds, budget=None)

    def recognize_batch(self, batch: dict[str, Any], seeds: torch.Tensor, budget: UsdBudget | None) -> Columns:
        """Outputs of one batch of groups (the task calls this with its ``max_usd`` budget). Columns: ``target``,
        ``prediction`` (-1: unparsed), ``correct``, ``parsed``, ``arrangement`` [B, n]; ``calls``, ``cached_calls``,
        ``image_tokens``, ``prompt_tokens``, ``completion_tokens``, ``usage_reported`` (calls whose text tokens the
        provider reported), ``usd``, ``predicted_accuracy`` (the predictor's score of the arrangement; NaN when none
        was searched) [B]; ``answer`` (the raw answer texts, one string per group) and ``tile_ids`` (the images' sample
        ids, ``|``-joined, when the dataset gives them)."""
        images, targets = batch["images"], batch["targets"].long()
        n = self.grid * self.grid
        if images.shape[1] != n:
            raise ValueError(f"method.grid={self.grid} needs groups of {n} images, got {images.shape[1]}: the "
                             "dataset's grid must match")
        rows: list[dict[str, Any]] = []
        for b in range(len(images)):
            rows.append(self._recognize_group(images[b], int(seeds[b]), budget))
        column = {key: [row[key] for row in rows] for key in rows[0]}
        long = {k: torch.tensor(column[k], dtype=torch.long) for k in ("prediction", "arrangement", "calls",
                                                                      "cached_calls", "image_tokens", "prompt_tokens",
                                                                      "completion_tokens", "usage_reported")}
        prediction = long["prediction"]
        return {"target": targets, **long, "correct": (prediction == targets).float(),
                "parsed": torch.tensor(column["parsed"], dtype=torch.bool),
                "usd": torch.tensor(column["usd"], dtype=torch.float64),
                "predicted_accuracy": torch.tensor(column["predicted_accuracy"], dtype=torch.float64),
                "answer": column["answer"], **({"tile_ids": list(batch["tile_ids"])} if "tile_ids" in batch else {})}

    def _recognize_group(self, images: torch.Tensor, seed: int, budget: UsdBudget | None) -> dict[str, Any]:
        n = self.grid * self.grid
        tiles = [resize_tile(to_uint8_hwc(image), self.tile_size) for image in images]
        recognitions = []
        if self.mode == "standard":
            prompt = standard_prompt(self.categories)
            labels, parsed = [], []
            for tile in tiles:
                recognition = self.recognizer.recognize(tile, prompt, None, self.categories, budget)
                answer = parse_single_answer(recognition.text, self.categories)
                labels.append(answer.labels[0])
                parsed.append(answer.parsed[0])
                recognitions.append(recognition)
            arrangement, predicted = list(range(n)), float("nan")
        else:
            arr, predicted = self._arrangement(images, seed)
            arrangement = arr.tolist()
            collage = make_collage(tiles, arr, self.grid, self.tile_size)
            recognition = self.recognizer.recognize(collage, collage_prompt(self.categories, self.grid), self.grid,
                                                    self.categories, budget)
            answer = parse_indexed_answer(recognition.text, n, self.categories)
            labels, parsed = to_image_order(answer.labels, arr), to_image_order(answer.parsed, arr)
            recognitions.append(recognition)
        costs = [r.cost for r in recognitions]
        return {"prediction": labels, "parsed": [bool(p) for p in parsed], "arrangement": arrangement,
                "calls": len(recognitions), "cached_calls": sum(r.cached for r in recognitions),
                "image_tokens": sum(c.image_tokens for c in costs),
                "prompt_tokens": sum(c.prompt_tokens for c in costs),
                "completion_tokens": sum(c.completion_tokens for c in costs),
                "usage_reported": sum(c.usage_reported for c in costs), "usd": float(sum(c.usd for c in costs)),
                "predicted_accuracy": predicted, "answer": "\n".join(r.text for r in recognitions)}

    def _arrangement(self, images: torch.Tensor, seed: int) -> tuple[torch.Tensor, float]:
        """The arrangement of one group and the predictor's score of it (NaN when no predictor chose it)."""
        n = self.grid * self.grid
        if self.arrangement == "identity":
            return torch.arange(n), float("nan")
        from bench.methods.collage_prompting import search

        seed = seed % (2 ** 32)  # numpy / pygad seeds are 32-bit
        if self.arrangement == "random":
            return torch.as_tensor(search.random_arrangement(self.grid, seed)).long(), float("nan")
        from bench.methods.collage_prompting.predictor import score_arrangements

        features = self._features(images)

        def score_fn(arrangements: torch.Tensor) -> torch.Tensor:
            return score_arrangements(self.predictor, features, arrangements, self.grid).detach().cpu()

        if self.arrangement == "brute_force":
            arr = search.brute_force_search(score_fn, self.grid, num=int(self.search.get("num", 25)), seed=seed)
        else:
            preset = self.search.get("preset", f"{self.grid}x{self.grid}")
            arr = search.ga_search(score_fn, self.grid, preset=preset, seed=seed)
        arr = torch.as_tensor(arr).long()
        return arr, float(score_fn(arr[None])[0])

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        if self.extractor is not None:
            pixels = torch.from_numpy(np.stack([to_uint8_hwc(image) for image in images]))
            return self.extractor(pixels.to(self.device))["pool"].float()
        return self.recognizer.embed(images.float())  # type: ignore[attr-defined]

    def fitted_values(self) -> dict[str, float]:
        """The demo train stage's numbers: the reader's recorded accuracy (mean over random arrangements, the best of
        them per collage, the top and bottom rows'), its spread over arrangements, the predictor's validation MAE."""
        return dict(self.facts)

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "recognizer": self.recognizer.describe(), "grid": self.grid,
                "mode": self.mode, "arrangement": self.arrangement, "tile_size": self.tile_size,
                "num_categories": len(self.categories), "checkpoint": self.checkpoint}
