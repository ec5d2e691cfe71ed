"""A small supervised training loop with atomic per-epoch checkpoints and exact resume, and the resume helpers
every training loop shares (:func:`load_training_state`, :func:`resume_rng`).

Used by method adapters whose ``fit`` is minibatch training. Shuffling draws from a generator seeded by
(seed, epoch), so a run resumed from epoch k sees the same batches as an uninterrupted one (a loader with workers
would draw their base seed from it too, never from the global RNG); everything else random (dropout, random
augmentation, noise in the loss) draws from the global python, numpy, torch and CUDA RNGs, whose states
``latest.pth`` stores and a resume restores. ``loss_fn`` returns
the loss, or a dict with ``"loss"`` and extra numbers to log (averaged per epoch into the checkpoint's
``history``); with ``backward=False`` it fills the gradients itself (gradient surgery, e.g. two-in-one KD's
homogenization) and the loop only steps.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from bench.checkpoint import CheckpointError, load_checkpoint_file
from bench.io import atomic_torch_save
from bench.progress import progress
from bench.seeding import OwnGenerator, capture_rng_state, restore_rng_state

log = logging.getLogger("bench.train")
LATEST = "latest.pth"
FINAL = "final.pth"


LossOutput = torch.Tensor | dict[str, Any]


def load_training_state(path: Path, keys: tuple[str, ...]) -> dict[str, Any]:
    """The state a training loop saved in its work folder (``latest.pth``) to resume from. A file that cannot be
    read, or lacks ``keys``, is a :class:`CheckpointError`: the training never restarts from scratch on its own
    (that would silently discard the epochs done); the message says to delete the file to restart."""
    restart = (f"Delete {path} to restart this training from its first epoch (the epochs it holds are lost), or "
               "put back an intact copy; the file is written atomically, so damage points to a disk or copy fault.")
    try:
        state = load_checkpoint_file(path, fix=restart)
    except CheckpointError as error:
        raise CheckpointError(f"cannot resume training: {error}") from error
    missing = [key for key in keys if not isinstance(state, dict) or key not in state]
    if missing:
        raise CheckpointError(f"cannot resume training: {path} lacks {missing} (it is not the resume state this "
                              f"training writes, which holds {list(keys)}). {restart}")
    return state


def resume_rng(state: dict[str, Any], path: Path, generators: dict[str, OwnGenerator] | None = None) -> None:
    """Restore the RNG states ``state["rng"]`` holds (see :func:`bench.seeding.capture_rng_state`); a file written
    before they were stored resumes with a warning, since its random stream differs from an uninterrupted run's."""
    missing = restore_rng_state(state.get("rng") or {}, generators)
    if missing:
        log.warning("%s stores no RNG state for %s (written by an older bench or on other devices): the training "
                    "resumes, but its random draws (dropout, augmentation, noise) differ from an uninterrupted "
                    "run's; delete it to retrain from the start for an exact result", path, ", ".join(missing))


LR_SCHEDULES = ("one_cycle", "constant", "cosine")


def make_lr_schedule(optimizer: torch.optim.Optimizer, name: str, lr: float, total_steps: int,
                     warmup_fraction: float = 0.0) -> torch.optim.lr_scheduler.LRScheduler:
    """The per-step learning-rate schedule ``name`` of :func:`train_supervised` over ``total_steps`` steps; the
    cosine one warms up over ``ceil(warmup_fraction · total_steps)`` steps (D-TRAK's train_unconditional.py: 10%)."""
    if name == "one_cycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total_steps, pct_start=0.15)
    if name == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    if name == "cosine":
        warmup = math.ceil(total_steps * float(warmup_fraction))

        def factor(step: int) -> float:
            if step < warmup:
                return step / max(1, warmup)
            done = (step - warmup) / max(1, total_steps - warmup)
            return max(0.0, 0.5 * (1.0 + math.cos(math.pi * done)))
        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    raise ValueError(f"lr_schedule must be one of {', '.join(repr(n) for n in LR_SCHEDULES)}, got {name!r}")


def train_supervised(model: nn.Module, train_set: Dataset, loss_fn: Callable[[nn.Module, dict], LossOutput],
                     work_dir: Path, device: torch.device, *, epochs: int, batch_size: int = 64, lr: float = 1e-3,
                     weight_decay: float = 0.0, seed: int = 0, resume: bool = True,
                     collate_fn: Callable | None = None, backward: bool = True, lr_schedule: str = "one_cycle",
                     after_step: Callable[[nn.Module], None] | None = None, checkpoint_every: int = 1,
                     warmup_fraction: float = 0.0, adam_betas: tuple[float, float] = (0.9, 0.999),
                     adam_epsilon: float = 1e-8, max_grad_norm: float | None = None) -> Path:
    """Train with AdamW and a one-cycle cosine schedule (``lr_schedule="constant"``: ``lr`` throughout, as
    improved-diffusion trains; ``"cosine"``: a linear warm-up over the first ``warmup_fraction`` of the steps, then
    cosine decay to 0, diffusers' ``get_cosine_schedule_with_warmup`` that its example trainers use); ``adam_betas``,
    ``adam_epsilon`` are AdamW's; ``max_grad_norm`` clips the gradient norm before each step (None: no clipping);
    return ``work_dir/final.pth`` (weights, and ``meta`` with the per-epoch ``history`` of
    mean loss and logged numbers). ``after_step(model)`` runs after every optimiser step (an EMA update: keep such
    state inside ``model`` so that checkpoints and resume carry it).

    ``latest.pth`` (model, optimiser, scheduler, epoch, history, every RNG state) is rewritten atomically after
    every ``checkpoint_every``-th epoch (1: each; a model of seconds an epoch, such as the many retrained models of an
    LDS ground truth, spends a quarter of its time writing it, so those recipes write it less often and lose at most
    that many epochs to an interruption); with ``resume`` a later call continues from it exactly, and returns at once
    when ``final.pth`` exists. A damaged ``latest.pth`` is an error that says how to restart
    (:func:`load_training_state`).
    """
    if int(checkpoint_every) < 1:
        raise ValueError(f"train: checkpoint_every must be an epoch count >= 1, got {checkpoint_every}")
    work_dir = Path(work_dir)
    final = work_dir / FINAL
    if resume and final.is_file():
        return final
    model.to(device)
    if not 0.0 <= float(warmup_fraction) < 1.0:
        raise ValueError(f"train: warmup_fraction must be in [0, 1), got {warmup_fraction}")
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay,
                                  betas=(float(adam_betas[0]), float(adam_betas[1])), eps=float(adam_epsilon))
    steps_per_epoch = -(-len(train_set) // batch_size)  # type: ignore[arg-type]  # map-style: has __len__
    scheduler = make_lr_schedule(optimizer, lr_schedule, lr, epochs * steps_per_epoch, warmup_fraction)
    start_epoch, history = 0, []
    if resume and (work_dir / LATEST).is_file():
        state = load_training_state(work_dir / LATEST, ("model", "optimizer", "scheduler", "epoch"))
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, history = int(state["epoch"]), list(state.get("history", []))
        resume_rng(state, work_dir / LATEST)
        log.info("resuming training from epoch %d (%s)", start_epoch, work_dir / LATEST)
    bar = progress(range(start_epoch, epochs), total=epochs, initial=start_epoch, desc=f"train {work_dir.name}",
                   unit="epoch")
    for epoch in bar:
        model.train()
        shuffle = torch.Generator().manual_seed(seed * 100_003 + epoch)
        loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=shuffle, collate_fn=collate_fn)
        sums: dict[str, float] = {}
        count = 0
        for batch in loader:
            optimizer.zero_grad(set_to_none=True)
            output = loss_fn(model, batch)
            logged = dict(output) if isinstance(output, dict) else {"loss": output}
            if backward:
                logged["loss"].backward()
            if max_grad_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), float(max_grad_norm))
            optimizer.step()
            scheduler.step()
            if after_step is not None:
                after_step(model)
            n = len(batch["target"] if "target" in batch else next(iter(batch.values())))  # unlabelled sets too
            for key, value in logged.items():
                sums[key] = sums.get(key, 0.0) + float(value.detach() if torch.is_tensor(value) else value) * n
            count += n
        history.append({"epoch": epoch + 1, **{key: total / max(count, 1) for key, total in sums.items()}})
        bar.set_postfix({key: f"{value:.4f}" for key, value in history[-1].items() if key != "epoch"}, refresh=False)
        if (epoch + 1) % int(checkpoint_every) == 0:
            atomic_torch_save(work_dir / LATEST, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                                  "scheduler": scheduler.state_dict(), "epoch": epoch + 1,
                                                  "history": history, "rng": capture_rng_state()})
    model.eval()
    if history:
        log.info("trained %d epochs (%s): %s", epochs, work_dir,
                 "  ".join(f"{key} {value:.4f}" for key, value in history[-1].items() if key != "epoch"))
    atomic_torch_save(final, {"state_dict": model.state_dict(),
                              "meta": {"epochs": epochs, "seed": seed, "history": history}})
    return final

