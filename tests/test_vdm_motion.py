"""OFS-k and NMF (re-implementation): flow similarity and top-k aggregation against direct formulas, both pairings,
the natural motion filter on static / pan / object-motion hand cases, and ofs_matrix against ofs."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bench.methods.vdm_memorization.motion import (
    OFSSettings,
    flow_similarity,
    natural_motion_mask,
    ofs,
    ofs_matrix,
    resize_flows,
    top_k_mean,
)


def fields(count: int, seed: int, size: tuple[int, int] = (4, 5)) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(count, 2, *size))


def direct_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float((a * b).sum() / math.sqrt((a * a).sum() * (b * b).sum()))


def direct_neg_epe(a: np.ndarray, b: np.ndarray) -> float:
    return -float(np.mean([math.hypot(a[0, y, x] - b[0, y, x], a[1, y, x] - b[1, y, x])
                           for y in range(a.shape[1]) for x in range(a.shape[2])]))


def blob(move: tuple[float, float], size: tuple[int, int] = (8, 8)) -> np.ndarray:
    """A 2 x 2 object moving by ``move`` (x, y) on a still background: one [2, H, W] field."""
    field = np.zeros((2, *size))
    field[0, 2:4, 2:4], field[1, 2:4, 2:4] = move
    return field


def test_resize_scales_each_vector_component_by_its_axis_ratio():
    flows = torch.zeros(1, 2, 64, 32, dtype=torch.float64)
    flows[:, 0], flows[:, 1] = 2.0, 1.0
    resized = resize_flows(flows, (32, 32))
    assert resized.shape == (1, 2, 32, 32)
    torch.testing.assert_close(resized[:, 0], torch.full((1, 32, 32), 2.0, dtype=torch.float64))
    torch.testing.assert_close(resized[:, 1], torch.full((1, 32, 32), 0.5, dtype=torch.float64))


@pytest.mark.parametrize("similarity,direct", [("cosine", direct_cosine), ("neg_epe", direct_neg_epe)])
def test_flow_similarity_is_the_direct_formula_for_every_pair(similarity, direct):
    a, b = fields(3, 0), fields(2, 1)
    got = flow_similarity(torch.from_numpy(a), torch.from_numpy(b), similarity).numpy()
    expected = [[direct(a[i], b[j]) for j in range(2)] for i in range(3)]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_cosine_of_a_zero_field_is_zero():
    a = np.zeros((1, 2, 4, 5))
    assert flow_similarity(torch.from_numpy(a), torch.from_numpy(fields(1, 2)), "cosine").item() == 0.0


def test_top_k_mean_on_hand_cases_for_both_pairings():
    s = torch.tensor([[0.1, 0.9], [0.5, 0.3], [0.8, 0.2]])
    assert top_k_mean(s, 3, "all") == pytest.approx((0.9 + 0.8 + 0.5) / 3)
    assert top_k_mean(s, 1, "all") == pytest.approx(0.9)
    assert top_k_mean(s, 3, "aligned") == pytest.approx((0.1 + 0.3) / 2)  # only 2 aligned pairs: mean of those
    assert top_k_mean(s, 1, "aligned") == pytest.approx(0.3)
    keep_rows = torch.tensor([True, True, False])
    assert top_k_mean(s, 2, "all", keep_a=keep_rows) == pytest.approx((0.9 + 0.5) / 2)
    assert math.isnan(top_k_mean(s, 2, "aligned", keep_a=torch.tensor([False, True, True]),
                                 keep_b=torch.tensor([True, False])))


@pytest.mark.parametrize("pairing", ["all", "aligned"])
@pytest.mark.parametrize("similarity,direct", [("cosine", direct_cosine), ("neg_epe", direct_neg_epe)])
def test_ofs_is_the_mean_of_the_top_k_direct_pair_similarities(pairing, similarity, direct):
    gen, ref = fields(4, 3), fields(3, 4)
    pairs = [(i, j) for i in range(4) for j in range(3) if pairing == "all" or i == j]
    top = sorted((direct(gen[i], ref[j]) for i, j in pairs), reverse=True)[:2]
    settings = OFSSettings(k=2, pairing=pairing, similarity=similarity, size=(4, 5))
    assert ofs(gen, ref, settings) == pytest.approx(sum(top) / 2, rel=1e-12)


def test_a_copied_motion_scores_1_and_beats_a_different_one():
    motion = np.stack([blob((2, 1)), blob((2, 1)), blob((1, 2))])
    other = np.stack([blob((-2, 0)), blob((0, -2))])
    settings = OFSSettings(k=2, size=(8, 8))
    assert ofs(motion, motion[::-1].copy(), settings) == pytest.approx(1.0)
    assert ofs(motion, other, settings) < 0.3


def test_nmf_drops_static_and_panning_fields_and_keeps_object_motion():
    rng = np.random.default_rng(5)
    static = rng.normal(scale=0.01, size=(2, 8, 8))
    pan = np.stack([np.full((8, 8), 2.0), np.full((8, 8), -1.0)]) + rng.normal(scale=0.05, size=(2, 8, 8))
    moving = blob((2, 1))
    flows = torch.from_numpy(np.stack([static, pan, moving]))
    assert natural_motion_mask(flows, 0.1, 0.25).tolist() == [False, False, True]
    # the blob: mean magnitude sqrt(5) * 4/64, spread sqrt(5) * sqrt(4/64 - (4/64)^2) -> ratio sqrt(15) = 3.87
    assert natural_motion_mask(flows, 0.1, 3.8).tolist() == [False, False, True]
    assert natural_motion_mask(flows, 0.1, 3.9).tolist() == [False, False, False]
    assert natural_motion_mask(flows, 0.0, 0.0).tolist() == [True, True, True]


def test_nmf_changes_ofs_and_a_video_with_nothing_left_scores_nan():
    rng = np.random.default_rng(6)
    pan = np.stack([np.stack([np.full((8, 8), 1.5), np.zeros((8, 8))]) for _ in range(3)])
    static = rng.normal(scale=0.01, size=(3, 2, 8, 8))
    mixed = np.stack([pan[0], blob((2, 1)), blob((2, 1))])
    reference = np.stack([np.stack([np.zeros((8, 8)), np.full((8, 8), 1.5)]), blob((2, 1))])  # a vertical pan
    on, off = OFSSettings(k=3, size=(8, 8), nmf=True), OFSSettings(k=3, size=(8, 8))
    assert ofs(mixed, reference, on) == pytest.approx(1.0)  # only the blob fields remain: 2 x 1 pairs, both 1
    # without NMF the third best pair is the horizontal pan against the blob: 4 * 1.5 * 2 / (12 * sqrt(20))
    assert ofs(mixed, reference, off) == pytest.approx((2 + 12 / (12 * math.sqrt(20))) / 3)
    assert math.isnan(ofs(pan, reference, on)) and math.isnan(ofs(static, reference, on))
    assert not math.isnan(ofs(pan, reference, off))


@pytest.mark.parametrize("similarity", ["cosine", "neg_epe"])
def test_ofs_matrix_is_ofs_of_every_pair(similarity):
    gens = [fields(3, 10, (8, 6)), np.zeros((2, 2, 8, 6)), fields(4, 11, (16, 12))]
    refs = [fields(2, 12, (8, 6)), fields(5, 13, (4, 4))]
    settings = OFSSettings(k=3, similarity=similarity, size=(8, 6), nmf=True, min_magnitude=0.2)
    matrix = ofs_matrix(gens, refs, settings)
    assert matrix.shape == (3, 2)
    expected = [[ofs(g, r, settings) for r in refs] for g in gens]
    np.testing.assert_allclose(matrix, expected, rtol=1e-12)
    assert np.isnan(matrix[1]).all() and not np.isnan(matrix[[0, 2]]).any()


def test_bad_settings_and_flows_are_refused():
    with pytest.raises(ValueError, match="k must be a positive integer; got 0"):
        OFSSettings(k=0)
    with pytest.raises(ValueError, match=r"pairing must be one of \('all', 'aligned'\); got 'diagonal'"):
        OFSSettings(pairing="diagonal")
    with pytest.raises(ValueError, match="similarity must be one of"):
        OFSSettings(similarity="l2")
    with pytest.raises(ValueError, match=r"size must be \(height, width\)"):
        OFSSettings(size=(32,))
    with pytest.raises(ValueError, match=r"reference flows: expected flow fields \[T-1, 2, H, W\].*got shape "
                                         r"\(3, 8, 8, 2\)"):
        ofs(fields(2, 0), np.zeros((3, 8, 8, 2)))
    bad = fields(2, 0)
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="generated video 0: the flow fields hold NaN"):
        ofs_matrix([bad], [fields(2, 1)])
    info = OFSSettings().describe()
    assert info["k"] == 3 and info["size"] == [32, 32] and "re-implementation" in info["label"]
