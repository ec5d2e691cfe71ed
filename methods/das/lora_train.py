"""The LoRA fine-tune D-TRAK attributes on ArtBench: only the rank-``r`` adapters of a local Stable Diffusion folder's
UNet (:func:`~bench.methods.das.latent_model.add_lora`) trained on a dataset's images and captions, seeded and
resumable per epoch, saved where :func:`~bench.methods.das.latent_model.load_lora_weights` reads them.

The recipe (:data:`LORA_RECIPE`) is D-TRAK's ``ArtBench2/train_text_to_image_lora.py`` as ``ArtBench2/scripts/
run_train.sh`` (and ``run_lds_val_sub.sh`` for the retrained LoRAs) call it: AdamW (β 0.9 / 0.999, ε 1e-8, weight
decay 1e-6) at lr 3e-4 with diffusers' cosine schedule after a linear warm-up over the first 10% of the steps, batch
64, 100 epochs, gradients clipped to norm 1, fp16 mixed precision; each step VAE-encodes the batch to
``latent_dist.sample() · scaling_factor`` (a fresh posterior draw), flips images at random, replaces a caption by the
empty prompt with probability 0.1, draws ``t`` uniformly from the scheduler's timesteps and ε ~ N(0, I), and takes
the mean ε-MSE (v-MSE for a v-prediction scheduler); the script also sets every attention-layer dropout to 0.1.
Differences, on purpose: fp16 is ``torch.autocast`` on CUDA with fp32 master weights and a gradient scaler (the
script casts the frozen weights to fp16 under accelerate), and CPU always trains in fp32; the random draws come from
torch's RNGs (the script's caption dropout uses numpy's), so the stream of draws is ours, seeded by ``seed``; batch
order is drawn from a generator seeded by (seed, epoch) as :func:`bench.train.train_supervised` does, so a resumed
run sees the batches an uninterrupted one would.

``latest.pth`` (adapter weights, optimiser, schedule, gradient scaler, epoch, history, every RNG state) is rewritten
atomically after each epoch; a later call resumes from it exactly. The final adapters go to ``<work_dir>/lora/
pytorch_lora_weights.safetensors`` (diffusers' ``save_lora_weights`` layout) with ``training.json`` beside them.
"""
from __future__ import annotations

import json
import logging
import math
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from bench.io import atomic_torch_save, atomic_write_text
from bench.suggest import suggest

log = logging.getLogger("bench.methods.das.lora_train")

LORA_DIR = "lora"  # the final adapters, under the training's work_dir
LATEST = "latest.pth"
#: D-TRAK's ArtBench recipe (module docstring); a train section overrides any of these keys
LORA_RECIPE: dict[str, Any] = {
    "epochs": 100, "batch_size": 64, "lr": 3e-4, "lr_schedule": "cosine", "warmup_fraction": 0.1,
    "weight_decay": 1e-6, "adam_betas": (0.9, 0.999), "adam_epsilon": 1e-8, "max_grad_norm": 1.0,
    "caption_dropout": 0.1, "attention_dropout": 0.1, "random_flip": True, "precision": "fp16", "seed": 0,
}
LR_SCHEDULES = ("cosine", "constant")


def lora_recipe(train_cfg: Mapping[str, Any], where: str = "train") -> dict[str, Any]:
    """:data:`LORA_RECIPE` with ``train_cfg``'s values; an unknown key or a value out of range is a ValueError that
    names the key, what it takes and the closest known key."""
    from bench.precision import check_precision

    unknown = sorted(set(train_cfg) - set(LORA_RECIPE))
    if unknown:
        raise ValueError(f"{where}: unknown LoRA training setting(s) {unknown}; the settings are "
                         f"{', '.join(LORA_RECIPE)}." + suggest(unknown[0], tuple(LORA_RECIPE)))
    recipe = {**LORA_RECIPE, **dict(train_cfg)}
    for key in ("epochs", "batch_size"):
        if isinstance(recipe[key], bool) or not isinstance(recipe[key], int) or recipe[key] < 1:
            raise ValueError(f"{where}.{key} must be a positive integer, got {recipe[key]!r}")
    for key in ("caption_dropout", "attention_dropout", "warmup_fraction"):
        if not 0 <= float(recipe[key]) < 1:
            raise ValueError(f"{where}.{key} must be in [0, 1), got {recipe[key]!r}")
    if recipe["lr_schedule"] not in LR_SCHEDULES:
        raise ValueError(f"{where}.lr_schedule must be one of {list(LR_SCHEDULES)}, got {recipe['lr_schedule']!r}."
                         + suggest(str(recipe["lr_schedule"]), LR_SCHEDULES))
    check_precision(recipe["precision"], f"{where}.precision")
    recipe["adam_betas"] = [float(b) for b in recipe["adam_betas"]]
    return recipe


def train_lora(sd_folder: str | Path, train_set: Any, work_dir: str | Path, device: torch.device, *,
               resume: bool = True, lora_rank: int = 128, image_key: str = "image", caption_key: str = "caption",
               **train_cfg: Any) -> Path:
    """Fine-tune LoRA adapters of rank ``lora_rank`` of the Stable Diffusion folder ``sd_folder`` on ``train_set``
    (items: ``image_key`` float [3, H, W] in [0, 1], ``caption_key`` the prompt) by :data:`LORA_RECIPE` updated with
    ``train_cfg``; return the folder of the saved adapters (at once when it exists and ``resume``)."""
    from bench.methods.das.latent_model import load_latent_model

    recipe = lora_recipe(train_cfg)
    folder = Path(work_dir) / LORA_DIR
    if resume and (folder / "training.json").is_file():
        return folder
    model = load_latent_model(sd_folder, lora_rank=lora_rank, lora_seed=int(recipe["seed"]))
    return fit_lora(model, train_set, work_dir, device, resume=resume, image_key=image_key, caption_key=caption_key,
                    **recipe)


def _set_attention_dropout(unet: torch.nn.Module, p: float) -> None:
    """The script's ``m.p = 0.1`` for every ``nn.Dropout`` whose module name contains ``attn``."""
    for name, module in unet.named_modules():
        if "attn" in name and isinstance(module, torch.nn.Dropout):
            module.p = p


def _lora_parameters(unet: torch.nn.Module) -> list[torch.nn.Parameter]:
    found = [p for name, p in unet.named_parameters() if "lora_" in name and p.requires_grad]
    if not found:
        raise ValueError("fit_lora: the UNet has no trainable LoRA parameters; prepare it with "
                         "bench.methods.das.latent_model.add_lora (load_latent_model does)")
    return found


def _caption_embedder(model: Any, device: torch.device) -> Callable[[list[str]], torch.Tensor]:
    """``embed(captions)`` [B, L, D]: the text encoder's last hidden state, computed once per distinct caption (the
    encoder is frozen; ArtBench has one prompt per style plus the empty one). Each caption is encoded alone: the
    rounding of a batched forward depends on its companions, and a resumed run meets the captions in another order."""
    cache: dict[str, torch.Tensor] = {}

    def embed(captions: list[str]) -> torch.Tensor:
        for caption in sorted(set(captions) - set(cache)):
            ids = model.tokenizer([caption], max_length=model.tokenizer.model_max_length, padding="max_length",
                                  truncation=True, return_tensors="pt").input_ids.to(device)
            with torch.no_grad():
                cache[caption] = model.text_encoder(ids)[0][0].float()
        return torch.stack([cache[c] for c in captions])
    return embed


def fit_lora(model: Any, train_set: Any, work_dir: str | Path, device: torch.device, *, resume: bool = True,
             image_key: str = "image", caption_key: str = "caption", **recipe: Any) -> Path:
    """Train ``model``'s LoRA adapters in place (a :class:`~bench.methods.das.latent_model.LatentModel`; its base
    weights stay as they are) by ``recipe`` (:func:`lora_recipe`'s keys), resuming from ``<work_dir>/latest.pth``;
    save them to ``<work_dir>/lora`` and return that folder. A finished folder (with ``resume``) is loaded into
    ``model`` instead of training again."""
    from diffusers.optimization import get_constant_schedule_with_warmup, get_cosine_schedule_with_warmup
    from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict

    from bench.methods.das.latent_model import load_lora_weights
    from bench.precision import autocast
    from bench.progress import progress
    from bench.seeding import capture_rng_state
    from bench.train import load_training_state, resume_rng

    recipe = lora_recipe(recipe, "fit_lora")
    work_dir = Path(work_dir)
    folder = work_dir / LORA_DIR
    unet, vae, scheduler = model.unet, model.vae, model.scheduler
    if resume and (folder / "training.json").is_file():
        load_lora_weights(unet, folder)
        unet.to(device).eval()
        return folder
    if len(train_set) == 0:
        raise ValueError("fit_lora: the training set is empty")
    first = train_set[0]
    if image_key not in first or caption_key not in first:
        raise ValueError(f"fit_lora: the training items must carry {image_key!r} (float [3, H, W] in [0, 1]) and "
                         f"{caption_key!r} (the prompt); they hold {sorted(first)}")
    for part in (unet, vae, model.text_encoder):
        part.to(device)
    vae.eval()
    model.text_encoder.eval()
    _set_attention_dropout(unet, float(recipe["attention_dropout"]))
    parameters = _lora_parameters(unet)
    epochs, batch_size = int(recipe["epochs"]), int(recipe["batch_size"])
    steps = epochs * math.ceil(len(train_set) / batch_size)
    warmup = math.ceil(steps * float(recipe["warmup_fraction"]))
    optimizer = torch.optim.AdamW(parameters, lr=float(recipe["lr"]), betas=tuple(recipe["adam_betas"]),
                                  eps=float(recipe["adam_epsilon"]), weight_decay=float(recipe["weight_decay"]))
    schedule = (get_cosine_schedule_with_warmup(optimizer, warmup, steps) if recipe["lr_schedule"] == "cosine"
                else get_constant_schedule_with_warmup(optimizer, warmup))
    precision = recipe["precision"] if device.type == "cuda" else "fp32"  # CPU trains in fp32
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    start, history = 0, []
    if resume and (work_dir / LATEST).is_file():
        state = load_training_state(work_dir / LATEST, ("lora", "optimizer", "scheduler", "scaler", "epoch"))
        set_peft_model_state_dict(unet, state["lora"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        start, history = int(state["epoch"]), list(state.get("history", []))
        resume_rng(state, work_dir / LATEST)
        log.info("resuming the LoRA training from epoch %d (%s)", start, work_dir / LATEST)
    embed = _caption_embedder(model, device)
    total_t = int(scheduler.config.num_train_timesteps)
    scale = float(vae.config.scaling_factor)
    seed = int(recipe["seed"])
    for epoch in progress(range(start, epochs), total=epochs, initial=start, desc=f"lora {work_dir.name}",
                          unit="epoch"):
        unet.train()
        order = torch.Generator().manual_seed(seed * 100_003 + epoch)
        total, count = 0.0, 0
        for batch in DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=order):
            images = batch[image_key].to(device).float()
            captions = list(batch[caption_key])
            if recipe["random_flip"]:
                flip = (torch.rand(len(images)) < 0.5).to(device)
                images = torch.where(flip.view(-1, 1, 1, 1), images.flip(-1), images)
            dropped = torch.rand(len(captions)) < float(recipe["caption_dropout"])
            captions = ["" if drop else caption for caption, drop in zip(captions, dropped.tolist(), strict=True)]
            with torch.no_grad(), autocast(device, precision):
                latents = vae.encode(images * 2 - 1).latent_dist.sample().float() * scale
            states = embed(captions)
            noise = torch.randn_like(latents)
            t = torch.randint(0, total_t, (len(latents),), device=device)
            noisy = scheduler.add_noise(latents, noise, t)
            target = noise if scheduler.config.prediction_type == "epsilon" else \
                scheduler.get_velocity(latents, noise, t)
            with autocast(device, precision):
                prediction = unet(noisy, t, encoder_hidden_states=states).sample
            loss = F.mse_loss(prediction.float(), target.float())
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(parameters, float(recipe["max_grad_norm"]))
            scaler.step(optimizer)
            scaler.update()
            schedule.step()
            total += float(loss.detach()) * len(latents)
            count += len(latents)
        history.append({"epoch": epoch + 1, "loss": total / max(count, 1), "lr": schedule.get_last_lr()[0]})
        lora = {k: v.detach().cpu().clone() for k, v in get_peft_model_state_dict(unet).items()}
        atomic_torch_save(work_dir / LATEST, {"lora": lora, "optimizer": optimizer.state_dict(),
                                              "scheduler": schedule.state_dict(), "scaler": scaler.state_dict(),
                                              "epoch": epoch + 1, "history": history, "rng": capture_rng_state()})
    unet.eval()
    _save(unet, folder, {"recipe": recipe, "precision_used": precision, "steps": steps, "warmup_steps": warmup,
                         "num_train": len(train_set), "lora_rank": int(model.facts.get("lora_rank", 0)),
                         "base_model": {k: model.facts.get(k) for k in ("folder", "sha256")}, "history": history})
    return folder


def _save(unet: torch.nn.Module, folder: Path, facts: dict[str, Any]) -> None:
    """The adapters as diffusers' ``pytorch_lora_weights.safetensors`` plus ``training.json``, written to a sibling
    folder and renamed, so the folder appears whole or not at all."""
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    state = {k: v.detach().cpu().contiguous() for k, v in get_peft_model_state_dict(unet).items()}
    StableDiffusionPipeline.save_lora_weights(tmp, unet_lora_layers=convert_state_dict_to_diffusers(state))
    atomic_write_text(tmp / "training.json", json.dumps(facts, indent=2, default=str) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.replace(folder)
