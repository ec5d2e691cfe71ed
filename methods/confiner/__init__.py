"""ConFiner / ConFiner-Long (arXiv 2408.13423 v4, "Decoupled Video Generation with Chain of Training-free Diffusion
Model Experts"): a fast control expert (AnimateDiff-Lightning) draws a video's structure in 4 or 8 steps, the video
is re-noised to a low level T_e and refined by a spatial expert (SD 1.5) and a temporal expert (ModelScope T2V or
LaVie), alternating through the predicted clean sample x̂0 within each step ("coordinated denoising"). No official
code exists: a re-implementation of the v4 text, every unspecified setting a named option with its default.

In progress (issue 34): the core, the experts over local diffusers folders and the ``ConFiner`` adapter
(:mod:`.adapter`) exist and are tested on tiny random experts; VBench's dimensions and the moving-digits demo come
with the other issue-34 branches. Modules: :mod:`.layouts` (the shared [B, C, F, h, w]
latent, each expert's layout, the resize policy), :mod:`.schedules` (x̂0 ↔ x_t conversions with each expert's own
ᾱ, the T_e re-noising, spatial-only / temporal-only / coordinated refinement, NFE and wall time per expert) and
:mod:`.experts` (experts loaded from local diffusers folders by kind, incl. the pixel-space kinds) and
:mod:`.long` (ConFiner-Long: shuffled base noise, coherence guidance with γ, staggered refinement of joins).
"""
from bench.methods.confiner.adapter import ConFiner
from bench.methods.confiner.experts import KINDS, Codec, ExpertSpec, LoadedExpert, load_expert
from bench.methods.confiner.layouts import from_expert, resize_clean, to_expert
from bench.methods.confiner.long import CoherenceGuidance, LongSettings, shuffled_base_noise, staggered_refinement
from bench.methods.confiner.schedules import (Expert, NFEMeter, RefinementSettings, coordinated_step, nfe_per_video,
                                              refine)

__all__ = ["KINDS", "Codec", "CoherenceGuidance", "ConFiner", "Expert", "ExpertSpec", "LoadedExpert", "LongSettings",
           "NFEMeter", "RefinementSettings", "coordinated_step", "from_expert", "load_expert", "nfe_per_video",
           "refine", "resize_clean", "shuffled_base_noise", "staggered_refinement", "to_expert"]
