"""A small supervised training loop with atomic per-epoch checkpoints and exact resume.

Used by method adapters whose ``fit`` is plain minibatch training. Shuffling draws from a generator seeded
by (seed, epoch), so a run resumed from epoch k sees the same batches as an uninterrupted one.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from bench.checkpoint import load_checkpoint_file
from bench.io import atomic_torch_save

log = logging.getLogger("bench.train")
LATEST = "latest.pth"
FINAL = "final.pth"


def train_supervised(model: nn.Module, train_set: Dataset, loss_fn: Callable[[nn.Module, dict], torch.Tensor],
                     work_dir: Path, device: torch.device, *, epochs: int, batch_size: int = 64, lr: float = 1e-3,
                     weight_decay: float = 0.0, seed: int = 0, resume: bool = True,
                     collate_fn: Callable | None = None) -> Path:
    """Train with AdamW and a cosine schedule; return ``work_dir/final.pth`` (weights only).

    ``latest.pth`` (model, optimiser, scheduler, epoch) is rewritten atomically after every epoch; with
    ``resume`` a later call continues from it, and returns at once when ``final.pth`` exists.
    """
    work_dir = Path(work_dir)
    final = work_dir / FINAL
    if resume and final.is_file():
        return final
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps_per_epoch = -(-len(train_set) // batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * steps_per_epoch,
                                                    pct_start=0.15)
    start_epoch = 0
    if resume and (work_dir / LATEST).is_file():
        state = load_checkpoint_file(work_dir / LATEST)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch = int(state["epoch"])
        log.info("resuming training from epoch %d (%s)", start_epoch, work_dir / LATEST)
    for epoch in range(start_epoch, epochs):
        model.train()
        shuffle = torch.Generator().manual_seed(seed * 100_003 + epoch)
        loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=shuffle, collate_fn=collate_fn)
        total, count = 0.0, 0
        for batch in loader:
            loss = loss_fn(model, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += float(loss.detach()) * len(batch["target"])
            count += len(batch["target"])
        log.info("epoch %d/%d  train loss %.4f", epoch + 1, epochs, total / max(count, 1))
        atomic_torch_save(work_dir / LATEST, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                              "scheduler": scheduler.state_dict(), "epoch": epoch + 1})
    model.eval()
    atomic_torch_save(final, {"state_dict": model.state_dict(), "meta": {"epochs": epochs, "seed": seed}})
    return final

