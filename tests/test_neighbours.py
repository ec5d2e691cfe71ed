"""AMG's pixel-level memorization measure: l2 and nL2 against a direct per-pair transcription of the official formula,
the greedy deduplication rule (order, in-block removals, a naive loop transcription of ``scripts/data.py``) and the
cached neighbour pool."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.tasks.generation.neighbours import (
    NeighbourPool,
    deduplicate,
    images_to_model_range,
    normalized_l2,
    pixel_l2,
)


def _official_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    """``L2`` of AMG-iddpm (``sqrt(mean((a - b)²)) / 2``), one pair, in float64."""
    return float(torch.sqrt(((a.double() - b.double()) ** 2).mean()) / 2)


def _official_nl2(l2_list: list[float], k: int, alpha: float) -> float:
    """``mL2``: nearest over alpha times the mean of the k smallest (0 where the official code divides 0 by 0)."""
    ordered = sorted(l2_list)[:k]
    denominator = alpha * sum(ordered) / len(ordered)
    return ordered[0] / denominator if denominator > 0 else 0.0


def _naive_dedup(data: torch.Tensor, k: int, alpha: float, threshold: float = 1.0) -> list[int]:
    """``scripts/data.py``'s while loop, transcribed: the pool shrinks as images are removed, i advances on keep."""
    pool = list(range(len(data)))
    i = 0
    while i < len(pool):
        others = [_official_l2(data[pool[i]], data[j]) for n, j in enumerate(pool) if n != i]
        if others and _official_nl2(others, k, alpha) < threshold:
            del pool[i]
        else:
            i += 1
    return pool


def test_pixel_l2_and_nl2_match_the_per_pair_formula():
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(5, 3, 4, 4, generator=generator) * 2 - 1
    pool = torch.rand(9, 3, 4, 4, generator=generator) * 2 - 1
    pool[6] = images[2] + 0.01  # a near copy: image 2's nearest is pool image 6
    direct = torch.tensor([[_official_l2(a, b) for b in pool] for a in images], dtype=torch.float64)
    np.testing.assert_allclose(pixel_l2(images, pool).numpy(), direct.numpy(), atol=1e-9, rtol=0)
    np.testing.assert_allclose(pixel_l2(images, pool, block_size=2).numpy(), direct.numpy(), atol=1e-9, rtol=0)
    nl2, nearest = normalized_l2(images, pool, k=4, alpha=0.5)
    expected = [_official_nl2(direct[b].tolist(), 4, 0.5) for b in range(5)]
    np.testing.assert_allclose(nl2.numpy(), expected, atol=1e-12)
    assert nearest.tolist() == direct.argmin(dim=1).tolist() and int(nearest[2]) == 6
    assert float(nl2[2]) == pytest.approx(0.01 / 2 / (0.5 * float(direct[2].sort().values[:4].mean())), abs=1e-6)
    # k beyond the pool uses every pool image; the block size changes nothing
    nl2_all, _ = normalized_l2(images, pool, k=50)
    np.testing.assert_allclose(nl2_all.numpy(), [_official_nl2(direct[b].tolist(), 9, 0.5) for b in range(5)],
                               atol=1e-12)
    np.testing.assert_allclose(normalized_l2(images, pool, k=4, block_size=1)[0].numpy(), nl2.numpy(), atol=1e-12,
                               rtol=0)


def test_exact_copies_have_nl2_zero_and_the_lowest_index():
    pool = torch.linspace(-1, 1, 8).view(8, 1, 1, 1).repeat(1, 1, 2, 2)
    pool = torch.cat([pool, pool[3:4].repeat(3, 1, 1, 1)])  # image 3 four times: indices 3, 8, 9, 10
    nl2, nearest = normalized_l2(pool[3:4], pool, k=2)  # its two nearest are exact copies: 0 / 0 counts as 0
    assert float(nl2[0]) == 0.0 and int(nearest[0]) == 3
    nl2, nearest = normalized_l2(pool[3:4], pool, k=50)
    assert float(nl2[0]) == 0.0


def test_normalized_l2_errors():
    with pytest.raises(ValueError, match="the pool is empty"):
        normalized_l2(torch.zeros(2, 1, 2, 2), torch.zeros(0, 1, 2, 2))
    with pytest.raises(ValueError, match=r"differ in size \(C·H·W\)"):
        normalized_l2(torch.zeros(2, 3, 2, 2), torch.zeros(4, 1, 2, 2))
    with pytest.raises(ValueError, match="x / 127.5 - 1"):
        pixel_l2(torch.zeros(2, 2, 2, 1, dtype=torch.uint8), torch.zeros(4, 2, 2, 1))


def test_dedup_hand_case_keeps_the_last_of_a_near_identical_group():
    # three near-identical images, then two spread ones (one pixel: l2 = |a - b| / 2); k = 3, alpha = 0.5:
    # image 0: nL2 = 0.005 / (0.5 · mean(0.005, 0.01, 0.3)) = 0.095 -> removed; image 1 against {2, 3, 4}:
    # 0.005 / (0.5 · 0.2017) = 0.05 -> removed; image 2 against {3, 4}: 0.29 / (0.5 · 0.3) = 1.93 -> kept; 3, 4 kept.
    values = torch.tensor([0.0, 0.01, 0.02, 0.6, -0.6]).view(5, 1, 1, 1)
    for block in (1, 2, 5):
        assert deduplicate(values, k=3, block_size=block).tolist() == [2, 3, 4]
    # walked the other way round, the group's last image is the original image 0
    assert deduplicate(values.flip(0), k=3).tolist() == [0, 1, 4]
    assert _naive_dedup(values, 3, 0.5) == [2, 3, 4]
    # a non-sequential rule (every nL2 against the full pool) would drop all three: image 2's nL2 there is 0.098
    assert _official_nl2([0.01, 0.005, 0.29, 0.31], 3, 0.5) < 1.0
    assert deduplicate(values[:1]).tolist() == [0]  # a lone image stays


def test_dedup_equals_the_official_loop_on_random_data():
    generator = torch.Generator().manual_seed(1)
    data = torch.rand(40, 3, 4, 4, generator=generator) * 2 - 1
    data[[5, 17, 30]] = data[2] + 0.02 * torch.randn(3, 3, 4, 4, generator=generator)  # near copies of image 2
    data[[11, 25]] = data[9].clone()  # exact copies of image 9
    data[33] = data[20].clone() + 0.05 * torch.randn(3, 4, 4, generator=generator)
    for k in (5, 50):
        kept = deduplicate(data, k=k, block_size=7)
        assert kept.tolist() == _naive_dedup(data, k, 0.5)
        assert 2 not in kept.tolist() and 9 not in kept.tolist() and 25 in kept.tolist()
    assert len(deduplicate(data, k=5)) < 40


def test_images_to_model_range():
    as_uint8 = torch.tensor([0, 255, 51], dtype=torch.uint8).view(1, 1, 3, 1)  # [N, H, W, C]
    np.testing.assert_allclose(images_to_model_range(as_uint8, "x").numpy(), [[[[-1.0, 1.0, -0.6]]]], atol=1e-7)
    as_float = torch.tensor([0.0, 1.0, 0.25]).view(1, 1, 1, 3)  # [N, C, H, W] in [0, 1]
    np.testing.assert_allclose(images_to_model_range(as_float, "x").numpy(), [[[[-1.0, 1.0, -0.5]]]])
    with pytest.raises(ValueError, match=r"pool X: float images must lie in \[0, 1\].*\(x \+ 1\) / 2"):
        images_to_model_range(as_float - 1, "pool X")


def test_neighbour_pool_is_deduplicated_cached_and_recorded(tmp_path):
    spec = {"type": "DigitsDuplicated", "num_duplicated": 2, "copies": 6, "train_size": 60, "val_size": 20}
    pool = NeighbourPool.build(spec, tmp_path, dedup=1.0, k=50)
    facts = pool.facts
    assert facts["size_before"] == 60 + 2 * 5 and facts["size_after"] == len(pool.kept) == len(pool.images)
    # each planted group of six identical images keeps only its last copy
    assert facts["size_after"] <= 60 - 2 + 2
    assert len(facts["sha256"]) == 64 and facts["bytes"] > 0 and facts["dataset"] == spec
    assert (facts["dedup"], facts["k"], facts["alpha"]) == (1.0, 50, 0.5)
    assert float(pool.images.min()) >= -1.0 and float(pool.images.max()) <= 1.0 and pool.images.shape[1:] == (1, 8, 8)
    files = list(tmp_path.glob("neighbours-DigitsDuplicated-*.npz"))
    assert len(files) == 1
    again = NeighbourPool.build(spec, tmp_path, dedup=1.0, k=50)  # read from the cache
    assert again.facts["sha256"] == facts["sha256"] and torch.equal(again.kept, pool.kept)
    whole = NeighbourPool.build(spec, tmp_path, dedup=None)  # another setting, another file
    assert whole.facts["size_after"] == 70 and len(list(tmp_path.glob("neighbours-*.npz"))) == 2
    nl2, nearest = pool.nearest(pool.images[:3])
    assert nl2.shape == (3,) and nearest.tolist() == [0, 1, 2]
