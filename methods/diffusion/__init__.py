"""Shared diffusion-model pieces: local diffusers / original-DDPM model loading (``unet``), the ``DiffusionSampler``
adapter of the generation task, and DDPM training at demo scale (``training``)."""
from bench.methods.diffusion.adapter import DiffusionSampler

__all__ = ["DiffusionSampler"]
