"""The interface every image feature extractor implements."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from bench.tasks.generation.extractors.preprocessing import ImagePreprocessing, Images

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


class UnitNormEmbedder(ImageFeatureExtractor):
    """An extractor whose features are L2-normalised embeddings of preprocessed images (SSCD descriptors, CLIP
    image embeddings): subclasses set ``model``, ``preprocessing`` and ``batch_size`` and implement :meth:`embed`;
    images are preprocessed on the CPU and copied to the device a batch at a time."""

    model: Any
    preprocessing: ImagePreprocessing
    batch_size: int
    _device = torch.device("cpu")

    @property
    def device(self) -> torch.device:
        return self._device

    def to(self, device: torch.device | str) -> UnitNormEmbedder:
        self._device = torch.device(device)
        self.model.to(self._device)
        return self

    def embed(self, batch: torch.Tensor) -> torch.Tensor:
        """Raw embeddings [B, D] of a preprocessed batch already on the device."""
        raise NotImplementedError

    def __call__(self, images: Images) -> dict[str, torch.Tensor]:  # type: ignore[override]
        """uint8 [B, H, W, C] or a list of uint8 [H, W, C] (any sizes) -> ``{"pool": [B, D]}`` unit-norm float32."""
        from bench.tasks.generation.extractors.preprocessing import check_images

        items = check_images(images)
        parts = []
        with torch.no_grad():  # not inference_mode: callers may edit the returned tensors in place
            for start in range(0, len(items), self.batch_size):
                batch = self.preprocessing(list(items[start:start + self.batch_size])).to(self._device)
                parts.append(torch.nn.functional.normalize(self.embed(batch).float(), dim=-1))
        if not parts:
            return {"pool": torch.empty(0, 0, dtype=torch.float32, device=self._device)}
        return {"pool": torch.cat(parts)}
