"""DDPM training at demo scale: the ε-prediction loss of Ho et al. on a small diffusers UNet2DModel.

The trained model is written as a diffusers pipeline folder (``model/`` with ``model_index.json``, ``unet/`` and
``scheduler/``), so evaluation reads it through the same loader as a downloaded ``google/ddpm-*`` folder.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from bench.checkpoint import load_checkpoint_file
from bench.io import atomic_write_text
from bench.train import train_supervised

MODEL_DIR = "model"


def ddpm_loss(unet: torch.nn.Module, images: torch.Tensor, alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """E_{t, ε} ||ε − ε_θ(√ᾱ_t x0 + √(1−ᾱ_t) ε, t)||² for images in [0, 1] (mapped to [−1, 1]); t and ε come from
    the global RNG, which the train stage seeds."""
    x0 = images * 2 - 1
    t = torch.randint(0, len(alphas_cumprod), (len(x0),), device=x0.device)
    noise = torch.randn_like(x0)
    a = alphas_cumprod.to(x0.device)[t].view(-1, 1, 1, 1)
    noisy = a.sqrt() * x0 + (1 - a).sqrt() * noise
    return F.mse_loss(unet(noisy, t).sample, noise)


def flip_at_random(images: torch.Tensor) -> torch.Tensor:
    """Each image of [B, C, H, W] mirrored left-right with probability 1/2 (torchvision's RandomHorizontalFlip per
    sample, as D-TRAK's ``--random_flip``), drawn from the global torch RNG that the train stage seeds and resumes."""
    flip = torch.rand(len(images)) < 0.5
    return torch.where(flip.to(images.device).view(-1, 1, 1, 1), images.flip(-1), images)


def set_dropout(module: torch.nn.Module, p: float) -> None:
    """Set ``p`` of every ``torch.nn.Dropout`` in ``module``: D-TRAK's train_unconditional.py does this after
    building the UNet (0.1), which reaches the attention output dropout that UNet2DModel's ``dropout`` leaves at 0."""
    if not 0.0 <= float(p) < 1.0:
        raise ValueError(f"train_ddpm: dropout must be in [0, 1), got {p}")
    for child in module.modules():
        if isinstance(child, torch.nn.Dropout):
            child.p = float(p)


def train_ddpm(unet_config: dict[str, Any], scheduler_config: dict[str, Any], train_set: Any, work_dir: Path,
               device: torch.device, *, resume: bool = True, image_key: str = "image", random_flip: bool = False,
               dropout: float | None = None, **train_cfg: Any) -> Path:
    """Train a UNet2DModel on ``train_set[i][image_key]`` (floats in [0, 1]) with ``bench.train.train_supervised``
    (AdamW, one-cycle schedule unless the recipe names another, atomic per-epoch checkpoints, exact resume of the
    loop); return the pipeline folder. A finished folder is returned at once. ``random_flip`` mirrors each training
    image with probability 1/2 per step; ``dropout`` sets every dropout of the UNet (None: the config's)."""
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

    work_dir = Path(work_dir)
    folder = work_dir / MODEL_DIR
    if resume and (folder / "model_index.json").is_file():
        return folder
    unet = UNet2DModel(**unet_config)
    if dropout is not None:
        set_dropout(unet, dropout)
    scheduler = DDPMScheduler(**scheduler_config)

    def loss_fn(net: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        images = batch[image_key].to(device).float()
        return ddpm_loss(net, flip_at_random(images) if random_flip else images, scheduler.alphas_cumprod)

    final = train_supervised(unet, train_set, loss_fn, work_dir, device, resume=resume, **train_cfg)
    unet.load_state_dict(load_checkpoint_file(final)["state_dict"])
    tmp = folder.with_name(MODEL_DIR + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    DDPMPipeline(unet=unet.cpu(), scheduler=scheduler).save_pretrained(tmp)
    recipe = {"checkpoint": str(final), **train_cfg, **({"random_flip": True} if random_flip else {}),
              **({"dropout": dropout} if dropout is not None else {})}  # as given: the counterfactual compares them
    atomic_write_text(tmp / "training.json", json.dumps(recipe, indent=2) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.replace(folder)  # the folder appears whole or not at all
    return folder
