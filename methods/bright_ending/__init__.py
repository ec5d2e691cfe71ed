"""Bright Ending (arXiv 2410.21665, ICLR 2025, "Exploring Local Memorization in Diffusion Models via Bright Ending
Attention"): the end-of-text token's cross-attention at the last denoising step as a local-memorization mask, with
Wen et al.'s magnitude detector (ICLR 2024) as its baseline.

Modules: :mod:`.attention` (the EOS-attention capture on ``down_blocks.0``'s ``attn2`` and the EOS index),
:mod:`.magnitude` (Wen's magnitude and BE's masked magnitude m′), :mod:`.sampling` (the DDIM + CFG loop recording
them), :mod:`.mitigation` (Wen's prompt-embedding optimisation with the plain or masked loss, RNA / RT / CWR, GNI),
:mod:`.toy` (the demo's tiny pixel-space text-to-image model) and the ``BrightEnding`` adapter (:mod:`.adapter`).
"""
from bench.methods.bright_ending.adapter import BrightEnding

__all__ = ["BrightEnding"]
