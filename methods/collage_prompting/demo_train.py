"""The demo's train stage: train the collage reader (:mod:`.demo_reader`) on digit collages, record its per-tile
correctness on held-out collages under many random arrangements (the stand-in for the paper's GPT-4V metainfo),
and train the arrangement predictor on those records (:func:`.predictor.train_predictor`, the official recipe with
fewer epochs). Everything lands in one checkpoint the evaluation configs share.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from bench.checkpoint import CheckpointError
from bench.methods.collage_prompting import demo_reader as reader_lib

CHECKPOINT = "collage_demo.pt"


def grey_images(dataset: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """A classification reader's images as grey [N, 8, 8] in [0, 1] (channel mean, area-resized) and targets [N]."""
    items = [dataset[i] for i in range(len(dataset))]
    images = torch.stack([torch.as_tensor(item["image"]).float() for item in items])
    if images.ndim == 3:
        images = images[:, None]
    grey = images.mean(1, keepdim=True)
    if grey.shape[-2:] != (reader_lib.NATIVE_TILE, reader_lib.NATIVE_TILE):
        grey = F.interpolate(grey, size=(reader_lib.NATIVE_TILE, reader_lib.NATIVE_TILE), mode="area")
    return grey[:, 0], torch.stack([torch.as_tensor(item["target"]).long() for item in items])


def record_correctness(model: reader_lib.CollageReaderNet, images: torch.Tensor, targets: torch.Tensor, grid: int,
                       collages: int, arrangements: int, seed: int) -> dict[str, torch.Tensor]:
    """``collages`` random groups of ``images``, each read under ``arrangements`` random arrangements: ``groups``
    [C, n], ``arrangement`` [C*A, n], ``correct`` [C*A, n] (image order) and ``group_index`` [C*A]."""
    generator = torch.Generator().manual_seed(seed)
    n = grid * grid
    groups = reader_lib.random_groups(collages, n, len(images), generator)
    index = torch.arange(collages).repeat_interleave(arrangements)
    arrs = torch.stack([torch.randperm(n, generator=generator) for _ in range(len(index))])
    correct = reader_lib.tile_correctness(model, images, targets, groups[index], arrs, grid)
    return {"groups": groups, "arrangement": arrs, "correct": correct, "group_index": index}


def fit_demo(train_set: Any, val_set: Any, work_dir: Path, *, grid: int, seed: int, resume: bool = True,
             reader_steps: int = 300, reader_batch: int = 32, reader_width: int = 16, record_collages: int = 200,
             record_arrangements: int = 8, predictor_epochs: int = 60, predictor_hidden: int = 32,
             predictor_batch: int = 512) -> Path:
    """Train the reader on ``train_set`` (grid g and single images), record it on ``val_set`` collages, train the
    predictor on the records with the reader's tile embeddings as node features; returns the checkpoint."""
    from bench.methods.collage_prompting.predictor import train_predictor

    path = work_dir / CHECKPOINT
    if resume and path.is_file():
        return path
    train_images, train_targets = grey_images(train_set)
    model = reader_lib.train_reader(train_images, train_targets, grids=(1, grid), steps=reader_steps,
                                    batch_size=reader_batch, seed=seed, width=reader_width)
    val_images, val_targets = grey_images(val_set)
    records = record_correctness(model, val_images, val_targets, grid, record_collages, record_arrangements, seed + 1)
    features = reader_lib.embed(model, val_images)[records["groups"][records["group_index"]]]
    accuracy = records["correct"].mean(1)
    kwargs = {"in_dim": int(features.shape[-1]), "hidden": int(predictor_hidden)}
    predictor, history = train_predictor(features, records["arrangement"], accuracy, grid, epochs=predictor_epochs,
                                         seed=777, batch_size=predictor_batch, hidden=int(predictor_hidden))
    per_group = accuracy.reshape(record_collages, record_arrangements)
    by_row = torch.gather(records["correct"], 1, records["arrangement"]).reshape(-1, grid, grid).mean((0, 2))
    facts = {"record_top_row_accuracy": float(by_row[0]), "record_bottom_row_accuracy": float(by_row[-1]),
             "record_accuracy": float(accuracy.mean()),
             "record_best_arrangement_accuracy": float(per_group.max(1).values.mean()),
             "record_arrangement_std": float(per_group.std(1).mean()),
             "predictor_val_mae": float(history["val_mae"][-1]) if history.get("val_mae") else float("nan"),
             "predictor_target_mean": float(history["mean"]), "predictor_target_std": float(history["std"])}
    work_dir.mkdir(parents=True, exist_ok=True)
    from bench.io import atomic_writer

    with atomic_writer(path) as handle:
        torch.save({"reader": reader_lib.save_reader(model),
                    "predictor": {"kwargs": kwargs, "state_dict": predictor.state_dict()}, "facts": facts}, handle)
    return path


def load_demo_checkpoint(path: str | Path) -> dict[str, Any]:
    """The demo checkpoint's entries (``reader``, ``predictor``, ``facts``), loaded with ``weights_only``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"collage prompting checkpoint {path} does not exist; run the config's train stage or "
                              "fix method.search.predictor")
    entry = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(entry, dict) or "predictor" not in entry:
        raise CheckpointError(f"{path} is not a collage prompting checkpoint (no 'predictor' entry); for the "
                              "official 499.pth set method.search.official=True")
    return entry


def load_predictor(entry: dict[str, Any]) -> Any:
    """The :class:`~.predictor.CollageAccuracyPredictor` of a checkpoint's ``predictor`` entry (eval mode)."""
    from bench.methods.collage_prompting.predictor import CollageAccuracyPredictor

    model = CollageAccuracyPredictor(**entry["kwargs"])
    model.load_state_dict(entry["state_dict"])
    return model.eval()
