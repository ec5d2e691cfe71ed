"""Tiny randomly initialised text-to-video folders in diffusers' layouts, written by the tests: a
``TextToVideoSDPipeline`` (ModelScope's layout: ``UNet3DConditionModel``) and a ``MotionAdapter`` for AnimateDiff
on top of the tiny Stable Diffusion folder of :mod:`sd_fixture`."""
from __future__ import annotations

from pathlib import Path

import torch
from diffusers import MotionAdapter, TextToVideoSDPipeline, UNet3DConditionModel
from sd_fixture import sd_scheduler, tiny_text_encoder, tiny_vae, write_tokenizer_files
from transformers import CLIPTokenizer


def write_tiny_text_to_video(root: Path) -> Path:
    """A ``TextToVideoSDPipeline`` with 16x16 frames (8x8x4 latents) saved under ``root/t2v``."""
    vocab = write_tokenizer_files(root / "t2v_tokenizer_source")
    tokenizer = CLIPTokenizer.from_pretrained(str(root / "t2v_tokenizer_source"), model_max_length=16)
    torch.manual_seed(0)
    unet = UNet3DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(16, 32), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"), up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        cross_attention_dim=32, attention_head_dim=8, norm_num_groups=8)
    vae, text_encoder, scheduler = tiny_vae((16, 32)), tiny_text_encoder(vocab), sd_scheduler()
    TextToVideoSDPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                          scheduler=scheduler).save_pretrained(str(root / "t2v"))
    return root / "t2v"


def write_tiny_motion_adapter(root: Path, block_out_channels: tuple[int, ...] = (32, 64)) -> Path:
    """A ``MotionAdapter`` matching :func:`sd_fixture.write_tiny_stable_diffusion`'s UNet, saved under
    ``root/adapter``."""
    torch.manual_seed(1)
    adapter = MotionAdapter(block_out_channels=block_out_channels, motion_layers_per_block=1,
                            motion_num_attention_heads=2, motion_norm_num_groups=8, motion_max_seq_length=8,
                            use_motion_mid_block=False)
    adapter.save_pretrained(str(root / "adapter"))
    return root / "adapter"
