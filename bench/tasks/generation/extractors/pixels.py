"""Pixel correlation descriptors: a weight-free stand-in for SSCD where no copy-detection network applies (the
Bright Ending ground-truth demo's 16×16 digits, far below SSCD's 224² input).

The descriptor is the image's pixels in [0, 1], mean-centred per image and L2-normalised, so the cosine of two
descriptors is the Pearson correlation of their pixels: 1 for a copy (up to brightness and contrast), about 0 for
unrelated images. Unlike SSCD it is not robust to shifts or crops, which the demo's exact duplicates do not need.
"""
from __future__ import annotations

from typing import Any

import torch

from bench.registry import EXTRACTORS
from bench.tasks.generation.extractors.base import UnitNormEmbedder
from bench.tasks.generation.extractors.preprocessing import Images, check_images


@EXTRACTORS.register_module()
class PixelCorrelationFeatures(UnitNormEmbedder):
    """``{"pool": [B, H·W·C]}``: mean-centred, L2-normalised pixels of uint8 images that share one size
    (``grayscale`` averages the channels first)."""

    def __init__(self, grayscale: bool = True) -> None:
        self.grayscale = bool(grayscale)
        self.model = torch.nn.Identity()
        self._device = torch.device("cpu")

    def __call__(self, images: Images) -> dict[str, torch.Tensor]:  # type: ignore[override]
        items = check_images(images)
        sizes = {tuple(image.shape) for image in items}
        if len(sizes) != 1:
            raise ValueError(f"PixelCorrelationFeatures: images must share one size to be compared pixel by pixel, "
                             f"got {sorted(sizes)}")
        pixels = torch.stack([image.float() / 255 for image in items]).permute(0, 3, 1, 2)
        return {"pool": self.embed(pixels).to(self._device)}

    def embed(self, batch: torch.Tensor) -> torch.Tensor:
        """Descriptors [B, D] of float images [B, C, H, W] in any positive-scaled range (the correlation does not
        see brightness or contrast), differentiable: AMG's guidance takes its gradient through decoded images."""
        pixels = batch.mean(dim=1) if self.grayscale else batch.permute(0, 2, 3, 1)
        flat = pixels.flatten(1)
        flat = flat - flat.mean(dim=1, keepdim=True)
        return torch.nn.functional.normalize(flat, dim=1)

    def describe(self) -> dict[str, Any]:
        return {"name": "pixel_correlation", "grayscale": self.grayscale,
                "normalised": "pixels in [0, 1], mean-centred and L2-normalised per image; cosine = Pearson r"}
