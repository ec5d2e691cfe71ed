"""Wen's text-conditional noise magnitude and BE's masked magnitude m′, and their aggregation into a prompt score.

Per denoising step and generation, Wen et al. (ICLR 2024, ``YuxinWenRick/diffusion_memorization``
``local_sd_pipeline.py``, ``text_noise_norm``) record ‖ε(x_t, prompt) − ε(x_t, ∅)‖₂; Bright Ending
(``chenchen-usyd/BE-PRSS``, ``text_noise_norm_masked``) records ‖(ε_c − ε_u) ⊙ M‖₂ / mean(M) with the EOS map M of
shape (n, 1, h, w) broadcast over the latent channels and its mean taken per generation. A prompt's score (Wen's
aggregation over steps and generations) is :func:`bench.metrics.memorization.prompt_scores`, shared with AMG.
The norms are taken in float32 (the official code takes them in the pipeline's fp16).
"""
from __future__ import annotations

import torch

def _per_item_norm(x: torch.Tensor) -> torch.Tensor:
    return x.float().flatten(1).norm(p=2, dim=1)


def text_noise_norm(eps_cond: torch.Tensor, eps_uncond: torch.Tensor) -> torch.Tensor:
    """Wen's magnitude ‖ε_c − ε_u‖₂ per generation: inputs (n, C, H, W), output (n,) float32."""
    if eps_cond.shape != eps_uncond.shape:
        raise ValueError(f"text_noise_norm: conditional {tuple(eps_cond.shape)} and unconditional "
                         f"{tuple(eps_uncond.shape)} noise predictions differ in shape")
    return _per_item_norm(eps_cond - eps_uncond)


def masked_text_noise_norm(eps_cond: torch.Tensor, eps_uncond: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """BE's masked magnitude m′ = ‖(ε_c − ε_u) ⊙ M‖₂ / mean(M) per generation: ``mask`` (n, 1, H, W) (or (n, H, W))
    broadcasts over the C latent channels; mean(M) is per generation over its pixels. Output (n,) float32."""
    if mask.ndim == eps_cond.ndim - 1:
        mask = mask.unsqueeze(1)
    if mask.shape[0] != eps_cond.shape[0] or mask.shape[1] != 1 or mask.shape[2:] != eps_cond.shape[2:]:
        raise ValueError(f"masked_text_noise_norm: mask {tuple(mask.shape)} does not fit noise predictions "
                         f"{tuple(eps_cond.shape)}; expected (n, 1, H, W), one map per generation at latent size")
    mean = mask.float().flatten(1).mean(dim=1)
    if bool((mean <= 0).any()):
        raise ValueError("masked_text_noise_norm: a mask has mean 0 (no attention on the EOS token?); m′ divides by "
                         "mean(M)")
    diff = eps_cond.float() - eps_uncond.float()
    return _per_item_norm(diff * mask.float()) / mean
