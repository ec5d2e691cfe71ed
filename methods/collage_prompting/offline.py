"""The offline CollagePrompt benchmark (no API): the arrangement predictor trained on the shipped GPT-4V records, and
an arrangement search per collage on its shipped image features.

``fit`` (the config's ``train`` section) trains :class:`~.predictor.CollageAccuracyPredictor` with the official
recipe (:func:`~.predictor.train_predictor`: standardised mean correctness, MSE, Adam, seed 777, 500 epochs, 90/10
split) on the training records of ``CollagePrompt(split="train")``, or, with ``weights=<499.pth>``, loads the
official weights (:func:`~.official_weights.load_official_predictor`) with the target mean / std of those records;
either way the predictor is the train stage's checkpoint, beside the keys of the collages it was trained on.

``predict`` returns, per collage, the arrangement the configured search picks and the predictor's score of it, and
the score of a seeded random arrangement. Items with several recorded arrangements (``CollagePromptHeldOut``) also
get the recorded accuracy (mean GPT-4V correctness) of the recorded arrangement the search picks among them (the
predictor's best; ties share their mean; ``random`` / ``identity``: a seeded random record), of a seeded random
record, of the best record, and the mean over records: whether the predictor picks better arrangements, measured
on real answers.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from bench.checkpoint import CheckpointError
from bench.method import Method, collate_ragged
from bench.registry import METHODS
from bench.store import Columns

SEARCHES = ("identity", "random", "brute_force", "ga")
CHECKPOINT = "collage_predictor.pt"
#: scores this close to the best count as ties (symmetric arrangements give the same graph)
TIE_TOLERANCE = 1e-6


def _seed_generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed) % (2 ** 63))


def recorded_accuracies(scores: torch.Tensor, accuracy: torch.Tensor, seed: int, pick: str) -> dict[str, float]:
    """The recorded measures of one collage with recorded arrangements scored ``scores [R]`` by the predictor and
    recorded mean correctness ``accuracy [R]``: ``recorded_chosen`` (``pick="predictor"``: the mean accuracy of the
    records scoring within :data:`TIE_TOLERANCE` of the best, i.e. a uniform tie-break; ``pick="random"``: the
    random record), ``recorded_random`` (the record ``randint(R)`` of a generator seeded with ``seed``),
    ``recorded_best`` and ``recorded_mean``."""
    accuracy = accuracy.double()
    random_index = int(torch.randint(len(accuracy), (1,), generator=_seed_generator(seed)))
    if pick == "random":
        chosen = float(accuracy[random_index])
    else:
        scores = scores.double()
        top = scores >= scores.max() - TIE_TOLERANCE
        chosen = float(accuracy[top].mean())
    return {"recorded_chosen": chosen, "recorded_random": float(accuracy[random_index]),
            "recorded_best": float(accuracy.max()), "recorded_mean": float(accuracy.mean())}


@METHODS.register_module()
class CollageArrangementSearch(Method):
    """Arrangement search under the accuracy predictor, for the ``collage_arrangement`` task (module docstring).

    Args:
        grid: 2 or 3; must match the dataset's collages.
        search: ``ga`` (official preset), ``brute_force`` (best of ``num`` random), ``random`` or ``identity``.
        preset: the GA preset (default ``"{g}x{g}"``, :data:`.search.GA_PRESETS`).
        num: brute force's number of random permutations (official: 25).
    """

    eval_only_params = ("search", "preset", "num")

    def __init__(self, grid: int = 3, search: str = "ga", preset: str | None = None, num: int = 25) -> None:
        if grid not in (2, 3):
            raise ValueError(f"method.grid must be 2 or 3 (the shipped collages), got {grid!r}")
        if search not in SEARCHES:
            raise ValueError(f"method.search must be one of {SEARCHES}, got {search!r}")
        if int(num) < 1:
            raise ValueError(f"method.num must be >= 1, got {num}")
        self.grid, self.search, self.num = grid, search, int(num)
        self.preset = preset or f"{grid}x{grid}"
        self.checkpoint: str | None = None
        self.predictor: Any = None
        self.train_keys: set[str] = set()
        self.facts: dict[str, float] = {}
        self._untrained_device: torch.device | None = None

    # ---- the train stage -----------------------------------------------------------------------------------
    def fit(self, train_set: Any, val_set: Any | None, work_dir: Path, device: torch.device, resume: bool = True,
            seed: int = 777, epochs: int = 500, lr: float = 1e-3, weight_decay: float = 0.01,
            batch_size: int = 512, val_fraction: float = 0.1, hidden: int = 128, rows_only: bool | None = None,
            weights: str | None = None, **unknown: Any) -> Path:
        """Train the predictor on ``train_set`` (a ``CollagePrompt`` training reader) or load the official
        ``weights``; returns the checkpoint. ``rows_only`` (default: True for 2x2): train on horizontal neighbour
        edges only, as the official 2x2 training set builds them (its inference, and ours, scores the full grid)."""
        from bench.io import atomic_writer
        from bench.methods.collage_prompting.predictor import train_predictor

        if unknown:
            raise ValueError(f"train section: unknown key(s) {sorted(unknown)}; CollageArrangementSearch takes seed, "
                             "epochs, lr, weight_decay, batch_size, val_fraction, hidden, rows_only, weights")
        path = Path(work_dir) / CHECKPOINT
        if resume and path.is_file():
            return path
        if not hasattr(train_set, "tensors") or getattr(train_set, "grid", None) != self.grid:
            raise ValueError(f"train.dataset must be a CollagePrompt training reader of {self.grid}x{self.grid} "
                             f"collages (split='train', grid={self.grid}), got {type(train_set).__name__} with grid "
                             f"{getattr(train_set, 'grid', None)}")
        keys = train_set.collage_keys()
        if weights is not None:
            from bench.methods.collage_prompting.official_weights import load_official_predictor

            mean, std = train_set.accuracy_stats()
            predictor = load_official_predictor(weights, mean=mean, std=std)
            kwargs = {"in_dim": int(predictor.conv1.lin.weight.shape[1]),
                      "hidden": int(predictor.conv1.lin.weight.shape[0])}
            facts = {"predictor_target_mean": mean, "predictor_target_std": std, "official_weights": 1.0}
        else:
            features, arrangements, accuracy = train_set.tensors()
            rows = self.grid == 2 if rows_only is None else bool(rows_only)
            predictor, history = train_predictor(features, arrangements, accuracy, self.grid, epochs=epochs,
                                                 seed=seed, lr=lr, weight_decay=weight_decay, batch_size=batch_size,
                                                 val_fraction=val_fraction, rows_only=rows, device=device,
                                                 hidden=hidden)
            kwargs = {"in_dim": int(features.shape[-1]), "hidden": int(hidden)}
            facts = {"predictor_target_mean": float(history["mean"]), "predictor_target_std": float(history["std"]),
                     "predictor_train_records": float(history["num_train"]),
                     "predictor_val_mae": float(history["val_mae"][-1]) if history["val_mae"] else math.nan,
                     "official_weights": 0.0}
        facts["predictor_train_collages"] = float(len(keys))
        state = {k: v.detach().cpu() for k, v in predictor.state_dict().items()}
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_writer(path) as handle:
            torch.save({"predictor": {"kwargs": kwargs, "state_dict": state}, "facts": facts,
                        "train_collages": keys}, handle)
        return path

    def use_checkpoint(self, path: str | Path) -> None:
        self.checkpoint = str(path)

    def setup(self, device: torch.device, seed: int = 0) -> None:
        if self.search in ("identity", "random") and self.checkpoint is None:
            return  # neither needs a predictor; the outputs then hold no scores
        if self.checkpoint is None:
            raise ValueError(f"method.search={self.search!r} needs the predictor: add a 'train' section (it trains "
                             "one, or loads train.weights=<official 499.pth>)")
        from bench.methods.collage_prompting.demo_train import load_predictor

        entry = torch.load(self.checkpoint, map_location="cpu", weights_only=True)
        if not isinstance(entry, dict) or "predictor" not in entry or "train_collages" not in entry:
            raise CheckpointError(f"{self.checkpoint} is not an offline collage predictor checkpoint (entries "
                                  "'predictor', 'train_collages'); rerun the config's train stage")
        self.predictor = load_predictor(entry["predictor"]).to(device)
        self.train_keys = set(entry["train_collages"])
        self.facts = {k: float(v) for k, v in entry.get("facts", {}).items()}

    def setup_untrained(self, device: torch.device, seed: int = 0) -> None:
        """``bench validate`` before the train stage ran: an untrained predictor (seed 777), built on the first
        batch's feature size."""
        if self.checkpoint is not None:
            self.setup(device, seed)
        else:
            self._untrained_device = device

    def _untrained_predictor(self, dim: int) -> None:
        from bench.methods.collage_prompting.predictor import CollageAccuracyPredictor

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(777)
            self.predictor = CollageAccuracyPredictor(in_dim=dim).eval().to(self._untrained_device)

    # ---- evaluation ----------------------------------------------------------------------------------------
    def collate(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        return collate_ragged(items, ("arrangements", "correctness", "images", "collage_key", "arrangement"))

    def predict(self, batch: dict[str, Any], seeds: torch.Tensor) -> Columns:
        """Columns: ``arrangement`` [B, n] (``arr[p]`` = index of the image at grid position ``p``),
        ``predicted_accuracy`` (the predictor's score of it; NaN without a predictor) and ``predicted_random`` (of
        the seeded random arrangement) [B]; ``num_recorded`` [B] and ``recorded_chosen``, ``recorded_random``,
        ``recorded_best``, ``recorded_mean`` [B] (NaN below 2 recorded arrangements)."""
        from bench.methods.collage_prompting import search as searches

        features = batch["features"]
        if features.ndim != 3 or features.shape[1] != self.grid * self.grid:
            raise ValueError(f"method.grid={self.grid} needs collages of {self.grid * self.grid} images, got "
                             f"features {tuple(features.shape)}: the dataset's grid must match")
        if self.predictor is None and self._untrained_device is not None:
            self._untrained_predictor(int(features.shape[-1]))
        rows: list[dict[str, Any]] = []
        for b in range(features.shape[0]):
            key = batch["collage_key"][b] if "collage_key" in batch else None
            if key is not None and key in self.train_keys:
                raise ValueError(f"collage {batch['sample_id'][b]!r} was in the predictor's training records: the "
                                 "dataset's heldout_fraction / heldout_seed must equal train.dataset's")
            rows.append(self._collage(features[b], int(seeds[b]) % (2 ** 32), batch, b, searches))
        columns = {k: torch.tensor([row[k] for row in rows], dtype=torch.float64)
                   for k in rows[0] if k not in ("arrangement", "num_recorded")}
        return {"arrangement": torch.stack([row["arrangement"] for row in rows]),
                "num_recorded": torch.tensor([row["num_recorded"] for row in rows], dtype=torch.long), **columns}

    def _collage(self, features: torch.Tensor, seed: int, batch: dict[str, Any], b: int,
                 searches: Any) -> dict[str, Any]:
        from bench.methods.collage_prompting.predictor import score_arrangements

        n = self.grid * self.grid

        def score(arrangements: torch.Tensor) -> torch.Tensor:
            return score_arrangements(self.predictor, features, arrangements, self.grid).detach().cpu()

        random_arr = searches.random_arrangement(self.grid, seed).long()
        if self.search == "identity":
            chosen = torch.arange(n)
        elif self.search == "random":
            chosen = random_arr
        elif self.search == "brute_force":
            chosen = searches.brute_force_search(score, self.grid, num=self.num, seed=seed)
        else:
            chosen = searches.ga_search(score, self.grid, preset=self.preset, seed=seed)
        chosen = torch.as_tensor(chosen).long()
        has_predictor = self.predictor is not None
        scored = score(torch.stack([chosen, random_arr])) if has_predictor else torch.full((2,), math.nan)
        row: dict[str, Any] = {"arrangement": chosen, "predicted_accuracy": float(scored[0]),
                               "predicted_random": float(scored[1]), "num_recorded": 0}
        recorded = {"recorded_chosen": math.nan, "recorded_random": math.nan, "recorded_best": math.nan,
                    "recorded_mean": math.nan}
        if "arrangements" in batch:
            arrangements, correctness = batch["arrangements"][b], batch["correctness"][b]
            row["num_recorded"] = int(arrangements.shape[0])
            if arrangements.shape[0] >= 2:
                if self.search in ("brute_force", "ga") and not has_predictor:
                    raise ValueError("ranking recorded arrangements needs the predictor")
                pick = "predictor" if self.search in ("brute_force", "ga") else "random"
                scores = score(arrangements) if has_predictor else torch.zeros(arrangements.shape[0])
                recorded = recorded_accuracies(scores, correctness.double().mean(1), seed + 1, pick)
        return {**row, **recorded}

    def fitted_values(self) -> dict[str, float]:
        """The train stage's numbers: the target's mean / std, training records and collages, validation MAE."""
        return dict(self.facts)

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "grid": self.grid, "search": self.search, "preset": self.preset,
                "num": self.num, "checkpoint": self.checkpoint}
