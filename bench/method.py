"""Base class for method adapters: the whole interface a paper's adapter implements."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.utils.data import default_collate

from bench.store import Columns


def collate_ragged(items: list[dict[str, Any]], ragged_keys: tuple[str, ...]) -> dict[str, Any]:
    """``default_collate`` for everything but ``ragged_keys`` (per-sample shapes differ), which stay lists."""
    batch = default_collate([{k: v for k, v in item.items() if k not in ragged_keys} for item in items])
    batch.update({key: [item[key] for item in items] for key in ragged_keys if key in items[0]})
    return batch


class Method:
    """A method adapter turns a batch of dataset items into per-sample output columns.

    ``predict`` is the only required method. Methods that learn implement ``fit``; methods whose
    foundation weights cannot be had here set ``smoke`` (and ``smoke_reason``) so their numbers are labelled
    as smoke and never fill a paper-table cell.
    """

    smoke: bool = False
    smoke_reason: str | None = None
    # constructor keys (dotted for nested dicts) that change only evaluation, never training: configs differing
    # only in them share one train stage (bench.results.train_dir_for)
    eval_only_params: tuple[str, ...] = ()

    def setup(self, device: torch.device, seed: int = 0) -> None:
        """Load weights and move to ``device``; called once per process before evaluation with the run's seed."""

    def setup_untrained(self, device: torch.device, seed: int = 0) -> None:
        """Build the model a ``train`` section starts from (its initial weights, no trained checkpoint), for
        ``bench validate`` on a config whose train stage has not run yet. The default is :meth:`setup`, for adapters
        whose setup builds the initial model when no checkpoint is configured; adapters whose setup requires one
        override it."""
        self.setup(device, seed=seed)

    def predict(self, batch: dict[str, Any], seeds: torch.Tensor) -> Columns:
        """Outputs for one batch: tensors with the batch on dim 0, or lists with one entry per sample."""
        raise NotImplementedError

    def attack_model(self, view: str = "logits") -> torch.nn.Module:
        """A differentiable module from ``batch["image"]`` (pixels in [0, 1]) to class scores, for the
        robustness task's attacks; ``view`` picks what it outputs (e.g. ``"logits"``)."""
        raise NotImplementedError(f"{type(self).__name__} exposes no differentiable model for attacks "
                                  "(implement Method.attack_model to use the robustness task)")

    def collate(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        return default_collate(items)

    def fit(self, train_set: Any, val_set: Any | None, work_dir: Path, device: torch.device,
            resume: bool = True, **train_cfg: Any) -> Path:
        """Train, writing checkpoints under ``work_dir``; return the final checkpoint's path."""
        raise NotImplementedError(f"{type(self).__name__} does not learn; remove the 'train' section")

    def use_checkpoint(self, path: str | Path) -> None:
        """Evaluate with this checkpoint (e.g. the one a ``train`` stage produced)."""
        raise NotImplementedError(f"{type(self).__name__} takes no checkpoint")

    def fitted_values(self) -> dict[str, float]:
        """Numbers the method fitted before predicting (e.g. a calibrator's temperature), reported as metrics."""
        return {}

    def provenance(self) -> dict[str, Any]:
        """Facts about the weights (checkpoint path and sha256, smoke status) for provenance.json."""
        return {"smoke": self.smoke, "smoke_reason": self.smoke_reason}
