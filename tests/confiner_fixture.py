"""Tiny randomly initialised expert folders for the ConFiner tests, one per expert kind, in the official layouts:
AnimateDiff (the tiny SD folder of :mod:`sd_fixture` + a ``MotionAdapter`` folder, and the same adapter as
AnimateDiff-Lightning's single ``.safetensors`` file), Stable Diffusion, ModelScope's ``TextToVideoSDPipeline``
(:mod:`video_fixture`), and the pixel kinds: a ``DDPMPipeline`` folder (unconditional ``UNet2DModel``), a
text-conditioned pixel ``UNet2DConditionModel`` folder (the Bright Ending toy's builders) and a pixel-space
``TextToVideoSDPipeline`` folder (the video-memorization toy's builders). All latent kinds share 8x8x4 latents."""
from __future__ import annotations

from pathlib import Path

import torch
from sd_fixture import write_tiny_stable_diffusion
from video_fixture import write_tiny_motion_adapter, write_tiny_text_to_video

CAPTIONS = ["a cat", "a digit moving right"]
# write_tiny_motion_adapter's MotionAdapter, as a single-file adapter's motion_adapter_config
ADAPTER_CONFIG = dict(block_out_channels=(32, 64), motion_layers_per_block=1, motion_num_attention_heads=2,
                      motion_norm_num_groups=8, motion_max_seq_length=8, use_motion_mid_block=False)


def write_latent_experts(root: Path) -> dict[str, dict]:
    """Specs of the three latent kinds (control AnimateDiff from a single file, spatial SD, temporal ModelScope)
    over folders written under ``root``; also ``animatediff_folder`` (the adapter as a folder)."""
    from diffusers import MotionAdapter
    from safetensors.torch import save_file

    sd = write_tiny_stable_diffusion(root, cross_attention_first=True)
    adapter = write_tiny_motion_adapter(root)
    single = root / "animatediff_lightning_4step_diffusers.safetensors"
    save_file(MotionAdapter.from_pretrained(str(adapter)).state_dict(), str(single))
    t2v = write_tiny_text_to_video(root)
    return {"control": dict(kind="animatediff", model=str(sd), motion_adapter=str(single),
                            motion_adapter_config=ADAPTER_CONFIG),
            "spatial": dict(kind="stable_diffusion", model=str(sd)),
            "temporal": dict(kind="text_to_video", model=str(t2v)),
            "animatediff_folder": dict(kind="animatediff", model=str(sd), motion_adapter=str(adapter))}


def write_pixel_image_ddpm(root: Path, size: int = 8) -> Path:
    """An unconditional one-channel ``UNet2DModel`` saved as a ``DDPMPipeline`` folder (what ``train_ddpm`` writes)."""
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

    torch.manual_seed(3)
    unet = UNet2DModel(sample_size=size, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(8, 16),
                       down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                       norm_num_groups=8)
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02,
                              clip_sample=False)
    DDPMPipeline(unet=unet, scheduler=scheduler).save_pretrained(str(root / "pixel_ddpm"))
    return root / "pixel_ddpm"


def write_pixel_image_conditional(root: Path, size: int = 8) -> Path:
    """A text-conditioned one-channel ``UNet2DConditionModel`` with its caption tokenizer and text encoder and a
    DDIM scheduler, in subfolders (no ``model_index.json``: the pixel_image kind does not need one)."""
    from bench.methods.bright_ending.toy import build_scheduler, build_text_encoder, build_unet, write_caption_tokenizer

    folder = root / "pixel_image"
    tokenizer = write_caption_tokenizer(CAPTIONS, folder / "tokenizer", model_max_length=8)
    torch.manual_seed(4)
    text_encoder = build_text_encoder(tokenizer)
    unet = build_unet(size, text_encoder.config.hidden_size, block_out_channels=(8, 16))
    unet.save_pretrained(str(folder / "unet"))
    text_encoder.save_pretrained(str(folder / "text_encoder"))
    build_scheduler().save_pretrained(str(folder / "scheduler"))
    return folder


def write_pixel_video(root: Path, size: int = 8) -> Path:
    """The video-memorization toy's pixel-space ``TextToVideoSDPipeline`` folder (random weights, no ``vae``)."""
    from bench.methods.bright_ending.toy import build_scheduler, write_caption_tokenizer, write_model_index
    from bench.methods.vdm_memorization.toy import build_caption_encoder, build_video_unet

    folder = root / "pixel_video"
    tokenizer = write_caption_tokenizer(CAPTIONS, folder / "tokenizer", model_max_length=8)
    torch.manual_seed(5)
    text_encoder = build_caption_encoder(tokenizer)
    unet = build_video_unet(size, text_encoder.config.hidden_size, block_out_channels=(8, 16))
    unet.save_pretrained(str(folder / "unet"))
    text_encoder.save_pretrained(str(folder / "text_encoder"))
    build_scheduler().save_pretrained(str(folder / "scheduler"))
    write_model_index(folder, "TextToVideoSDPipeline", "UNet3DConditionModel")
    return folder
