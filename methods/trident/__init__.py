"""Trident (arXiv 2411.09219): training-free open-vocabulary segmentation by splicing CLIP windows and SAM-guided
aggregation, on stock open_clip / timm DINO / segment_anything modules (``openvocab`` extra).

Unfinished: the adapter runs end to end (``Trident``; smoke demo on generated scenes with tiny models) and the
eight benchmark configs exist for ViT-B/16 and ViT-H/14 (Trident and ProxyCLIP rows); the table's "Avg" cell is
not computed yet, and the official class-name files must be copied in (they are not redistributed here)."""
from bench.methods.trident import adapter, stages  # noqa: F401  (registers the method)
from bench.methods.trident.adapter import TridentSegmentor

IN_PROGRESS = ("adapter, configs for the eight benchmarks (ViT-B/16 and ViT-H/14; Trident and ProxyCLIP rows), smoke "
               "demo and latency benchmark; no Avg cell yet")
IMPLEMENTATION = "faithful"
SMOKE_ONLY = True  # CLIP, DINO and SAM weights are not available here
NOT_REPRODUCIBLE = None

__all__ = ["IMPLEMENTATION", "IN_PROGRESS", "NOT_REPRODUCIBLE", "SMOKE_ONLY", "TridentSegmentor", "stages"]
