"""A tiny randomly initialised Stable Diffusion pipeline folder in diffusers' layout, written by the tests."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer


def write_tokenizer_files(folder: Path) -> dict[str, int]:
    """A byte-level BPE vocabulary in CLIP's form: the special tokens, every letter alone and word-final
    (``x</w>``), and two merges, so "cat" is one token and other words are spelled out."""
    folder.mkdir(parents=True)
    letters = "abcdefghijklmnopqrstuvwxyz"
    merges = ["a t</w>", "c at</w>"]
    tokens = ["<|startoftext|>", "<|endoftext|>", *letters, *(c + "</w>" for c in letters), "at</w>", "cat</w>"]
    vocab = {token: i for i, token in enumerate(tokens)}
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    return vocab


def write_tiny_stable_diffusion(root: Path, cross_attention_first: bool = False) -> Path:
    """A randomly initialised Stable Diffusion pipeline (16x16 images, 8x8x4 latents) saved under ``root/sd``;
    ``cross_attention_first`` puts the cross-attention block first (down_blocks.0, as SD v1.x: the Bright Ending
    map is read there)."""
    vocab = write_tokenizer_files(root / "tokenizer_source")
    tokenizer = CLIPTokenizer.from_pretrained(str(root / "tokenizer_source"), model_max_length=16)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D") if cross_attention_first
        else ("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D") if cross_attention_first
        else ("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, attention_head_dim=8, norm_num_groups=8)
    vae, text_encoder, scheduler = tiny_vae((32, 64)), tiny_text_encoder(vocab), sd_scheduler()
    pipeline = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                       scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
    pipeline.save_pretrained(str(root / "sd"))
    return root / "sd"


def tiny_vae(block_out_channels: tuple[int, ...]) -> AutoencoderKL:
    """A random 2-level KL autoencoder (16x16 pixels <-> 8x8x4 latents) whose decoded pixels stay within about ±0.7,
    so the sampler's clamp does not hide differences."""
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=block_out_channels, layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2, norm_num_groups=8,
        sample_size=16)
    with torch.no_grad():
        vae.decoder.conv_out.weight.mul_(0.5)
        vae.decoder.conv_out.bias.zero_()
    return vae


def tiny_text_encoder(vocab: dict[str, int]) -> CLIPTextModel:
    """A random 2-layer CLIP text encoder of width 32 for the tokenizer files' vocabulary."""
    return CLIPTextModel(CLIPTextConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=16, bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"],
        pad_token_id=vocab["<|endoftext|>"]))


def sd_scheduler() -> DDIMScheduler:
    """SD 1.x's (and ModelScope's) DDIM scheduler config."""
    return DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                         set_alpha_to_one=False, steps_offset=1)


def write_tiny_artbench(root: Path, train_per_style: int = 6, test_per_style: int = 3) -> Path:
    """An ArtBench-2 root in the official layout (``ArtBench-10.csv`` + 16 px JPEGs under
    ``artbench-10-imagefolder/<style>/``), ``train_per_style`` train and ``test_per_style`` test images per style."""
    import csv

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    rows = [(f"{style[:4]}-{split}-{i}.jpg", style, split) for style in ("post_impressionism", "ukiyo_e")
            for split, n in (("train", train_per_style), ("test", test_per_style)) for i in range(n)]
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "ArtBench-10.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "label", "split"])
        for name, style, split in rows:
            writer.writerow([name, style, split])
            (root / "artbench-10-imagefolder" / style).mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(
                root / "artbench-10-imagefolder" / style / name, quality=95)
    return root
