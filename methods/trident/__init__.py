"""Trident (arXiv 2411.09219): training-free open-vocabulary segmentation by splicing CLIP windows and SAM-guided
aggregation. Unfinished: the stages exist as tested tensor functions (``stages``); the adapter that runs them on
open_clip / DINO / SAM modules is not built yet, so no method is registered and nothing can run."""
from bench.methods.trident import stages

IN_PROGRESS = "stage functions with reference tests; no adapter, configs or demo yet"
IMPLEMENTATION = None
SMOKE_ONLY = True  # CLIP, DINO and SAM weights are not available here
NOT_REPRODUCIBLE = None

__all__ = ["IMPLEMENTATION", "IN_PROGRESS", "NOT_REPRODUCIBLE", "SMOKE_ONLY", "stages"]
