"""openai/improved-diffusion's training recipe (Nichol & Dhariwal 2021) as a train stage for our ADM U-Net.

What is reproduced (``improved_diffusion/gaussian_diffusion.py`` ``training_losses``, ``train_util.py``,
``resample.py``), the process math itself living on :class:`RespacedDiffusion`:

- t uniform over all T training steps (``UniformSampler``: every weight 1), x_t = q_sample(x0, t, ε), images in
  [0, 1] mapped to [-1, 1]; the model is fed ``t * 1000 / T`` as a float when ``rescale_timesteps`` (the default);
- loss per sample = mean-squared ε error + (``learn_sigma`` models only) the variational-bound term in bits/dim
  computed on ``[ε.detach() | v]`` (``frozen_out``: the bound trains the variance only), times T / 1000 when
  ``rescale_learned_sigmas`` (``RESCALED_MSE``: "L_hybrid"); the batch loss is its mean;
- AdamW (lr 1e-4, weight decay 0 by default) at a constant learning rate (``lr_anneal_steps`` 0); after every
  step the EMA ``ema <- rate * ema + (1 - rate) * params`` (rate 0.9999), started from the initial weights;
- dropout from the model flags; labels fed as ``y`` to class-conditional flags;
- the result is the EMA weights as a plain state dict named like the original's ``ema_<rate>_<step>.pt``, which
  :func:`load_adm(path, flags=...) <bench.methods.diffusion.adm.load_adm>` loads strictly.

Not reproduced: the ``use_kl`` objective with the loss-second-moment sampler (the ``cifar10_uncond_vlb`` model),
fp16 training, microbatches, multi-GPU; training is epoch-based (:func:`bench.train.train_supervised`: exact resume).
"""
from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.checkpoint import load_checkpoint_file
from bench.io import atomic_torch_save, atomic_write_text
from bench.methods.diffusion.gaussian import RespacedDiffusion, mean_flat, rescaled_timesteps
from bench.train import train_supervised

OBJECTIVE = "hybrid: mse(eps) + vb(frozen eps) * T/1000 (improved-diffusion RESCALED_MSE)"


class WithEMA(nn.Module):
    """The trained network (``model``) and its exponential moving average (``ema``, never trained), one module so
    that the training loop's checkpoints and exact resume carry both; calls go to ``model``."""

    def __init__(self, model: nn.Module, rate: float) -> None:
        super().__init__()
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"ema_rate must lie in [0, 1), got {rate}")
        self.model = model
        self.ema = copy.deepcopy(model).requires_grad_(False)
        self.rate = rate

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.model(*args, **kwargs)

    @torch.no_grad()
    def update(self) -> None:
        """ema <- rate * ema + (1 - rate) * params (improved-diffusion ``update_ema``; buffers are copied)."""
        for target, source in zip(self.ema.parameters(), self.model.parameters(), strict=True):
            target.mul_(self.rate).add_(source, alpha=1 - self.rate)
        for target, source in zip(self.ema.buffers(), self.model.buffers(), strict=True):
            target.copy_(source)


def hybrid_loss(model: nn.Module, diffusion: RespacedDiffusion, x_start: torch.Tensor, index: torch.Tensor,
                noise: torch.Tensor, y: torch.Tensor | None = None, *, rescale_timesteps: bool = True,
                rescale_learned_sigmas: bool = True) -> dict[str, torch.Tensor]:
    """Per-sample ``loss``, ``mse`` and (learned variance) ``vb`` of improved-diffusion's ``training_losses`` for an
    ε-prediction model at process indices ``index`` with the given noise; ``x_start`` in [-1, 1]."""
    x_t = diffusion.q_sample(x_start, index, noise)
    t = diffusion.timestep_map.to(index.device)[index]
    fed = rescaled_timesteps(t, diffusion.num_train_timesteps) if rescale_timesteps else t
    output = model(x_t, fed, y) if y is not None else model(x_t, fed)
    channels = x_start.shape[1]
    terms: dict[str, torch.Tensor] = {}
    if diffusion.variance_type == "learned_range":
        if output.shape[1] != 2 * channels:
            raise ValueError(f"a learned-variance model returns {2 * channels} channels for {channels}-channel "
                             f"images, got {output.shape[1]}")
        eps, values = output.split(channels, dim=1)
        frozen = torch.cat([eps.detach(), values], dim=1)  # the bound trains the variance, not the mean
        vb, _ = diffusion.vb_terms_bpd(frozen, x_start, x_t, index, clip_denoised=False)
        terms["vb"] = vb * (diffusion.num_timesteps / 1000.0) if rescale_learned_sigmas else vb
    else:
        eps = output
    terms["mse"] = mean_flat((noise - eps) ** 2)
    terms["loss"] = terms["mse"] + terms["vb"] if "vb" in terms else terms["mse"]
    return terms


def _training_process(flags: Mapping[str, Any], diffusion: Mapping[str, Any]) -> RespacedDiffusion:
    """The full T-step process of ``diffusion`` (training never respaces), checked against the flags."""
    missing = [key for key in ("steps", "noise_schedule") if key not in diffusion]
    if missing:
        raise ValueError(f"diffusion lacks {missing}: give steps and noise_schedule (e.g. an ADM_PRESETS entry's "
                         "'diffusion': steps=4000, noise_schedule='cosine', learn_sigma=True)")
    if diffusion.get("use_kl") or diffusion.get("predict_xstart"):
        raise ValueError("train_iddpm trains the hybrid objective of an ε-prediction model; diffusion has "
                         f"use_kl={diffusion.get('use_kl')}, predict_xstart={diffusion.get('predict_xstart')} "
                         "(the L_vlb recipe and x0 prediction are not implemented): set both False")
    learn_sigma = bool(diffusion.get("learn_sigma", False))
    expected = flags["in_channels"] * (2 if learn_sigma else 1)
    if flags["out_channels"] != expected:
        raise ValueError(f"flags have out_channels={flags['out_channels']} but diffusion learn_sigma={learn_sigma} "
                         f"needs {expected} for {flags['in_channels']}-channel images: build both from the same "
                         "learn_sigma (iddpm_model_flags(learn_sigma=...))")
    variance = "learned_range" if learn_sigma else ("fixed_small" if diffusion.get("sigma_small") else "fixed_large")
    return RespacedDiffusion.from_schedule(diffusion["noise_schedule"], int(diffusion["steps"]), "", variance)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _jsonable(item) for key, item in value.items()}
    return list(value) if isinstance(value, tuple) else value


def train_iddpm(flags: dict[str, Any], diffusion: dict[str, Any], train_set: Any, work_dir: Path,
                device: torch.device, *, resume: bool = True, image_key: str = "image", label_key: str | None = None,
                ema_rate: float = 0.9999, **train_cfg: Any) -> Path:
    """Train an :class:`~bench.methods.diffusion.adm.ADMUNet` built from ``flags`` (:func:`iddpm_model_flags`) on
    ``train_set[i][image_key]`` (floats in [0, 1]; ``label_key`` gives class labels for class-conditional flags)
    with the improved-diffusion recipe; return ``work_dir/ema_<rate>_<step>.pt`` (EMA weights, a plain state dict)
    with a JSON of the flags, process and settings beside it (its ``flags`` and ``diffusion``, defaults filled in,
    are what ``build_backbone(dict(type="adm", checkpoint=..., flags=..., diffusion=...))`` needs to sample it).
    ``train_cfg`` goes to :func:`bench.train.train_supervised` (``epochs``, ``batch_size``, ``lr`` 1e-4 here,
    ``weight_decay``, ``seed``); the global RNG (t, ε, dropout) is the caller's to seed. A finished file is returned
    at once."""
    from bench.methods.diffusion.adm import build_adm

    work_dir = Path(work_dir)
    if "epochs" not in train_cfg:
        raise ValueError("train_iddpm needs epochs= (and optionally batch_size, lr, weight_decay, seed)")
    settings = {"batch_size": 64, "lr": 1e-4, "weight_decay": 0.0, "seed": 0, **train_cfg}
    # improved-diffusion's defaults, written into the record so that sampling feeds the model as it was trained
    diffusion = {"learn_sigma": False, "rescale_timesteps": True, "rescale_learned_sigmas": True, **diffusion}
    steps = int(settings["epochs"]) * -(-len(train_set) // int(settings["batch_size"]))
    target = work_dir / f"ema_{ema_rate}_{steps:06d}.pt"
    if resume and target.is_file():
        return target
    conditional = flags.get("num_classes") is not None
    if conditional != (label_key is not None):
        raise ValueError(f"flags have num_classes={flags.get('num_classes')} but label_key={label_key!r}: a "
                         "class-conditional model needs label_key (the dataset field with its labels), an "
                         "unconditional one none")
    process = _training_process(flags, diffusion)
    rescale_timesteps = bool(diffusion["rescale_timesteps"])
    rescale_learned_sigmas = bool(diffusion["rescale_learned_sigmas"])
    trainee = WithEMA(build_adm({**flags, "use_fp16": False}), ema_rate)

    def loss_fn(model: nn.Module, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        x_start = batch[image_key].to(device).float() * 2 - 1
        index = torch.randint(0, process.num_timesteps, (len(x_start),), device=device)
        noise = torch.randn_like(x_start)
        y = batch[label_key].to(device).long() if label_key is not None else None
        terms = hybrid_loss(model, process, x_start, index, noise, y, rescale_timesteps=rescale_timesteps,
                            rescale_learned_sigmas=rescale_learned_sigmas)
        return {name: value.mean() for name, value in terms.items()}

    final = train_supervised(trainee, train_set, loss_fn, work_dir, device, resume=resume, lr_schedule="constant",
                             after_step=lambda model: model.update(), **settings)
    checkpoint = load_checkpoint_file(final)
    ema = {key.removeprefix("ema."): value for key, value in checkpoint["state_dict"].items()
           if key.startswith("ema.")}
    history = checkpoint.get("meta", {}).get("history", [])
    record = {"file": target.name, "flags": _jsonable(flags), "diffusion": _jsonable(diffusion),
              "objective": OBJECTIVE, "training_process": {"steps": process.num_timesteps, "respacing": "",
                                                           "variance_type": process.variance_type},
              "train": {**settings, "ema_rate": ema_rate, "optimizer_steps": steps, "lr_schedule": "constant",
                        "optimizer": "AdamW", "image_key": image_key, "label_key": label_key},
              "checkpoint": str(final), "last_epoch": history[-1] if history else None}
    atomic_write_text(target.with_suffix(".json"), json.dumps(record, indent=2) + "\n")
    atomic_torch_save(target, ema)  # last: the weights file marks a finished training
    return target
