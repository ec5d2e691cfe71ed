"""Trident (arXiv 2411.09219): training-free open-vocabulary segmentation by splicing CLIP windows and SAM-guided
aggregation, on stock open_clip / timm DINO / segment_anything modules (``openvocab`` extra).

Unfinished: the adapter runs end to end (``Trident``, smoke demo on generated scenes with tiny models), but the
per-dataset configs and class-name files of the eight benchmarks, the ProxyCLIP row and the latency benchmark
are still to be built."""
from bench.methods.trident import adapter, stages  # noqa: F401  (registers the method)
from bench.methods.trident.adapter import TridentSegmentor

IN_PROGRESS = ("adapter, stages and a smoke demo on tiny models; no benchmark configs or class-name files yet, "
               "no ProxyCLIP row")
IMPLEMENTATION = "faithful"
SMOKE_ONLY = True  # CLIP, DINO and SAM weights are not available here
NOT_REPRODUCIBLE = None

__all__ = ["IMPLEMENTATION", "IN_PROGRESS", "NOT_REPRODUCIBLE", "SMOKE_ONLY", "TridentSegmentor", "stages"]
