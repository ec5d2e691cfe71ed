"""The video-memorization demo's tiny pixel-space text-to-video model: the Bright Ending toy's caption-word tokenizer
and ``CLIPTextModel`` (:mod:`bench.methods.bright_ending.toy`, reused) as a frozen caption encoder whose states
tell captions apart (:func:`build_caption_encoder`), with a small one-channel ``UNet3DConditionModel``, trained on
CPU on moving-digits clips and saved as a ``TextToVideoSDPipeline`` folder without ``vae``
(:func:`bench.methods.vdm_memorization.video_sampling.load_text_to_video` reads that as pixel space).

Re-implementation scaffolding, not the paper's models (ModelScope & co. are latent models with billions of
parameters): a stand-in with known memorized prompts so the content / motion measurements have ground truth.

Why this shape: ``UNet3DConditionModel`` always has a cross-attention mid block and a temporal transformer at the
input; its ``CrossAttn*3D`` blocks also run spatial self-attention (no ``only_cross_attention`` switch), which at
a large canvas dominates a CPU step. So the full-resolution level is a plain ``DownBlock3D`` / ``UpBlock3D``
(convolutions + temporal convolutions) and the cross-attention levels are the coarser ones (6² and 3² on the demo's
12 canvas). The scheduler is the Bright Ending toy's (SD 1.x DDIM config, ``scaled_linear``, ``clip_sample=True``:
pixels live in [-1, 1]).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from bench.methods.bright_ending.toy import ATTENTION_HEADS, SCHEDULER_CONFIG, train_and_save_toy

# Measured 2026-12-06 on the loaded 2-core dev machine (load 4-7), one torch thread per run, DDIM 10 steps, CFG 3,
# 2 videos per prompt, canvas 12, 4 frames, 74 clips (4 content clips x 8, 4 motion trajectories x 8 digits, 10
# ordinary). "own": pixel correlation of a content prompt's videos with its duplicated clip; "other": with the best
# other content clip; "baseline": the 10 class prompts' videos with the same 4 clips (mean; best of 4 in brackets).
# - the previous toy (2 levels (8, 16), CLIP-initialised frozen encoder, 16-token context): 300 steps of batch 4 own
#   0.14 / other 0.17 / baseline 0.12 (0.20); 80 steps of batch 32: 0.19 / 0.21 / 0.17 (0.25). Its ε barely depended
#   on the caption (the 80 x 32 run): the x0 error of a content clip noised to t = 900 was the same (within 0.02)
#   under its own, a wrong or the empty caption. Over a 16-token context mostly of shared BOS / EOS states the
#   captions' frozen states had cosine 0.85 on average (0.97 at most): a caption was nearly invisible to the
#   cross-attention.
# - the caption encoder below (context = the longest caption, no transformer layers, token embeddings of std 1;
#   states' mean cosine 0.47) with 3 levels (8, 16, 16), 80 / 120 steps of batch 32: own 0.17 / 0.22, other 0.19 /
#   0.22 (no binding yet); 200 steps of batch 32: own 0.60 / other 0.17 / baseline 0.13 (0.19), each content
#   prompt's nearest training clip is its own; motion prompts' videos reach OFS-k 0.93 with their trajectory's clips
#   against 0.66 for the class prompts' videos (Farneback, k 3). Ablations at 200 steps of batch 32 are in
#   configs/vdm_memorization/README.md. A v-prediction target (80 steps) did not bind either (own 0.31 / other 0.30).
# Earlier (same day): a caption encoder trained jointly collapsed to one output for every caption (the UNet's ε
# then equal for the right, a wrong and the empty caption to 4 decimals).
# The full demo from scratch took 2 min 2 s wall at a load of about 1.5, 93 s of it the 200 training steps (0.46 s
# per step); 120 steps did not bind; the quick budget (about 20 s of one idle core) holds about 40 such steps, so the
# quick profile trains the frames-as-channels toy instead (ARCHITECTURES; binds in 200 steps at a quarter of the
# cost per step).
BLOCK_OUT_CHANNELS = (8, 16, 16)
# The quick demo's toy: frames as the channels of a 2-D UNet (:mod:`.frames_as_channels`), about 4 times cheaper per
# training step than the UNet3D above on CPU; measurements in configs/vdm_memorization/README.md.
ARCHITECTURES = ("unet3d", "frames_as_channels")
FRAMES_AS_CHANNELS_BLOCK_OUT_CHANNELS = (16, 32, 32)
TOKEN_EMBEDDING_STD = 1.0  # CLIP initialises 0.02, the same scale as the position embeddings: captions then blur
TEXT_LAYERS = 0  # no mixing: each position's state is its own token's (BOS / EOS / a caption word)


def caption_context(captions: Sequence[str]) -> int:
    """The tokenizer context for ``captions``: the longest caption's words plus BOS and EOS (the caption-word
    tokenizer makes each word one token), so few positions hold the padding every caption shares."""
    return max(len(caption.split()) for caption in captions) + 2


def build_caption_encoder(tokenizer: Any) -> Any:
    """The frozen caption encoder: a ``CLIPTextModel`` with no transformer layers (a state is the final layer norm
    of its token's plus its position's embedding) and token embeddings drawn with std ``TOKEN_EMBEDDING_STD``, so
    different words give nearly orthogonal states (module measurements: with CLIP's initialisation the UNet never
    learned to read the caption)."""
    from bench.methods.bright_ending.toy import build_text_encoder

    encoder = build_text_encoder(tokenizer, layers=TEXT_LAYERS)
    torch.nn.init.normal_(encoder.get_input_embeddings().weight, std=TOKEN_EMBEDDING_STD)
    return encoder


def build_video_unet(size: int, cross_attention_dim: int, block_out_channels: Sequence[int] = BLOCK_OUT_CHANNELS
                     ) -> Any:
    """A randomly initialised one-channel pixel-space ``UNet3DConditionModel`` of ``sample_size`` ``size``: a plain
    3-D block at full resolution, cross-attention blocks below (see the module docstring), one layer per block.
    Three levels on a 12 canvas put a 3x3 level at the bottom whose convolutions see the whole frame: a conv UNet's
    only sense of where to draw is zero padding, which a shallow one barely feels."""
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


def for_training(unet: Any) -> Any:
    """``unet`` set up for the toy's training (neither is saved with the weights): diffusers' plain attention
    processor (CPU's fused attention kernel is slow on the thousands of 4-frame temporal sequences: it took half of
    a training step) and no dropout (UNet3D's temporal convolutions hard-code 0.1; memorizing needs none)."""
    from diffusers.models.attention_processor import AttnProcessor

    unet.set_attn_processor(AttnProcessor())
    for module in unet.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    return unet


def _clips(train_set: Any) -> tuple[torch.Tensor, list[str]]:
    """Clips (N, 1, F, s, s) in [-1, 1] and captions from items ``{"video": (F, 1, s, s) in [0, 1], "caption"}``."""
    if len(train_set) == 0:
        raise ValueError("train_toy_text_to_video: the training set is empty")
    videos = torch.stack([train_set[i]["video"] for i in range(len(train_set))]).float()
    if videos.ndim != 5 or videos.shape[2] != 1 or videos.shape[3] != videos.shape[4] or videos.shape[1] < 2:
        raise ValueError(f"train_toy_text_to_video: items' video must be (frames >= 2, 1, size, size) in [0, 1], got "
                         f"{tuple(videos.shape[1:])}")
    return videos.permute(0, 2, 1, 3, 4) * 2 - 1, [train_set[i]["caption"] for i in range(len(train_set))]


# what a record written before a setting existed trained with (folders from then stay valid)
RECORD_DEFAULTS = {"architecture": "unet3d"}


def _finished(folder: Path, wanted: dict[str, Any]) -> bool:
    """Whether ``folder`` holds a finished model (``toy.json``, written last) trained with ``wanted``; a finished
    folder trained otherwise is a ValueError (never silently reused)."""
    record = folder / "toy.json"
    if not record.is_file():
        return False
    saved = {**RECORD_DEFAULTS, **json.loads(record.read_text(encoding="utf-8"))}
    differ = {key: (saved.get(key), value) for key, value in wanted.items() if saved.get(key) != value}
    if differ:
        raise ValueError(f"{record}: a finished toy model trained with other settings (saved, requested): {differ}; "
                         "pass another folder or delete this one to retrain")
    return True


def train_toy_text_to_video(train_set: Any, folder: str | Path, device: str | torch.device = "cpu", steps: int = 200,
                            batch_size: int = 32, lr: float = 1e-2, seed: int = 0, caption_dropout: float = 0.1,
                            block_out_channels: Sequence[int] | None = None,
                            text_encoder_lr: float = 0.0, architecture: str = "unet3d",
                            show_progress: bool = True) -> Path:
    """Train the video UNet (and the text encoder when ``text_encoder_lr`` > 0) on ``train_set``
    (:class:`MovingDigitsTrain`-style items, ``video`` (F, 1, s, s) in [0, 1] mapped to [-1, 1], ``caption``) with
    the ε-prediction DDPM MSE (:func:`~bench.methods.bright_ending.toy.fit_caption_conditioned`: batches, caption
    dropout, seeding), and save the pixel-space ``TextToVideoSDPipeline`` folder ``folder``; returns it.

    The caption encoder is :func:`build_caption_encoder` with a context of :func:`caption_context` tokens; it stays
    at its random initialisation by default (``text_encoder_lr=0``): trained jointly it collapsed to one output for
    every caption and the UNet ignored the text (the module's measurements). The UNet trains as :func:`for_training`
    sets it. Torch's thread count is the caller's.

    ``folder`` gets ``unet/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``, ``model_index.json`` (no
    ``vae``) and, last, ``toy.json`` (settings, loss curve, time per step). Resume: a folder with ``toy.json`` from
    the same settings (steps, batch size, lr, seed, caption dropout, channels, encoder, clip count, frames, size and
    the set's ``fingerprint()`` where it has one)
    is returned at once; from other settings it is a ValueError.

    ``architecture``: ``"unet3d"`` (:func:`build_video_unet`, channels default :data:`BLOCK_OUT_CHANNELS`) or
    ``"frames_as_channels"`` (:func:`~.frames_as_channels.build_frames_as_channels_unet`, channels default
    :data:`FRAMES_AS_CHANNELS_BLOCK_OUT_CHANNELS`; the clips train as (N, F, s, s) images, the same loop).
    """
    if architecture not in ARCHITECTURES:
        raise ValueError(f"train_toy_text_to_video: architecture must be one of {ARCHITECTURES}, got "
                         f"{architecture!r}")
    if block_out_channels is None:
        block_out_channels = BLOCK_OUT_CHANNELS if architecture == "unet3d" else FRAMES_AS_CHANNELS_BLOCK_OUT_CHANNELS
    if steps <= 0 or batch_size <= 0 or lr <= 0 or text_encoder_lr < 0 or not 0 <= caption_dropout < 1:
        raise ValueError(f"train_toy_text_to_video: need steps > 0, batch_size > 0, lr > 0, text_encoder_lr >= 0 "
                         f"and 0 <= caption_dropout < 1, got steps={steps}, batch_size={batch_size}, lr={lr}, "
                         f"text_encoder_lr={text_encoder_lr}, caption_dropout={caption_dropout}")
    folder = Path(folder)
    clips, item_captions = _clips(train_set)
    context = caption_context(item_captions)
    wanted = {"steps": steps, "batch_size": batch_size, "lr": lr, "text_encoder_lr": text_encoder_lr, "seed": seed,
              "caption_dropout": caption_dropout,
              "unet_block_out_channels": list(block_out_channels), "num_clips": len(clips),
              "text_encoder": {"layers": TEXT_LAYERS, "token_embedding_std": TOKEN_EMBEDDING_STD,
                               "model_max_length": context},
              "frames": int(clips.shape[2]), "size": int(clips.shape[-1]), "architecture": architecture}
    fingerprint = getattr(train_set, "fingerprint", None)
    if callable(fingerprint):  # another training set of the same size is not the same model
        wanted["train_fingerprint"] = fingerprint()
    if _finished(folder, wanted):
        return folder
    channels = tuple(block_out_channels)
    if architecture == "unet3d":
        data, unet_class = clips, "UNet3DConditionModel"

        def make_unet(hidden: int) -> Any:
            return for_training(build_video_unet(clips.shape[-1], hidden, channels))
    else:
        from bench.methods.vdm_memorization.frames_as_channels import UNET_CLASS, build_frames_as_channels_unet

        data, unet_class = clips[:, 0], UNET_CLASS  # (N, F, s, s): the frames are the channels

        def make_unet(hidden: int) -> Any:
            return build_frames_as_channels_unet(clips.shape[-1], clips.shape[2], hidden, channels, ATTENTION_HEADS)
    fitted = train_and_save_toy(
        data, item_captions, folder, make_unet, steps=steps,
        batch_size=batch_size, lr=lr, text_encoder_lr=text_encoder_lr, seed=seed, caption_dropout=caption_dropout,
        device=device, desc="toy text-to-video", pipeline="TextToVideoSDPipeline",
        unet_class=unet_class, show_progress=show_progress,
        model_max_length=context, make_text_encoder=build_caption_encoder)
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
