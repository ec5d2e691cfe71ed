"""Image feature extractors for generative metrics (FID, sFID, IS, precision/recall, KID).

An extractor maps a batch of uint8 images [B, H, W, C] to named per-sample features; the generation task stores
them with each sample, so metrics can be recomputed from the run directory without the extractor. Importing
this package registers every extractor in ``bench.registry.EXTRACTORS``.
"""
from bench.tasks.generation.extractors.base import FEATURE_KEYS, ImageFeatureExtractor
from bench.tasks.generation.extractors import classifier, inception  # noqa: F401,E402  (registration)

__all__ = ["FEATURE_KEYS", "ImageFeatureExtractor"]
