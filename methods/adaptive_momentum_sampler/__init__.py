"""Adaptive Momentum Sampler (arXiv 2308.11941, IJCAI 2024), faithful to ShinyGua/DPMs-with-Adam.

The sampler is a diffusers scheduler, ``scheduler.AdaptiveMomentumScheduler`` (imported on use: it needs the
diffusion extra); runs sample with the shared ``DiffusionSampler`` adapter (``bench.methods.diffusion``), which
also loads the original DDPM checkpoints the official code uses. The scheduler registers itself in ``SCHEDULERS``
as a lazy entry (its module imports diffusers only when a config names it).
"""
from bench.methods.adaptive_momentum_sampler import demo  # noqa: F401  (registers the demo summary)
from bench.registry import SCHEDULERS

SCHEDULERS.register_lazy("AdaptiveMomentumScheduler",
                         "bench.methods.adaptive_momentum_sampler.scheduler:AdaptiveMomentumScheduler")
