"""Image feature extractors for generative metrics (FID, sFID, IS, precision/recall, KID) and memorization
evaluation (SSCD similarity to training images, CLIP score) and VBench's DINO frame features.

An extractor maps a batch of uint8 images [B, H, W, C] to named per-sample features; the generation task stores
them with each sample, so metrics can be recomputed from the run directory without the extractor. Importing
this package registers the task's extractors in ``bench.registry.EXTRACTORS`` (the timm classifier ones are in
``bench.methods.classifier.features``).
"""
from bench.tasks.generation.extractors.base import FEATURE_KEYS, ImageFeatureExtractor
from bench.tasks.generation.extractors import clip_score, dino, inception, pixels, sscd  # noqa: F401,E402  (registration)

__all__ = ["FEATURE_KEYS", "ImageFeatureExtractor"]
