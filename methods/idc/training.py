"""IDC training as the official ``BaseRunner.train`` runs it, with atomic per-epoch checkpoints and exact resume.

Per batch: ``global_step += 1``; the loss (``BrownianBridge.losses``: L_intra + L_inter) is back-propagated; every
``accumulate_grad_batches`` steps Adam steps (``lr``, betas (``beta1``, 0.999)) and, with ReduceLROnPlateau,
the scheduler steps on that batch's loss; every ``ema.interval * accumulate_grad_batches`` steps the EMA updates,
copying the weights before ``ema.start_step`` and decaying after. StepLR steps once per epoch. The loader drops the
last partial batch (``drop_last=True``) and shuffles with a generator seeded by (seed, epoch); the timesteps,
noise and augmentation of epoch e come from the global RNG seeded by (seed, e), and the checkpoint stores every RNG
state besides (python's and numpy's, which a dataset's transforms may draw from), so a run resumed from epoch e
continues exactly (a gradient still accumulating at the epoch boundary is saved with the checkpoint).
"""
from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torchvision.transforms.functional as TF
from torch.utils.data import DataLoader

from bench.io import atomic_torch_save, atomic_write_text
from bench.methods.idc.bridge import BrownianBridge
from bench.progress import progress
from bench.seeding import capture_rng_state
from bench.train import load_training_state, resume_rng

log = logging.getLogger("bench.idc")
LATEST = "latest.pth"
MODEL_FILE = "idc_model.pth"  # the authors' checkpoint layout: {"epoch", "step", "model", "ema"}
AUGMENTATIONS = ("none", "flip_rotate")


class ParameterEMA:
    """The official EMA (``runners/base/EMA.py``): a shadow copy of each trainable parameter, by name."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}

    @torch.no_grad()
    def update(self, model: torch.nn.Module, with_decay: bool) -> None:
        for name, param in model.named_parameters():
            if param.requires_grad:
                new = (1.0 - self.decay) * param + self.decay * self.shadow[name] if with_decay else param
                self.shadow[name] = new.detach().clone()


def flip_rotate(images: torch.Tensor, degrees: float = 15.0) -> torch.Tensor:
    """CIFAR-100's training augmentation, per image: horizontal flip with p = 0.5, then a rotation by an angle
    uniform in [-degrees, degrees] (nearest neighbour, zero fill: torchvision's ``RandomRotation`` defaults)."""
    out = []
    for image in images:
        if torch.rand(1).item() < 0.5:
            image = TF.hflip(image)
        angle = float(torch.empty(1).uniform_(-degrees, degrees).item())
        out.append(TF.rotate(image, angle))
    return torch.stack(out)


def _scheduler(optimizer: torch.optim.Optimizer, spec: dict[str, Any] | None) -> Any:
    if spec is None:
        return None
    spec = dict(spec)
    kind = spec.pop("type")
    if kind == "ReduceLROnPlateau":  # the official: mode "min", relative threshold
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", threshold_mode="rel", **spec)
    if kind == "StepLR":
        return torch.optim.lr_scheduler.StepLR(optimizer, **spec)
    raise ValueError(f"IDC lr_scheduler type must be 'ReduceLROnPlateau' or 'StepLR', got {kind!r}")


def train_idc(model: BrownianBridge, label_images: torch.Tensor, train_set: Any, work_dir: Path,
              device: torch.device, prepare: Callable[[torch.Tensor], torch.Tensor], *, epochs: int,
              batch_size: int = 64, lr: float = 1e-4, beta1: float = 0.9, weight_decay: float = 0.0,
              accumulate_grad_batches: int = 2, ema: dict[str, Any] | None = None,
              lr_scheduler: dict[str, Any] | None = None, augment: str = "none", seed: int = 0,
              resume: bool = True) -> Path:
    """Train ``model`` on ``train_set`` items ``{"image", "target"}`` (``prepare`` maps images to the model's
    [0, 1] input); return ``work_dir/idc_model.pth`` in the authors' layout. ``ema``: ``dict(decay, interval,
    start_step)`` or None. A finished file is returned at once. Progress is a bar over epochs and one log line at
    the end; the per-epoch losses go to ``training_log.json``."""
    if augment not in AUGMENTATIONS:
        raise ValueError(f"IDC augment must be one of {AUGMENTATIONS}, got {augment!r}")
    work_dir = Path(work_dir)
    final = work_dir / MODEL_FILE
    if resume and final.is_file():
        return final
    model.to(device).train()
    labels = label_images.to(device)
    optimizer = torch.optim.Adam(model.denoise_fn.parameters(), lr=lr, betas=(beta1, 0.999), weight_decay=weight_decay)
    scheduler = _scheduler(optimizer, lr_scheduler)
    averager = ParameterEMA(model, ema["decay"]) if ema else None
    start_epoch, step, history = 0, 0, []
    if resume and (work_dir / LATEST).is_file():
        state = load_training_state(work_dir / LATEST, ("model", "optimizer", "scheduler", "ema", "pending_grads",
                                                        "epoch", "step", "history"))
        resume_rng(state, work_dir / LATEST)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        if averager is not None:
            averager.shadow = {k: v.to(device) for k, v in state["ema"].items()}
        for name, param in model.named_parameters():
            grad = state["pending_grads"].get(name)
            param.grad = None if grad is None else grad.to(device)
        start_epoch, step, history = int(state["epoch"]), int(state["step"]), list(state["history"])
    bar = progress(range(start_epoch, epochs), desc="IDC train", unit="epoch")
    for epoch in bar:
        model.train()
        torch.manual_seed(seed * 100_003 + epoch)
        shuffle = torch.Generator().manual_seed(seed * 100_003 + epoch)
        loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, drop_last=True, generator=shuffle)
        sums = {"loss": 0.0, "intra": 0.0, "inter": 0.0}
        batches = 0
        for batch in loader:
            step += 1
            images = prepare(batch["image"].to(device))
            if augment == "flip_rotate":
                images = flip_rotate(images)
            target = batch["target"].to(device).long()
            x0 = BrownianBridge.to_model_range(labels[target])
            terms = model.losses(x0, BrownianBridge.to_model_range(images), target, labels)
            terms["loss"].backward()
            if step % accumulate_grad_batches == 0:
                optimizer.step()
                optimizer.zero_grad()
                if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                    scheduler.step(float(terms["loss"].detach()))
            if averager is not None and step % (ema["interval"] * accumulate_grad_batches) == 0:
                averager.update(model, with_decay=step >= ema["start_step"])
            for key in sums:
                sums[key] += float(terms[key].detach())
            batches += 1
        if isinstance(scheduler, torch.optim.lr_scheduler.StepLR):
            scheduler.step()
        record = {"epoch": epoch + 1, "step": step, "lr": optimizer.param_groups[0]["lr"],
                  **{k: v / max(batches, 1) for k, v in sums.items()}}
        if not all(math.isfinite(v) for v in record.values()):
            raise FloatingPointError(f"IDC training diverged at epoch {epoch + 1}: {record}")
        history.append(record)
        bar.set_postfix(loss=f"{record['loss']:.4f}", intra=f"{record['intra']:.4f}", inter=f"{record['inter']:.4f}")
        pending = {n: p.grad.detach().cpu() for n, p in model.named_parameters() if p.grad is not None}
        atomic_torch_save(work_dir / LATEST, {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "ema": averager.shadow if averager is not None else None, "pending_grads": pending,
            "epoch": epoch + 1, "step": step, "history": history, "rng": capture_rng_state()})
    model.eval()
    result: dict[str, Any] = {"epoch": epochs, "step": step, "model": model.state_dict()}
    if averager is not None:
        result["ema"] = averager.shadow
    atomic_write_text(work_dir / "training_log.json", json.dumps(history, indent=2) + "\n")
    atomic_torch_save(final, result)
    last = history[-1] if history else {}
    log.info("IDC trained epochs %d-%d of %d%s: loss %.4f, intra %.4f, inter %.4f (%s)", start_epoch + 1, epochs,
             epochs, " (resumed)" if start_epoch else "", last.get("loss", math.nan), last.get("intra", math.nan),
             last.get("inter", math.nan), final)
    return final
