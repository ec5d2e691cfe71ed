"""FusionSAM (arXiv 2408.13980, KDD 2025 per its availability label): RGB-thermal fusion and segmentation with SAM.

A documented re-implementation: the public code (``LDXDU/FusionSAM-being-updated``) is partial and cannot run.
Modules: :mod:`.lstg` (one ``diffusers.VQModel`` per modality and their codebook-normalised pre-quantisation
latents), :mod:`.fusion` (the SwinFusion-style cross-attention network and the fused luminance + visible chroma
image), :mod:`.fmp` (stock ``segment_anything`` SAM with a per-class decoder, the latent adapter, the GT point
prompts), :mod:`.adapter` (the ``FusionSAM`` method adapter: RGB-only, thermal-only, fused, fused without adapter)
and :mod:`.demo` (the generated-scenes demo's summary). Every choice the sheet marks unknown is a config option with
its default and reason (configs/fusionsam/README.md).
"""
from bench.methods.fusionsam import adapter, demo  # noqa: F401  (registers the method and the demo summary)
from bench.methods.fusionsam.adapter import FusionSAM

__all__ = ["FusionSAM"]
