"""Shared benchmark fixture: the fastest time of each contender over interleaved rounds."""
from __future__ import annotations

import time
from collections.abc import Callable

import pytest

ROUNDS = 3


@pytest.fixture
def interleaved(benchmark) -> Callable[..., dict[str, float]]:
    """``interleaved({"name": work, ...})`` runs every contender once per round, in turn, so machine drift hits
    all of them alike; the first round is a warm-up, and each contender's time is its fastest later round (load
    only ever slows a round down). The rounds are the pytest-benchmark measurement."""

    def run(contenders: dict[str, Callable[[], object]], rounds: int = ROUNDS) -> dict[str, float]:
        times: dict[str, list[float]] = {name: [] for name in contenders}

        def one_round() -> None:
            for name, work in contenders.items():
                start = time.perf_counter()
                work()
                times[name].append(time.perf_counter() - start)

        benchmark.pedantic(one_round, rounds=rounds, warmup_rounds=1)
        return {name: min(values[1:]) for name, values in times.items()}

    return run
