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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from bench.methods.bright_ending.toy import ATTENTION_HEADS, SCHEDULER_CONFIG, train_and_save_toy

# Measured 2026-12-06 on the loaded 2-core dev machine, one torch thread per run unless said, DDIM 10 steps, 2 videos
# per prompt, whole-clip pixel correlation of a content prompt's videos with its duplicated clip ("own") and with the
# nearest training clip ("any"), Wen magnitude AUC of the planted prompts against the 10 class prompts:
# - the first runs trained the text encoder jointly (lr 3e-3): canvas 16, 264 clips, 50 / 400 / 1000 steps of batch
#   16 gave own 0.03 / 0.09 / 0.13 while ordinary prompts reached 0.18 / 0.30 / 0.40 with some clip. The cause: the
#   encoder collapsed (two captions' states 0.5 apart at norm 36 after 150 steps, 5.8 apart at initialisation) and
#   the UNet's ε was the same for the right, a wrong and the empty caption (to 4 decimals): no conditioning at all.
# - frozen random encoder (``text_encoder_lr=0``, now the default), canvas 16, 6 frames, 84 clips, 150 steps of
#   batch 16: conditioning is learned (magnitude AUC 0.85 / 1.00 for content / motion prompts at lr 1e-2) but own
#   stays 0.05; 400 steps: own 0.04 and the content AUC falls to 0.00 (planted prompts below the class ones).
# - canvas 12, 4 frames, 74 clips, lr 1e-2: 300 steps of batch 16: own 0.22-0.23 (any 0.35); 600 steps of batch 4:
#   the task's GSSCD 0.61 for content prompts vs 0.72 for motion prompts (8 references each), OFS-k 0.98 for both
#   (Farneback on 12-pixel frames does not separate), magnitude AUC 0.75 / 0.85; 1200 steps: own 0.16.
# - only the 4 content clips (32 items), 150-600 steps, channels (8, 16) or (16, 32): own 0.25-0.33 while the same
#   videos correlate 0.42-0.51 with ANOTHER content clip: the model makes training-like clips but does not tie them
#   to their caption. A jointly trained encoder at lr 1e-3 (600 steps of batch 4): own 0.16.
# So within minutes of one core this toy does not copy its duplicated clips, and the demo stays a draft.
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
                            text_encoder_lr: float = 0.0, show_progress: bool = True) -> Path:
    """Train the video UNet (and the text encoder when ``text_encoder_lr`` > 0) on ``train_set``
    (:class:`MovingDigitsTrain`-style items, ``video`` (F, 1, s, s) in [0, 1] mapped to [-1, 1], ``caption``) with
    the ε-prediction DDPM MSE (:func:`~bench.methods.bright_ending.toy.fit_caption_conditioned`: batches, caption
    dropout, seeding), and save the pixel-space ``TextToVideoSDPipeline`` folder ``folder``; returns it.

    The text encoder stays at its random initialisation by default (``text_encoder_lr=0``): trained jointly it
    collapsed to one output for every caption and the UNet ignored the text (the module's measurements). Torch's
    thread count is the caller's.

    ``folder`` gets ``unet/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``, ``model_index.json`` (no
    ``vae``) and, last, ``toy.json`` (settings, loss curve, time per step). Resume: a folder with ``toy.json`` from
    the same settings (steps, batch size, lr, seed, caption dropout, channels, clip count, frames, size and the set's
    ``fingerprint()`` where it has one)
    is returned at once; from other settings it is a ValueError.
    """
    if steps <= 0 or batch_size <= 0 or lr <= 0 or text_encoder_lr < 0 or not 0 <= caption_dropout < 1:
        raise ValueError(f"train_toy_text_to_video: need steps > 0, batch_size > 0, lr > 0, text_encoder_lr >= 0 "
                         f"and 0 <= caption_dropout < 1, got steps={steps}, batch_size={batch_size}, lr={lr}, "
                         f"text_encoder_lr={text_encoder_lr}, caption_dropout={caption_dropout}")
    folder = Path(folder)
    clips, item_captions = _clips(train_set)
    wanted = {"steps": steps, "batch_size": batch_size, "lr": lr, "text_encoder_lr": text_encoder_lr, "seed": seed,
              "caption_dropout": caption_dropout,
              "unet_block_out_channels": list(block_out_channels), "num_clips": len(clips),
              "frames": int(clips.shape[2]), "size": int(clips.shape[-1])}
    fingerprint = getattr(train_set, "fingerprint", None)
    if callable(fingerprint):  # another training set of the same size is not the same model
        wanted["train_fingerprint"] = fingerprint()
    if _finished(folder, wanted):
        return folder
    fitted = train_and_save_toy(
        clips, item_captions, folder, lambda hidden: build_video_unet(clips.shape[-1], hidden, block_out_channels),
        steps=steps, batch_size=batch_size, lr=lr, text_encoder_lr=text_encoder_lr, seed=seed,
        caption_dropout=caption_dropout, device=device, desc="toy text-to-video", pipeline="TextToVideoSDPipeline",
        unet_class="UNet3DConditionModel", show_progress=show_progress)
    losses, seconds, captions, text_encoder = fitted.losses, fitted.seconds, fitted.captions, fitted.text_encoder
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
