"""Trident (arXiv 2411.09219): training-free open-vocabulary segmentation by splicing CLIP windows and SAM-guided
aggregation, on stock open_clip / timm DINO / segment_anything modules (``openvocab`` extra).

The adapter runs end to end (``Trident``; smoke demo on generated scenes with tiny models) and the eight benchmark
configs exist for ViT-B/16 and ViT-H/14 (Trident and ProxyCLIP rows), each with the official prompt vocabulary.
No foundation weights are on this machine, so every run here is smoke."""
from bench.methods.trident import adapter, stages  # noqa: F401  (registers the method)
from bench.methods.trident.adapter import TridentSegmentor

__all__ = ["TridentSegmentor", "stages"]
