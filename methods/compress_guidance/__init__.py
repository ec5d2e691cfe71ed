"""Compress Guidance (arXiv 2408.11194): guidance at a compressed subset of sampling steps, faithful to the authors'
working repos (dungdinhanh/compt_guidance, dungdinhanh/DiT_compact; the paper announces no official code).

``schedule`` (which steps, which weights), ``guidance`` (classifier and classifier-free guidance on guided-diffusion's
respaced ancestral sampler) on the shared ``bench.methods.diffusion.backbones``, ``stable_diffusion``
(a per-step CFG loop for Stable Diffusion folders) and the ``CompressGuidanceSampler`` adapter, imported here
(its heavy dependencies load on use), and the paper's metrics ``GuideAccuracy`` and ``SamplingCost`` (``metrics``).
"""
from bench.methods.compress_guidance import demo, metrics  # noqa: F401  (registers the demo summary, GuideAccuracy,
# SamplingCost)
from bench.methods.compress_guidance.adapter import CompressGuidanceSampler

__all__ = ["CompressGuidanceSampler"]
