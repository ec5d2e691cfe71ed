"""Wen's magnitude and BE's masked magnitude against the direct formula and hand cases."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bench.methods.bright_ending.magnitude import masked_text_noise_norm, text_noise_norm
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
