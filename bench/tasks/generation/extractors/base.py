"""The interface every image feature extractor implements."""
from __future__ import annotations

from typing import Any

import torch

# per-sample feature names: pooled features (FID, KID, precision/recall), class logits (IS), and the spatial
# features sFID uses (guided-diffusion's ``mixed_6/conv`` slice)
FEATURE_KEYS = ("pool", "logits", "spatial")


class ImageFeatureExtractor:
    """Map uint8 images [B, H, W, C] to float features ``{"pool": [B, D], "logits": [B, K], "spatial": [B, S]}``.

    An extractor may omit ``logits`` or ``spatial``; metrics that need a missing one say so. ``describe``
    names the network, the weight file and its sha256, and the resize applied, for the run's results.
    """

    def to(self, device: torch.device) -> ImageFeatureExtractor:
        raise NotImplementedError

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        raise NotImplementedError
