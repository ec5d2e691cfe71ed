"""Shared diffusion-model pieces: local diffusers / original-DDPM model loading (``unet``), guided-diffusion's ADM
U-Net and noisy classifier (``adm``) and respaced Gaussian process (``gaussian``), the ``DiffusionSampler`` adapter
of the generation task, and DDPM training at demo scale (``training``)."""
from bench.methods.diffusion.adapter import DiffusionSampler

__all__ = ["DiffusionSampler"]
