"""Trident (arXiv 2411.09219): training-free open-vocabulary segmentation by splicing CLIP windows and SAM-guided
aggregation, on stock open_clip / timm DINO / segment_anything modules (``openvocab`` extra).

Unfinished: the adapter runs end to end (``Trident``; smoke demo on generated scenes with tiny models) and the
eight benchmark configs exist for ViT-B/16 and ViT-H/14 (Trident and ProxyCLIP rows), but the table's "Avg" cell
and the per-stage latency benchmark are still to be built."""
from bench.methods.trident import adapter, stages  # noqa: F401  (registers the method)
from bench.methods.trident.adapter import TridentSegmentor

IN_PROGRESS = ("adapter, configs for the eight benchmarks (ViT-B/16 and ViT-H/14; Trident and ProxyCLIP rows) and a "
               "smoke demo; no Avg cell or latency benchmark yet")
IMPLEMENTATION = "faithful"
SMOKE_ONLY = True  # CLIP, DINO and SAM weights are not available here
NOT_REPRODUCIBLE = None

__all__ = ["IMPLEMENTATION", "IN_PROGRESS", "NOT_REPRODUCIBLE", "SMOKE_ONLY", "TridentSegmentor", "stages"]
