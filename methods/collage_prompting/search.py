"""Arrangement search for one collage: CollagePrompt's genetic algorithm, the 25-permutation brute force, random.

Every search takes ``score_fn(arrangements: LongTensor[P, n]) -> Tensor[P]`` (higher is better, e.g. a bound
:func:`~.predictor.score_arrangements`) and returns one arrangement ``LongTensor[n]`` (``arr[p]`` = index of the image
placed at grid position ``p``). The official scripts score one permutation per forward pass; here a whole population
goes to ``score_fn`` at once.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

ScoreFn = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class GAPreset:
    """One official ``pygad.GA`` setting (everything not named here is pygad's default: steady-state parent
    selection, single-point crossover, random mutation of one gene, one elite)."""

    num_solutions: int
    num_parents_mating: int
    num_generations: int
    stop_criteria: str
    crossover_type: str = "single_point"


#: ``Inference_bench_2x2.py`` / ``Inference_bench_3x3.py``; ``2x2_explore``: the variant in ``collage_train_2x2.py``
GA_PRESETS: dict[str, GAPreset] = {
    "2x2": GAPreset(20, 5, 3, "saturate_5"),
    "3x3": GAPreset(20, 5, 3, "saturate_10"),
    "2x2_explore": GAPreset(5, 3, 5, "saturate_3", crossover_type="uniform"),
}


def _grid_size(grid: int) -> int:
    if not isinstance(grid, int) or grid < 2:
        raise ValueError(f"grid must be an integer >= 2 (2 or 3 in the paper), got {grid!r}")
    return grid * grid


def random_arrangement(grid: int, seed: int) -> Tensor:
    """A uniformly random arrangement of a ``grid`` x ``grid`` collage, fixed by ``seed``."""
    return torch.randperm(_grid_size(grid), generator=torch.Generator().manual_seed(seed))


def _scores(score_fn: ScoreFn, arrangements: Tensor) -> Tensor:
    scores = torch.as_tensor(score_fn(arrangements)).detach().reshape(-1).double().cpu()
    if scores.numel() != arrangements.shape[0]:
        raise ValueError(f"score_fn returned {scores.numel()} scores for {arrangements.shape[0]} arrangements; it "
                         "must map LongTensor[P, n] to a Tensor[P]")
    return scores


def brute_force_search(score_fn: ScoreFn, grid: int, num: int = 25, seed: int = 0) -> Tensor:
    """The best of ``num`` random permutations (the official ``brute_force_adj`` scores 25), scored in one call;
    the first of equal maxima wins, as the official strict ``>`` keeps it."""
    n = _grid_size(grid)
    if num < 1:
        raise ValueError(f"num must be >= 1, got {num}")
    generator = torch.Generator().manual_seed(seed)
    candidates = torch.stack([torch.randperm(n, generator=generator) for _ in range(num)])
    return candidates[int(torch.argmax(_scores(score_fn, candidates)))].clone()


@contextmanager
def _restored_global_rng() -> Iterator[None]:
    """pygad seeds ``numpy.random`` and ``random`` globally; put both back afterwards."""
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        yield
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)


def ga_search(score_fn: ScoreFn, grid: int, preset: str | None = None, seed: int = 0, *,
              on_generation: Callable[[Any], object] | None = None) -> Tensor:
    """CollagePrompt's GA (``pygad``, permutation genome: ``gene_space=range(n)``, ``allow_duplicate_genes=False``)
    with an official ``preset`` (default: the one named after ``grid``); the best arrangement of the final population.

    Fitness is the score itself. The official fitness ``1 / (|pred * std - 1| + 1e-8)``, with ``pred * std`` the
    predicted accuracy minus the training mean (below 1), is a strictly increasing function of the score, and every
    decision of this GA (steady-state selection, the elite, ``best_solution``, ``saturate_k``) depends only on the
    order of fitness values, so both give the same search. The final population is re-scored here because pygad
    3.5's cached fitness can pair a solution with another's value.
    """
    import pygad  # heavy import, only when a GA runs

    n = _grid_size(grid)
    name = preset or f"{grid}x{grid}"
    if name not in GA_PRESETS:
        raise ValueError(f"unknown GA preset {name!r}; choose one of {', '.join(GA_PRESETS)}")
    setting = GA_PRESETS[name]
    rng = np.random.default_rng(seed)
    initial = np.stack([rng.permutation(n) for _ in range(setting.num_solutions)])

    def fitness(_ga: Any, solutions: Any, _indices: Any) -> list[float]:
        batch = torch.as_tensor(np.asarray(solutions, dtype=np.int64).reshape(-1, n))
        return _scores(score_fn, batch).tolist()

    with _restored_global_rng():
        ga = pygad.GA(num_generations=setting.num_generations, num_parents_mating=setting.num_parents_mating,
                      initial_population=initial, gene_space=range(n), gene_type=int, fitness_func=fitness,
                      fitness_batch_size=setting.num_solutions, allow_duplicate_genes=False,
                      crossover_type=setting.crossover_type, stop_criteria=[setting.stop_criteria],
                      on_generation=on_generation, random_seed=seed, suppress_warnings=True)
        ga.run()
    population = torch.as_tensor(np.asarray(ga.population, dtype=np.int64))
    valid = (population.sort(dim=1).values == torch.arange(n)).all(dim=1)
    if not valid.any():
        raise RuntimeError(f"pygad left no permutation in the final population: {population.tolist()}")
    population = population[valid]
    return population[int(torch.argmax(_scores(score_fn, population)))].clone()


#: the searches :func:`offline_evaluate` knows, by name
SEARCHES = ("random", "brute_force", "ga")


def offline_evaluate(model: torch.nn.Module, features: Tensor, grid: int, *, searches: tuple[str, ...] = SEARCHES,
                     seed: int = 0, preset: str | None = None) -> dict[str, dict[str, Tensor]]:
    """The offline benchmark: for each collage ``features [N, n, D]``, each search's arrangement and the predictor's
    score of it. Returns ``{search: {"arrangements": [N, n], "predicted": [N]}}``; collage ``i`` uses seed
    ``seed + i`` in every search, so runs are reproducible and searches see the same random draws."""
    from .predictor import score_arrangements

    unknown = [name for name in searches if name not in SEARCHES]
    if unknown:
        raise ValueError(f"unknown search(es) {unknown}; choose from {', '.join(SEARCHES)}")
    n = _grid_size(grid)
    if features.ndim != 3 or features.shape[1] != n:
        raise ValueError(f"features must be [N, {n}, D] for {grid}x{grid} collages, got {tuple(features.shape)}")
    results: dict[str, dict[str, list[Tensor]]] = {name: {"arrangements": [], "predicted": []} for name in searches}
    for index in range(features.shape[0]):
        collage = features[index]

        def score(arrangements: Tensor, collage: Tensor = collage) -> Tensor:
            return score_arrangements(model, collage, arrangements, grid)  # type: ignore[arg-type]

        for name in searches:
            if name == "random":
                chosen = random_arrangement(grid, seed + index)
            elif name == "brute_force":
                chosen = brute_force_search(score, grid, seed=seed + index)
            else:
                chosen = ga_search(score, grid, preset, seed + index)
            results[name]["arrangements"].append(chosen)
            results[name]["predicted"].append(score(chosen.view(1, -1)).view(()))
    return {name: {key: torch.stack(values) for key, values in parts.items()} for name, parts in results.items()}
