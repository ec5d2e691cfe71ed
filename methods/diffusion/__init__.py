"""Shared diffusion-model pieces: local diffusers / original-DDPM model loading (``unet``), guided-diffusion's ADM
U-Net and noisy classifier (``adm``), respaced Gaussian process (``gaussian``), any of these models as a denoiser on
its process (``backbones``), the ``DiffusionSampler`` adapter
of the generation task, and DDPM training at demo scale (``training``)."""
from bench.methods.diffusion.adapter import DiffusionSampler

__all__ = ["DiffusionSampler"]
