"""Wen's magnitude and BE's masked magnitude against the direct formula and hand cases, and the per-prompt
aggregation against Wen's notebook arithmetic."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bench.methods.bright_ending.magnitude import (STEP_BUDGETS, masked_text_noise_norm, prompt_scores,
                                                   text_noise_norm)
from helpers import rounding_tolerance


def test_text_noise_norm_is_the_per_generation_l2_of_the_difference():
    g = torch.Generator().manual_seed(0)
    cond, uncond = torch.randn(3, 4, 5, 5, generator=g), torch.randn(3, 4, 5, 5, generator=g)
    a, b = cond.flatten(1).tolist(), uncond.flatten(1).tolist()
    direct = [math.sqrt(sum((a[i][j] - b[i][j]) ** 2 for j in range(100))) for i in range(3)]
    got = text_noise_norm(cond, uncond)
    assert got.dtype == torch.float32 and got.shape == (3,)
    assert max(abs(got[i].item() - direct[i]) for i in range(3)) <= rounding_tolerance(torch.float32, 20.0, 100)
    # hand case: a difference of ones over 4×2×2 has norm √16 = 4
    assert text_noise_norm(torch.ones(1, 4, 2, 2), torch.zeros(1, 4, 2, 2)).tolist() == [4.0]
    with pytest.raises(ValueError, match=r"conditional \(1, 4, 2, 2\) and unconditional \(1, 4, 2, 3\)"):
        text_noise_norm(torch.ones(1, 4, 2, 2), torch.zeros(1, 4, 2, 3))


def test_masked_magnitude_hand_cases_and_direct_formula():
    cond, uncond = torch.ones(2, 4, 2, 2), torch.zeros(2, 4, 2, 2)
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]], [[[0.5, 0.5], [0.5, 0.5]]]])  # (2, 1, 2, 2)
    # item 0: one pixel over 4 channels -> ‖·‖ = 2, mean(M) = 0.25 -> 8; item 1: a constant mask is no mask -> 4
    assert masked_text_noise_norm(cond, uncond, mask).tolist() == [8.0, 4.0]
    assert masked_text_noise_norm(cond, uncond, mask[:, 0]).tolist() == [8.0, 4.0]  # (n, H, W) masks too
    g = torch.Generator().manual_seed(1)
    cond, uncond = torch.randn(2, 4, 8, 8, generator=g), torch.randn(2, 4, 8, 8, generator=g)
    mask = torch.rand(2, 1, 8, 8, generator=g)
    diff, m = (cond - uncond).numpy().astype(np.float64), mask.numpy().astype(np.float64)
    direct = [np.linalg.norm(diff[i] * m[i]) / m[i].mean() for i in range(2)]  # M broadcast over the 4 channels
    got = masked_text_noise_norm(cond, uncond, mask)
    assert np.abs(got.numpy() - direct).max() <= rounding_tolerance(torch.float32, max(direct), 300)
    # fp16 inputs (the pipeline's dtype) are taken in float32
    half = masked_text_noise_norm(cond.half(), uncond.half(), mask.half())
    assert half.dtype == torch.float32


def test_masked_magnitude_rejects_bad_masks():
    cond = torch.ones(2, 4, 2, 2)
    with pytest.raises(ValueError, match=r"mask \(2, 4, 2, 2\) does not fit noise predictions \(2, 4, 2, 2\)"):
        masked_text_noise_norm(cond, cond * 0, torch.ones(2, 4, 2, 2))
    with pytest.raises(ValueError, match=r"mask \(1, 1, 2, 2\) does not fit"):
        masked_text_noise_norm(cond, cond * 0, torch.ones(1, 1, 2, 2))
    with pytest.raises(ValueError, match=r"a mask has mean 0"):
        masked_text_noise_norm(cond, cond * 0, torch.zeros(2, 1, 2, 2))


def wen_notebook_score(track: np.ndarray, num_gens: int, start: int, end: int) -> float:
    """``det_mem_viz.ipynb``'s arithmetic: slice gens and steps, mean over gens, then mean over steps."""
    return float(np.mean(np.mean(track[:num_gens, start:end], axis=0)))


def test_prompt_score_hand_case_and_budgets():
    # 3 generations × 12 steps: value = 100·gen + step
    track = torch.tensor([[100.0 * g + s for s in range(12)] for g in range(3)])
    assert STEP_BUDGETS == {"first_step": (0, 1), "first_10_steps": (0, 10), "all_steps": (0, None)}
    assert float(prompt_scores(track, 1, "first_step")) == 0.0
    assert float(prompt_scores(track, 2, "first_step")) == 50.0        # gens 0, 1 at step 0
    assert float(prompt_scores(track, 2, "first_10_steps")) == 54.5    # 50 + mean(0..9)
    assert float(prompt_scores(track, 3, "all_steps")) == 105.5        # 100 + mean(0..11)
    assert float(prompt_scores(track, 3, (2, 5))) == 103.0
    g = torch.Generator().manual_seed(2)
    tracks = torch.rand(4, 16, 50, generator=g) * 10  # prompts × generations × steps
    for n_gens in (1, 4, 16):
        for budget, (start, end) in STEP_BUDGETS.items():
            got = prompt_scores(tracks, n_gens, budget)
            want = [wen_notebook_score(t.numpy().astype(np.float64), n_gens, start, end or 50) for t in tracks]
            assert got.shape == (4,)
            assert np.abs(got.numpy() - want).max() <= 1e-12


def test_prompt_score_errors_instead_of_a_smaller_average():
    track = torch.ones(4, 10)
    with pytest.raises(ValueError, match=r"n_gens=16 but the tracks hold 4 generations"):
        prompt_scores(track, 16)
    with pytest.raises(ValueError, match=r"steps 0:50 are outside the 10 recorded steps"):
        prompt_scores(track, 4, (0, 50))
    with pytest.raises(ValueError, match=r"unknown step budget 'first_5'; the budgets are first_step, "
                                         r"first_10_steps, all_steps"):
        prompt_scores(track, 4, "first_5")
    with pytest.raises(ValueError, match=r"must be \(prompts, generations, steps\), got \(10,\)"):
        prompt_scores(torch.ones(10), 1)
