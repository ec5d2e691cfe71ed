"""GSSCD (re-implemented content memorization of video diffusion) on hand-made descriptor matrices."""
from __future__ import annotations

import math

import pytest
import torch

from bench.methods.vdm_memorization.content import (DEFAULT_THRESHOLDS, aggregate_pairs, describe,
                                                    frame_descriptors, gsscd)
from bench.tasks.generation.extractors.pixels import PixelCorrelationFeatures


def unit(angle_degrees: float) -> torch.Tensor:
    """A 2-D unit descriptor at ``angle_degrees``: the cosine of two of them is cos(angle difference)."""
    radians = math.radians(angle_degrees)
    return torch.tensor([math.cos(radians), math.sin(radians)])


def test_aggregations_of_one_similarity_matrix() -> None:
    similarity = torch.tensor([[0.1, 0.9, 0.2],
                               [0.4, 0.3, 0.5],
                               [0.0, 0.6, 0.7]])
    assert aggregate_pairs(similarity).item() == pytest.approx(0.9)
    assert aggregate_pairs(similarity, "mean_of_max").item() == pytest.approx((0.9 + 0.5 + 0.7) / 3)
    assert aggregate_pairs(similarity, "topk", k=3).item() == pytest.approx((0.9 + 0.7 + 0.6) / 3)
    assert aggregate_pairs(similarity, "topk", k=1).item() == pytest.approx(0.9)
    with pytest.raises(ValueError, match="k=10 exceeds the 3 x 3 frame pairs"):
        aggregate_pairs(similarity, "topk", k=10)
    with pytest.raises(ValueError, match=r"aggregate must be one of \('max', 'mean_of_max', 'topk'\), got 'min'"):
        aggregate_pairs(similarity, "min")


def test_gsscd_scores_best_reference_and_thresholds() -> None:
    # generated video 0 repeats reference 1's second frame once; video 1 is near reference 0 in every frame
    generated = [torch.stack([unit(90), unit(30), unit(170)]),
                 torch.stack([unit(50), unit(55), unit(60)])]
    references = [torch.stack([unit(50), unit(60)]), torch.stack([unit(120), unit(30)])]
    result = gsscd(generated, references)
    expected = torch.tensor([[math.cos(math.radians(20)), 1.0],  # closest pair (30°, 50°); exact copy
                             [1.0, math.cos(math.radians(20))]])  # exact copy; closest pair (50°, 30°)
    assert torch.allclose(result.scores, expected, atol=1e-6)
    assert result.best_reference.tolist() == [1, 0]
    assert torch.allclose(result.gsscd, torch.tensor([1.0, 1.0]), atol=1e-6)
    assert sorted(result.memorized) == list(DEFAULT_THRESHOLDS)

    mean_of_max = gsscd(generated, references, aggregate="mean_of_max", thresholds=(0.8, 0.9))
    cos = lambda degrees: math.cos(math.radians(degrees))  # noqa: E731
    video0 = [(cos(30) + cos(20) + cos(110)) / 3, (cos(30) + 1.0 + cos(50)) / 3]  # best ref frame per gen frame
    video1 = [(1.0 + cos(5) + 1.0) / 3, (cos(20) + cos(25) + cos(30)) / 3]
    assert torch.allclose(mean_of_max.scores, torch.tensor([video0, video1]), atol=1e-6)
    assert mean_of_max.best_reference.tolist() == [1, 0]
    assert mean_of_max.gsscd[0].item() == pytest.approx(0.8363, abs=1e-4)  # one copied frame of three
    assert mean_of_max.memorized[0.8].tolist() == [True, True]
    assert mean_of_max.memorized[0.9].tolist() == [False, True]
    assert mean_of_max.fractions() == {0.8: 1.0, 0.9: 0.5}

    topk = gsscd(generated, references, aggregate="topk", k=2)
    assert topk.scores[0, 1].item() == pytest.approx((1.0 + cos(30)) / 2, abs=1e-6)  # pairs (30,30), (90,120)
    assert topk.scores[1, 0].item() == pytest.approx(1.0, abs=1e-6)  # (50,50) and (60,60)


def test_images_are_one_frame_references_and_rows_are_normalised() -> None:
    generated = torch.stack([torch.stack([unit(0), unit(10)]), torch.stack([unit(80), unit(100)])])  # [G, F, D]
    images = [3.0 * unit(100), 0.5 * unit(5)]  # [D] each: training images, any scale
    result = gsscd(generated, images, thresholds=(0.99,))
    assert torch.allclose(result.scores, torch.tensor([[math.cos(math.radians(90)), math.cos(math.radians(5))],
                                                       [1.0, math.cos(math.radians(75))]]), atol=1e-6)
    assert result.best_reference.tolist() == [1, 0]
    assert result.memorized[0.99].tolist() == [True, True]
    mixed = gsscd(generated, [unit(100), torch.stack([unit(0), unit(90)])])  # an image and a video together
    assert mixed.best_reference.tolist() == [1, 0] and mixed.scores.shape == (2, 2)


def test_threshold_is_strict_and_ties_go_to_the_first_reference() -> None:
    generated = [torch.tensor([[1.0, 0.0, 0.0, 0.0]])]
    half = torch.tensor([0.5, 0.5, 0.5, 0.5])  # unit norm exactly: cosine with the generated frame is exactly 0.5
    result = gsscd(generated, [half, half.flip(0), -half], thresholds=(0.5, 0.49))
    assert result.scores.tolist() == [[0.5, 0.5, -0.5]] and result.best_reference.tolist() == [0]
    assert result.memorized[0.5].tolist() == [False] and result.memorized[0.49].tolist() == [True]


def test_gsscd_input_errors() -> None:
    video = [torch.stack([unit(0), unit(10)])]
    with pytest.raises(ValueError, match="no references"):
        gsscd(video, [])
    with pytest.raises(ValueError, match=r"D = 2 but references D = 3"):
        gsscd(video, [torch.ones(3)])
    with pytest.raises(ValueError, match=r"references have descriptor sizes \[2, 3\]"):
        gsscd(video, [torch.ones(2), torch.ones(3)])
    with pytest.raises(ValueError, match=r"references 0 must be descriptors \[frames >= 1, D\].*\(0, 2\)"):
        gsscd(video, [torch.empty(0, 2)])
    with pytest.raises(ValueError, match=r"thresholds must be one or more cosines in \[-1, 1\], got \[1.5\]"):
        gsscd(video, [unit(0)], thresholds=(1.5,))
    with pytest.raises(ValueError, match="k must be a positive integer, got 0"):
        gsscd(video, [unit(0)], aggregate="topk", k=0)
    with pytest.raises(ValueError, match="k=3 exceeds the 2 x 1 frame pairs"):
        gsscd(video, [unit(0)], aggregate="topk", k=3)


def test_frame_descriptors_with_a_real_extractor_find_the_copied_frame() -> None:
    generator = torch.Generator().manual_seed(0)
    training = torch.randint(0, 256, (3, 8, 8, 3), dtype=torch.uint8, generator=generator)
    other = torch.randint(0, 256, (2, 8, 8, 3), dtype=torch.uint8, generator=generator)
    generated = torch.stack([other[0], training[2], other[1]])  # one copied frame
    extractor = PixelCorrelationFeatures()
    descriptors = frame_descriptors(extractor, generated)
    assert descriptors.shape == (3, 64) and torch.allclose(descriptors.norm(dim=1), torch.ones(3))
    image = frame_descriptors(extractor, other[1])  # an image [H, W, 3] is one frame
    assert image.shape == (1, 64)
    result = gsscd([descriptors], [frame_descriptors(extractor, training), image[0]], thresholds=(0.7,))
    assert result.scores[0].tolist() == pytest.approx([1.0, 1.0], abs=1e-5)
    assert result.memorized[0.7].tolist() == [True]
    with pytest.raises(ValueError, match=r"uint8 \[T, H, W, 3\].*torch.float32"):
        frame_descriptors(extractor, generated.float())


def test_describe_labels_the_re_implementation() -> None:
    facts = describe("topk", 3, (0.6,))
    assert facts["label"].startswith("re-implementation") and facts["k"] == 3 and facts["thresholds"] == [0.6]
    assert describe()["k"] is None and describe()["aggregate"] == "max"
