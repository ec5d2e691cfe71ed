"""The teacher's DCT band input (bench.methods.two_in_one_kd.frequency) against scipy's DCT."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import torch

from bench.methods.two_in_one_kd.frequency import DEFAULT_BANDS, band_decompose, band_masks, dct_matrix


def test_dct_matrix_is_scipys_orthonormal_dct():
    x = np.random.default_rng(0).standard_normal(7)
    ours = dct_matrix(7, torch.float64) @ torch.from_numpy(x)
    np.testing.assert_allclose(ours.numpy(), scipy.fft.dct(x, norm="ortho"), atol=1e-12)
    d = dct_matrix(5, torch.float64)
    torch.testing.assert_close(d @ d.T, torch.eye(5, dtype=torch.float64))


def test_bands_split_the_dct_coefficients_by_diagonal_index():
    masks = band_masks(4, 4, ((0.0, 0.5), (0.5, 1.0)))
    # (u + v) / 6: u + v in {0, 1, 2} -> band 0, {3, ..., 6} -> band 1 (the corner, r = 1, included)
    expected_low = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]], dtype=torch.float32)
    torch.testing.assert_close(masks[0], expected_low)
    torch.testing.assert_close(masks[0] + masks[1], torch.ones(4, 4))


def test_band_decompose_matches_scipy_and_sums_back_to_the_image():
    images = torch.rand(2, 3, 8, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = band_decompose(images)
    assert out.shape == (2, 9, 8, 6)
    torch.testing.assert_close(out.view(2, 3, 3, 8, 6).sum(1), images)  # the default bands tile [0, 1]
    coeff = scipy.fft.dctn(images.numpy(), axes=(-2, -1), norm="ortho")
    masks = band_masks(8, 6, DEFAULT_BANDS).numpy()
    high = scipy.fft.idctn(coeff * masks[2], axes=(-2, -1), norm="ortho")
    np.testing.assert_allclose(out[:, 6:9].numpy(), high, atol=1e-12)


def test_a_constant_image_lives_in_the_lowest_band_only():
    out = band_decompose(torch.full((1, 1, 8, 8), 0.7, dtype=torch.float64))
    torch.testing.assert_close(out[:, 0], torch.full((1, 8, 8), 0.7, dtype=torch.float64))
    assert out[:, 1:].abs().max().item() == pytest.approx(0.0, abs=1e-12)
