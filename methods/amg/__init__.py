"""AMG, Anti-Memorization Guidance (arXiv 2404.00922, CVPR 2024, "Towards Memorization-Free Diffusion Models"):
despecification, caption deduplication and dissimilarity guidance, applied while a sample's similarity to its nearest
training image exceeds a time-dependent threshold.

Modules: :mod:`.guidance` (the official code's arithmetic: thresholds, scales, countdowns), :mod:`.pixel_sampler` and
the ``AMGPixelSampler`` adapter (:mod:`.pixel_adapter`: improved-diffusion CIFAR-10 and the digits demo, nL2 against a
deduplicated training pool), :mod:`.text_sampler`, :mod:`.similarity`, :mod:`.reference_index` and the
``AMGTextSampler`` adapter (:mod:`.text_adapter`: Stable Diffusion against a local proxy reference index, with the
GNI / RT / CWR / RNA baselines), :mod:`.metrics` (``GuidanceActivity``) and :mod:`.demo` (the demo's summary).
"""
from bench.methods.amg import demo, metrics  # noqa: F401  (registers the demo summary and GuidanceActivity)
from bench.methods.amg.pixel_adapter import AMGPixelSampler
from bench.methods.amg.text_adapter import AMGTextSampler

__all__ = ["AMGPixelSampler", "AMGTextSampler"]
