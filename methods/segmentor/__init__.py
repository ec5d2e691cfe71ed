"""Shared segmentation adapters (used by several papers' configs)."""
from bench.methods.segmentor.mmseg_segmentor import MMSegSegmentor

__all__ = ["MMSegSegmentor"]
