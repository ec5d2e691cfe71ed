"""Shared diffusion-model pieces: local diffusers / original-DDPM model loading (``unet``), guided-diffusion's ADM
U-Net and noisy classifier with the guided- and improved-diffusion release presets (``adm``), the respaced Gaussian
process with improved-diffusion's training math (``gaussian``), any of these models as a denoiser on its process
(``backbones``), the ``DiffusionSampler`` adapter of the generation task, DDPM training at demo scale
(``training``), improved-diffusion's training recipe for the ADM U-Net (``iddpm_training``) and the two layouts of
video latents, [B, C, F, h, w] and [B·F, C, h, w] (``video_latents``; video-memorization and ConFiner)."""
from bench.methods.diffusion.adapter import DiffusionSampler

__all__ = ["DiffusionSampler"]
