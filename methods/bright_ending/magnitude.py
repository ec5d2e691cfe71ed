"""Wen's text-conditional noise magnitude and BE's masked magnitude m′, and their aggregation into a prompt score.

Per denoising step and generation, Wen et al. (ICLR 2024, ``YuxinWenRick/diffusion_memorization``
``local_sd_pipeline.py``, ``text_noise_norm``) record ‖ε(x_t, prompt) − ε(x_t, ∅)‖₂; Bright Ending
(``chenchen-usyd/BE-PRSS``, ``text_noise_norm_masked``) records ‖(ε_c − ε_u) ⊙ M‖₂ / mean(M) with the EOS map M of
shape (n, 1, h, w) broadcast over the latent channels and its mean taken per generation. A prompt's score is the
mean over the steps ``start:end`` of the mean over its first ``n_gens`` generations (Wen's ``det_mem_viz.ipynb``).
The norms are taken in float32 (the official code takes them in the pipeline's fp16).
"""
from __future__ import annotations

import torch

# The paper's step budgets (BE detection table: "First Step", "First 10 Steps", "All Steps") as [start, end) slices.
STEP_BUDGETS: dict[str, tuple[int, int | None]] = {"first_step": (0, 1), "first_10_steps": (0, 10),
                                                   "all_steps": (0, None)}


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


def step_slice(budget: str | tuple[int, int | None]) -> tuple[int, int | None]:
    """A named budget from :data:`STEP_BUDGETS` or an explicit ``(start, end)``."""
    if isinstance(budget, str):
        if budget not in STEP_BUDGETS:
            raise ValueError(f"unknown step budget {budget!r}; the budgets are {', '.join(STEP_BUDGETS)} or a "
                             "(start, end) pair")
        return STEP_BUDGETS[budget]
    start, end = budget
    return int(start), None if end is None else int(end)


def prompt_scores(tracks: torch.Tensor, n_gens: int, budget: str | tuple[int, int | None] = "all_steps") \
        -> torch.Tensor:
    """One detection score per prompt from per-step magnitudes ``tracks`` (prompts, generations, steps) or one
    prompt's (generations, steps): mean over the budget's steps of the mean over the first ``n_gens`` generations.

    Unlike the official slicing, a track with fewer generations or steps than asked is an error, not a silently
    smaller average."""
    single = tracks.ndim == 2
    if single:
        tracks = tracks.unsqueeze(0)
    if tracks.ndim != 3:
        raise ValueError(f"prompt_scores: tracks must be (prompts, generations, steps), got {tuple(tracks.shape)}")
    start, end = step_slice(budget)
    steps = tracks.shape[2]
    stop = steps if end is None else end
    if not 0 < n_gens <= tracks.shape[1]:
        raise ValueError(f"prompt_scores: n_gens={n_gens} but the tracks hold {tracks.shape[1]} generations per "
                         "prompt; generate at least n_gens images per prompt")
    if not 0 <= start < stop <= steps:
        raise ValueError(f"prompt_scores: steps {start}:{stop} are outside the {steps} recorded steps")
    scores = tracks[:, :n_gens, start:stop].double().mean(dim=1).mean(dim=1)
    return scores[0] if single else scores
