"""DiffAct's training loop (official ``Trainer.train``): one video per step, gradients accumulated over
``batch_size`` videos, Adam, a checkpoint and an optional test evaluation every ``eval_every`` epochs.

:func:`train_loop` is the loop itself, with the per-video losses passed in; :func:`train_diffact` gives it
DiffAct's, and DiffTriplet (``bench.methods.difftriplet``) its own.

Files in the work directory: ``latest.pt`` (model, optimiser, epoch, step, every RNG state (the loop's generator,
python, numpy, torch, CUDA: :func:`bench.seeding.capture_rng_state`) and the gradients accumulated towards the next
optimiser step, rewritten atomically after each epoch, so a resumed run continues exactly where a killed one
stopped; the official resume drops the RNG states and pending gradients; a file of an older bench, without the
python and numpy states, still resumes, with a warning), ``epoch-<e>.model``
(plain state dicts, the official name and format, at epochs divisible by ``eval_every`` and at the last epoch)
and ``test_results_epoch<e>.json`` (the five metrics of that epoch on the evaluation split, for epoch selection).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.io import atomic_torch_save, atomic_write_json
from bench.methods.diffact.losses import LOSS_NAMES, boundary_target, class_weights, training_losses
from bench.methods.diffact.model import ASDiffusionModel
from bench.progress import progress
from bench.seeding import capture_rng_state
from bench.train import load_training_state, resume_rng

log = logging.getLogger("bench.diffact")
LATEST = "latest.pt"


def epoch_model_path(work_dir: Path, epoch: int) -> Path:
    return Path(work_dir) / f"epoch-{epoch}.model"


def epoch_results_path(work_dir: Path, epoch: int) -> Path:
    return Path(work_dir) / f"test_results_epoch{epoch}.json"


@dataclass
class LoopSettings:
    """The official JSON's loop keys (``num_epochs`` is ``epochs``, ``log_freq`` is ``eval_every``)."""

    epochs: int
    batch_size: int = 4
    lr: float = 5e-4
    weight_decay: float = 0.0
    eval_every: int | None = None
    seed: int = 0


@dataclass
class TrainSettings(LoopSettings):
    """DiffAct's training keys: the loop's plus loss weights, class weighting and label/boundary smoothing."""

    loss_weights: dict[str, float] = field(default_factory=lambda: {
        "encoder_ce_loss": 0.5, "encoder_mse_loss": 0.1, "encoder_boundary_loss": 0.0,
        "decoder_ce_loss": 0.5, "decoder_mse_loss": 0.1, "decoder_boundary_loss": 0.1})
    class_weighting: bool = True
    soft_label: float | None = None
    boundary_smooth: float | None = None

    def __post_init__(self) -> None:
        if sorted(self.loss_weights) != sorted(LOSS_NAMES):
            raise ValueError(f"loss_weights must name exactly {LOSS_NAMES}, got {sorted(self.loss_weights)}")
        if self.loss_weights["encoder_boundary_loss"] != 0:
            raise ValueError("encoder_boundary_loss must be 0: the encoder has no boundary loss (official assertion)")


def saved_epochs(settings: LoopSettings) -> list[int]:
    """Epochs with an ``epoch-<e>.model``: multiples of ``eval_every`` (from 0, as the official ``epoch %
    log_freq == 0``) and the last epoch."""
    every = settings.eval_every or settings.epochs
    return sorted({e for e in range(settings.epochs) if e % every == 0} | {settings.epochs - 1})


def _stored_rng(rng_state: dict[str, Any]) -> dict[str, Any]:
    """``latest.pt``'s ``rng`` in :func:`bench.seeding.capture_rng_state`'s layout; a file written before it held
    the loop generator under ``numpy`` and only the torch states (the missing python and numpy global states are
    then reported by :func:`bench.train.resume_rng`)."""
    if "generators" in rng_state:
        return rng_state
    old = {"torch": rng_state["torch"], "generators": {"loop": rng_state["numpy"]}}
    return {**old, "cuda": rng_state["cuda"]} if "cuda" in rng_state else old


StepLosses = Callable[[int, np.random.Generator], dict[str, torch.Tensor]]


def train_loop(model: torch.nn.Module, num_videos: int, step_losses: StepLosses, loss_weights: dict[str, float],
               work_dir: Path, device: torch.device, settings: LoopSettings, *, resume: bool = True,
               evaluate: Callable[[torch.nn.Module], dict[str, float]] | None = None, desc: str = "DiffAct") -> Path:
    """The official loop: every epoch visits the videos in a random order; ``step_losses(index, rng)`` returns
    that video's named losses (drawing its augmentations from ``rng``, the loop's generator, whose state is
    checkpointed); their ``loss_weights`` sum, divided by ``batch_size``, is back-propagated and Adam steps every
    ``batch_size`` videos. Returns the last epoch's ``epoch-<e>.model``; ``evaluate(model)`` runs at every saved
    epoch and its metrics are written next to it. Progress is a bar over epochs (``desc``), and one log line at
    the end."""
    work_dir = Path(work_dir)
    last = epoch_model_path(work_dir, settings.epochs - 1)
    rng = np.random.default_rng(settings.seed)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    start_epoch, step = 0, 1
    optimizer.zero_grad()  # once: as officially, a partial accumulation carries over into the next epoch
    if resume and (work_dir / LATEST).is_file():
        state = load_training_state(work_dir / LATEST, ("model", "optimizer", "epoch", "step", "pending_grads"))
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, step = int(state["epoch"]) + 1, int(state["step"])
        resume_rng({"rng": _stored_rng(state["rng"]) if "rng" in state else {}}, work_dir / LATEST, {"loop": rng})
        for param, grad in zip(model.parameters(), state["pending_grads"], strict=True):
            param.grad = None if grad is None else grad.to(device)
        if start_epoch >= settings.epochs and last.is_file():
            return last

    saved = set(saved_epochs(settings))
    first, running = start_epoch, float("nan")
    bar = progress(range(start_epoch, settings.epochs), desc=f"{desc} train", unit="epoch")
    for epoch in bar:
        model.train()
        running = 0.0
        for index in rng.permutation(num_videos):
            losses = step_losses(int(index), rng)
            total = sum(loss_weights[name] * value for name, value in losses.items()) / settings.batch_size
            total.backward()
            running += float(total.detach())
            if step % settings.batch_size == 0:
                optimizer.step()
                optimizer.zero_grad()
            step += 1
        running /= max(num_videos, 1)
        bar.set_postfix(loss=f"{running:.4f}")
        if epoch in saved:
            atomic_torch_save(epoch_model_path(work_dir, epoch), model.state_dict())
            if evaluate is not None:
                scores = evaluate(model)
                atomic_write_json(epoch_results_path(work_dir, epoch), {"epoch": epoch, **scores})
                log.debug("epoch %d  test %s", epoch, {k: round(v, 4) for k, v in scores.items()})
        atomic_torch_save(work_dir / LATEST, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                              "epoch": epoch, "step": step, "rng": capture_rng_state({"loop": rng}),
                                              "pending_grads": [p.grad for p in model.parameters()]})
    log.info("%s trained epochs %d-%d of %d%s, last running loss %.4f (%s)", desc, first, settings.epochs - 1,
             settings.epochs, " (resumed)" if first else "", running, work_dir)
    model.eval()
    return last


def train_diffact(model: ASDiffusionModel, train_set: Any, work_dir: Path, device: torch.device,
                  settings: TrainSettings, *, sample_rate: int = 1, temporal_aug: bool = True, resume: bool = True,
                  evaluate: Callable[[ASDiffusionModel], dict[str, float]] | None = None) -> Path:
    """Train ``model`` on ``train_set`` (an MS-TCN reader: items ``features`` [S, D, T] and ``target`` [T], and
    ``targets``, every video's labels without loading features) with DiffAct's six losses; see :func:`train_loop`."""
    targets = [target.numpy() for target in train_set.targets]  # labels only: features load per step
    boundaries = [boundary_target(t, settings.boundary_smooth) for t in targets]
    weights = (torch.from_numpy(class_weights(targets, model.num_classes)).float().to(device)
               if settings.class_weighting else None)

    def step_losses(index: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        features = train_set[index]["features"]
        offset = int(rng.integers(sample_rate)) if temporal_aug else 0
        version = int(rng.integers(features.shape[0]))
        feats = features[version, :, offset::sample_rate].unsqueeze(0).to(device)
        labels = torch.as_tensor(targets[index][offset::sample_rate], dtype=torch.long).unsqueeze(0).to(device)
        boundary = boundaries[index][offset::sample_rate]
        boundary = boundary / boundary.max() if boundary.max() > 0 else boundary  # "normalize again"
        boundary = torch.as_tensor(boundary, dtype=torch.float32).reshape(1, 1, -1).to(device)
        cond_type = str(rng.choice(model.cond_types))
        return training_losses(model, feats, labels, boundary, cond_type, weights, settings.soft_label, rng)

    return train_loop(model, len(train_set), step_losses, settings.loss_weights, work_dir, device, settings,
                      resume=resume, evaluate=evaluate, desc="DiffAct")
