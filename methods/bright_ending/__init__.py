"""Bright Ending (arXiv 2410.21665, ICLR 2025, "Exploring Local Memorization in Diffusion Models via Bright Ending
Attention"): the end-of-text token's cross-attention at the last denoising step as a local-memorization mask.
Modules: :mod:`bench.methods.bright_ending.attention` (the EOS-attention capture on ``down_blocks.0``'s ``attn2``
and the EOS index) and :mod:`bench.methods.bright_ending.magnitude` (Wen's magnitude, BE's masked magnitude m′ and
their aggregation per prompt), and :mod:`bench.methods.bright_ending.toy` (the demo's tiny pixel-space
text-to-image model, trained on ``DigitsMemorizationTrain``, whose planted memorization is the ground truth). No
adapter is registered yet (``status.toml``).
"""
