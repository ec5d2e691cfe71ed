"""Pixel correlation descriptors: cosine of two descriptors = Pearson correlation of the (grey) pixels."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.tasks.generation.extractors.pixels import PixelCorrelationFeatures


def test_cosine_is_pearson_and_invariant_to_brightness_and_contrast():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 128, (6, 6, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    features = PixelCorrelationFeatures()([torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(a * 2 + 1)])
    pool = features["pool"]
    assert pool.shape == (3, 36)
    assert torch.allclose(pool.norm(dim=1), torch.ones(3), atol=1e-6)
    want = np.corrcoef(a.astype(np.float64).mean(-1).ravel(), b.astype(np.float64).mean(-1).ravel())[0, 1]
    assert float(pool[0] @ pool[1]) == pytest.approx(want, abs=1e-5)
    assert float(pool[0] @ pool[2]) == pytest.approx(1.0, abs=1e-5)  # 2a + 1: same image up to contrast


def test_sizes_must_agree():
    with pytest.raises(ValueError, match=r"must share one size"):
        PixelCorrelationFeatures()([torch.zeros(4, 4, 3, dtype=torch.uint8), torch.zeros(5, 5, 3, dtype=torch.uint8)])
