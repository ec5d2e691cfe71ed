"""CollagePrompt's arrangement searches: the pygad GA (official presets), brute force, random, offline_evaluate."""
import random

import numpy as np
import pytest
import torch

from bench.methods.collage_prompting.predictor import CollageAccuracyPredictor, score_arrangements
from bench.methods.collage_prompting.search import (
    GA_PRESETS,
    brute_force_search,
    ga_search,
    offline_evaluate,
    random_arrangement,
)

WEIGHTS = torch.tensor([5.0, 1.0, 4.0, 2.0, 9.0, 3.0, 8.0, 6.0, 7.0])


class RecordingScore:
    """score(arr) = sum_p w[p] * arr[p] (best: large image indices on heavy positions); keeps every batch."""

    def __init__(self, grid: int = 3) -> None:
        self.weights, self.batches = WEIGHTS[: grid * grid], []

    def __call__(self, arrangements: torch.Tensor) -> torch.Tensor:
        self.batches.append(arrangements.clone())
        return (arrangements.double() * self.weights).sum(1)


def is_permutation(arrangement: torch.Tensor, n: int) -> bool:
    return arrangement.dtype == torch.long and sorted(arrangement.tolist()) == list(range(n))


def test_random_arrangement_is_a_seeded_permutation():
    assert torch.equal(random_arrangement(3, 4), random_arrangement(3, 4))
    assert is_permutation(random_arrangement(3, 4), 9) and is_permutation(random_arrangement(2, 0), 4)
    assert not torch.equal(random_arrangement(3, 4), random_arrangement(3, 5))
    with pytest.raises(ValueError, match="grid must be an integer >= 2"):
        random_arrangement(1, 0)


def test_brute_force_returns_the_best_of_25_permutations_scored_at_once():
    score = RecordingScore()
    best = brute_force_search(score, 3, seed=1)
    (batch,) = score.batches
    assert batch.shape == (25, 9) and all(is_permutation(row, 9) for row in batch)
    values = (batch.double() * WEIGHTS).sum(1)
    assert torch.equal(best, batch[int(values.argmax())])
    assert torch.equal(best, brute_force_search(RecordingScore(), 3, seed=1))
    # ties: the first maximum wins, as the official strict '>' keeps it
    flat = brute_force_search(lambda arr: torch.zeros(arr.shape[0]), 3, num=5, seed=2)
    assert torch.equal(flat, brute_force_search(RecordingScore(), 3, num=1, seed=2))


def test_ga_is_deterministic_by_seed_and_leaves_the_global_rng_alone():
    np.random.seed(123)
    random.seed(123)
    numpy_state, python_draw = np.random.get_state()[1].copy(), random.getstate()
    first = ga_search(RecordingScore(), 3, seed=7)
    assert np.array_equal(np.random.get_state()[1], numpy_state) and random.getstate() == python_draw
    assert torch.equal(first, ga_search(RecordingScore(), 3, "3x3", seed=7))
    assert is_permutation(first, 9)
    others = {tuple(ga_search(RecordingScore(), 3, seed=s).tolist()) for s in range(4)}
    assert len(others) > 1  # the seed matters


def test_ga_scores_whole_populations_and_returns_the_best_of_the_last():
    score = RecordingScore()
    best = ga_search(score, 3, seed=0)
    setting = GA_PRESETS["3x3"]
    assert score.batches[0].shape == (setting.num_solutions, 9)  # the initial population in one call
    assert len(score.batches) <= setting.num_generations + 2  # + the final re-scoring
    seen = torch.cat(score.batches)
    assert all(is_permutation(row, 9) for row in seen)  # no duplicate genes
    final = score.batches[-1]
    assert torch.equal(best, final[int((final.double() * WEIGHTS).sum(1).argmax())])
    initial_best = (score.batches[0].double() * WEIGHTS).sum(1).max()
    assert (best.double() * WEIGHTS).sum() >= initial_best  # the elite survives


def test_ga_presets_and_errors():
    assert (GA_PRESETS["2x2"].stop_criteria, GA_PRESETS["3x3"].stop_criteria) == ("saturate_5", "saturate_10")
    assert is_permutation(ga_search(RecordingScore(2), 2, seed=0), 4)
    explore = RecordingScore(2)
    assert is_permutation(ga_search(explore, 2, "2x2_explore", seed=0), 4)
    assert explore.batches[0].shape == (5, 4)
    with pytest.raises(ValueError, match="unknown GA preset '4x4'; choose one of 2x2, 3x3, 2x2_explore"):
        ga_search(RecordingScore(), 3, "4x4")
    with pytest.raises(ValueError, match=r"score_fn returned 1 scores for 20 arrangements"):
        ga_search(lambda arr: torch.zeros(1), 3)


def test_offline_evaluate_scores_each_search_with_the_predictor():
    torch.manual_seed(0)
    model = CollageAccuracyPredictor(in_dim=8, hidden=16)
    features = torch.randn(2, 9, 8)
    out = offline_evaluate(model, features, 3, seed=3)
    assert set(out) == {"random", "brute_force", "ga"}
    for result in out.values():
        assert result["arrangements"].shape == (2, 9) and result["predicted"].shape == (2,)
        for i in range(2):
            assert result["predicted"][i].item() == pytest.approx(
                score_arrangements(model, features[i], result["arrangements"][i:i + 1], 3).item())
    assert torch.equal(out["random"]["arrangements"][1], random_arrangement(3, 4))
    with pytest.raises(ValueError, match="unknown search"):
        offline_evaluate(model, features, 3, searches=("annealing",))
