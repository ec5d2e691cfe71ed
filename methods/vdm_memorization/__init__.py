"""Memorization in video diffusion models (arXiv 2410.21669, "Investigating Memorization in Video Diffusion
Models"): content memorization (GSSCD), motion memorization (OFS-k with a natural-motion filter) and Wen-style
content / motion magnitudes. The paper has no code and few formulas: every piece here is a re-implementation of the
paper sheet's proposal, each unknown a named option.

In progress (issue 29): the measures, the readers, the detection adapter and the content / motion similarity task
exist, and a tiny pixel-space video model (:mod:`.toy`); the moving-digits demo does not yet (the toy does not
memorize within the CPU budget tried). Modules: :mod:`.content` (GSSCD from per-frame
descriptors), :mod:`.flow` and :mod:`.motion` (optical flow back-ends, OFS-k, NMF), :mod:`.video_sampling`
(text-to-video DDIM + CFG from local diffusers folders with per-step content and motion magnitudes) and the
``VideoMemorization`` adapter (:mod:`.adapter`), the ``text_to_video_memorization`` task (:mod:`.task`: GSSCD and
OFS-k of each generated video against its prompt's ground-truth clips); readers: ``bench.datasets.video`` (WebVid)
and ``bench.datasets.moving_digits`` (the demo's planted content and motion memorization).
"""
from bench.methods.vdm_memorization import task  # noqa: F401  (registers text_to_video_memorization)
from bench.methods.vdm_memorization.adapter import VideoMemorization

__all__ = ["VideoMemorization"]
