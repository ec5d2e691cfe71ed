"""The video-memorization demo's tiny pixel-space text-to-video model: the Bright Ending toy's caption-word tokenizer
and small ``CLIPTextModel`` (:mod:`bench.methods.bright_ending.toy`, reused) with a small one-channel
``UNet3DConditionModel``, trained jointly on CPU on moving-digits clips and saved as a ``TextToVideoSDPipeline``
folder without ``vae`` (:func:`bench.methods.vdm_memorization.video_sampling.load_text_to_video` reads that as
pixel space).

Re-implementation scaffolding, not the paper's models (ModelScope & co. are latent models with billions of
parameters): a stand-in with known memorized prompts so the content / motion measurements have ground truth.

Why this shape: ``UNet3DConditionModel`` always has a cross-attention mid block and a temporal transformer at the
input; its ``CrossAttn*3D`` blocks also run spatial self-attention (no ``only_cross_attention`` switch), which at
the full canvas (24², 576 tokens per frame) dominates a CPU step. So the full-resolution level is a plain
``DownBlock3D`` / ``UpBlock3D`` (convolutions + temporal convolutions) and the cross-attention levels are the
coarser ones (12² and 6² on a 24 canvas). The scheduler is the Bright Ending toy's (SD 1.x DDIM config,
``scaled_linear``, ``clip_sample=True``: pixels live in [-1, 1]).
"""
from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from bench.methods.bright_ending.toy import (ATTENTION_HEADS, SCHEDULER_CONFIG, build_scheduler, build_text_encoder,
                                             write_caption_tokenizer, write_model_index)
from bench.progress import progress

# Measured 2026-12-06 on the loaded 2-core dev machine (other jobs running), batch 16, 8-frame clips, training step
# (forward + backward + AdamW), seconds: canvas 24, channels (16, 32, 32): 3.70 (torch threads 1), 2.24 (threads 2);
# canvas 16, (16, 32): 1.44 (1 thread); canvas 16, (8, 16): 0.81-0.89 (1 thread), 0.64 (2 threads, 6-step runs).
# Half the step is CPU attention (the temporal transformers over size² sequences of F frames and the
# cross-attention levels). At canvas 16, (8, 16), MovingDigitsTrain
# defaults (264 clips), DDIM 15 steps, CFG 1 and 3, 2 videos per prompt, mean over aligned frames of the per-frame
# pixel correlation: nothing memorizes at a 20-40 s budget: 50 steps (40 s) content prompt vs its own duplicated
# clip 0.03, vs any training clip 0.16, ordinary prompts vs any clip 0.18; 400 steps (335 s, loss 0.47 -> 0.044):
# 0.09 / 0.28 / 0.30 (samples still have a grey background: the model's x0 estimate from pure noise is not yet the
# data's black); 1000 steps (844 s, loss 0.035): 0.13 / 0.38 / 0.40 at CFG 1, 0.12 / 0.33 / 0.36 at CFG 3. So
# the content prompts' generations are no closer to their duplicated clip than ordinary ones are to some clip: this
# toy does not memorize within 15 minutes of one core; content memorization needs a longer budget or an easier set
# (fewer ordinary clips, a larger lr), not measured.
BLOCK_OUT_CHANNELS = (8, 16)


def build_video_unet(size: int, cross_attention_dim: int, block_out_channels: Sequence[int] = BLOCK_OUT_CHANNELS
                     ) -> Any:
    """A randomly initialised one-channel pixel-space ``UNet3DConditionModel`` of ``sample_size`` ``size``: a plain
    3-D block at full resolution, cross-attention blocks below (see the module docstring), one layer per block."""
    from diffusers import UNet3DConditionModel

    levels = len(block_out_channels)
    if levels < 2 or size % 2 ** (levels - 1):
        raise ValueError(f"build_video_unet: need at least 2 levels and a size divisible by 2**(levels - 1) = "
                         f"{2 ** (levels - 1)}, got size={size}, block_out_channels={list(block_out_channels)}")
    return UNet3DConditionModel(
        sample_size=size, in_channels=1, out_channels=1, block_out_channels=tuple(block_out_channels),
        layers_per_block=1, down_block_types=("DownBlock3D", *["CrossAttnDownBlock3D"] * (levels - 1)),
        up_block_types=(*["CrossAttnUpBlock3D"] * (levels - 1), "UpBlock3D"),
        cross_attention_dim=cross_attention_dim, attention_head_dim=ATTENTION_HEADS,
        norm_num_groups=min(8, *block_out_channels))


def _clips(train_set: Any) -> tuple[torch.Tensor, list[str]]:
    """Clips (N, 1, F, s, s) in [-1, 1] and captions from items ``{"video": (F, 1, s, s) in [0, 1], "caption"}``."""
    if len(train_set) == 0:
        raise ValueError("train_toy_text_to_video: the training set is empty")
    videos = torch.stack([train_set[i]["video"] for i in range(len(train_set))]).float()
    if videos.ndim != 5 or videos.shape[2] != 1 or videos.shape[3] != videos.shape[4] or videos.shape[1] < 2:
        raise ValueError(f"train_toy_text_to_video: items' video must be (frames >= 2, 1, size, size) in [0, 1], got "
                         f"{tuple(videos.shape[1:])}")
    return videos.permute(0, 2, 1, 3, 4) * 2 - 1, [train_set[i]["caption"] for i in range(len(train_set))]


def _finished(folder: Path, wanted: dict[str, Any]) -> bool:
    """Whether ``folder`` holds a finished model (``toy.json``, written last) trained with ``wanted``; a finished
    folder trained otherwise is a ValueError (never silently reused)."""
    record = folder / "toy.json"
    if not record.is_file():
        return False
    saved = json.loads(record.read_text(encoding="utf-8"))
    differ = {key: (saved.get(key), value) for key, value in wanted.items() if saved.get(key) != value}
    if differ:
        raise ValueError(f"{record}: a finished toy model trained with other settings (saved, requested): {differ}; "
                         "pass another folder or delete this one to retrain")
    return True


def train_toy_text_to_video(train_set: Any, folder: str | Path, device: str | torch.device = "cpu", steps: int = 200,
                            batch_size: int = 16, lr: float = 3e-3, seed: int = 0, caption_dropout: float = 0.1,
                            block_out_channels: Sequence[int] = BLOCK_OUT_CHANNELS,
                            show_progress: bool = True) -> Path:
    """Train the video UNet and the text encoder jointly on ``train_set`` (:class:`MovingDigitsTrain`-style items,
    ``video`` (F, 1, s, s) in [0, 1] mapped to [-1, 1], ``caption``) with the ε-prediction DDPM MSE, and save the
    pixel-space ``TextToVideoSDPipeline`` folder ``folder``; returns it.

    Each step draws ``batch_size`` clips uniformly with replacement, replaces a caption by "" with probability
    ``caption_dropout`` (classifier-free guidance needs an unconditional model), a timestep uniform in 0..999 and
    Gaussian noise, all from one ``torch.Generator(seed)`` on the CPU. AdamW (``lr``, weight decay 0), no
    schedule. Torch's thread count is the caller's.

    ``folder`` gets ``unet/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``, ``model_index.json`` (no
    ``vae``) and, last, ``toy.json`` (settings, loss curve, time per step). Resume: a folder with ``toy.json`` from
    the same settings (steps, batch size, lr, seed, caption dropout, channels, clip count, frames, size and the set's
    ``fingerprint()`` where it has one)
    is returned at once; from other settings it is a ValueError.
    """
    if steps <= 0 or batch_size <= 0 or lr <= 0 or not 0 <= caption_dropout < 1:
        raise ValueError(f"train_toy_text_to_video: need steps > 0, batch_size > 0, lr > 0 and 0 <= caption_dropout "
                         f"< 1, got steps={steps}, batch_size={batch_size}, lr={lr}, caption_dropout={caption_dropout}")
    folder = Path(folder)
    clips, item_captions = _clips(train_set)
    wanted = {"steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed, "caption_dropout": caption_dropout,
              "unet_block_out_channels": list(block_out_channels), "num_clips": len(clips),
              "frames": int(clips.shape[2]), "size": int(clips.shape[-1])}
    fingerprint = getattr(train_set, "fingerprint", None)
    if callable(fingerprint):  # another training set of the same size is not the same model
        wanted["train_fingerprint"] = fingerprint()
    if _finished(folder, wanted):
        return folder
    captions = sorted(set(item_captions))
    position = {caption: k for k, caption in enumerate(captions)}
    caption_of = torch.tensor([position[caption] for caption in item_captions])
    tokenizer = write_caption_tokenizer(captions, folder / "tokenizer")
    torch.manual_seed(seed)  # the initial weights
    text_encoder = build_text_encoder(tokenizer).to(device)
    unet = build_video_unet(clips.shape[-1], text_encoder.config.hidden_size, block_out_channels).to(device)
    scheduler = build_scheduler()
    ids = tokenizer([*captions, ""], padding="max_length", max_length=tokenizer.model_max_length,
                    return_tensors="pt").input_ids.to(device)
    alphas = scheduler.alphas_cumprod.float()
    optimizer = torch.optim.AdamW([*unet.parameters(), *text_encoder.parameters()], lr=lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)
    unet.train()
    text_encoder.train()
    losses, started = [], time.perf_counter()
    for _ in progress(range(steps), desc="toy text-to-video", unit="step", show=show_progress):
        picked = torch.randint(len(clips), (batch_size,), generator=generator)
        dropped = torch.rand(batch_size, generator=generator) < caption_dropout
        timesteps = torch.randint(scheduler.config.num_train_timesteps, (batch_size,), generator=generator)
        noise = torch.randn(batch_size, *clips.shape[1:], generator=generator)
        which = torch.where(dropped, len(captions), caption_of[picked])
        a = alphas[timesteps].view(-1, 1, 1, 1, 1)
        noisy = (a.sqrt() * clips[picked] + (1 - a).sqrt() * noise).to(device)
        states = text_encoder(ids)[0][which.to(device)]  # every distinct caption once, then gathered
        loss = torch.nn.functional.mse_loss(unet(noisy, timesteps.to(device), states).sample, noise.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    seconds = time.perf_counter() - started
    unet.eval()
    text_encoder.eval()
    unet.save_pretrained(str(folder / "unet"))
    text_encoder.save_pretrained(str(folder / "text_encoder"))
    scheduler.save_pretrained(str(folder / "scheduler"))
    write_model_index(folder, "TextToVideoSDPipeline", "UNet3DConditionModel")
    settings = {**wanted, "optimizer": "AdamW(weight_decay=0)", "num_captions": len(captions),
                "text_hidden_size": text_encoder.config.hidden_size, "scheduler": SCHEDULER_CONFIG,
                "train_seconds": round(seconds, 3), "seconds_per_step": round(seconds / steps, 4),
                "torch_threads": torch.get_num_threads(), "device": str(device),
                "loss_first_10": sum(losses[:10]) / len(losses[:10]),
                "loss_last_10": sum(losses[-10:]) / len(losses[-10:]),
                "losses": [round(v, 5) for v in losses],
                "label": "re-implementation scaffolding (demo toy model, not a model the paper studies)"}
    describe = getattr(train_set, "describe", None)
    if callable(describe):
        settings["train_set"] = describe()
    (folder / "toy.json").write_text(json.dumps(settings, indent=1) + "\n", encoding="utf-8")
    return folder
