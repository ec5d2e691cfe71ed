"""Compress Guidance's step schedule against the sheet's worked numbers and hand-computed small cases."""
from __future__ import annotations

import pytest

from bench.methods.compress_guidance.schedule import (
    build_schedule,
    compress_counts,
    early_stop_counts,
    uniform_counts,
)
from bench.methods.diffusion.gaussian import space_timesteps


@pytest.mark.parametrize("k, distinct, heaviest", [(1, 50, 1), (2, 47, 4), (3, 41, 8), (4, 36, 13), (5, 32, 17),
                                                   (6, 28, 20)])
def test_compress_schedule_matches_the_k_ablation(k, distinct, heaviest):
    """n = 250, skip = 5: 50 slots land on 50, 47, 41, 36, 32, 28 distinct steps; the last two steps come on top."""
    counts = compress_counts(250, 5, k)
    assert sum(1 for c in counts[2:] if c > 0) == distinct
    assert counts[0] == counts[1] == 1
    assert sum(counts) == 52 and max(counts) == heaviest
    assert counts[249] == heaviest  # the first (noisiest) step takes the most slots
    schedule = build_schedule({"kind": "compress", "skip": 5, "k": k}, 250)
    assert schedule.describe()["guided_steps"] == distinct + 2


def test_compress_counts_by_hand():
    # n = 10, skip = 2 -> 5 slots, c = 10 / 25 = 0.4; int(0.4 j^2) = 0, 0, 1, 3, 6 -> indices 9, 9, 8, 6, 3
    assert compress_counts(10, 2, 2) == [1, 1, 0, 1, 0, 0, 1, 0, 1, 2]
    # k = 0.5: c = 10 / sqrt(10); slots land on 9, 6, 5, 4, 3, 2, 2, 1, 1, 0: index 1 collects two, then is SET to 1
    assert compress_counts(10, 1, 0.5) == [1, 1, 2, 1, 1, 1, 1, 0, 0, 1]
    with pytest.raises(ValueError, match="outside"):
        compress_counts(10, 2, 0)  # c = n: slot 0 would land on index -1 (the authors' script exits there)
    with pytest.raises(ValueError, match="no guidance slot"):
        compress_counts(10, 20, 2)


def test_baseline_schedules():
    uniform = uniform_counts(250, 5)
    assert [i for i, c in enumerate(uniform) if c] == [0, 1] + list(range(4, 250, 5))
    assert sum(uniform) == 52
    early = early_stop_counts(250, 50)
    assert [i for i, c in enumerate(early) if c] == list(range(200, 250))
    assert sum(early_stop_counts(250, 51)) == 51  # the authors' `int(t / 4) + 1 >= 200`
    assert sum(build_schedule({"kind": "full"}, 250).counts) == 250
    assert sum(build_schedule({"kind": "none"}, 250).counts) == 0
    with pytest.raises(ValueError, match="unknown option"):
        build_schedule({"kind": "uniform", "skip": 5, "k": 2}, 250)
    with pytest.raises(ValueError, match="unknown guidance schedule kind"):
        build_schedule({"kind": "cosine"}, 250)


def test_index_conventions():
    timesteps = space_timesteps(1000, "250")
    classifier = build_schedule({"kind": "compress", "skip": 5, "k": 2, "index_convention": "classifier_script"}, 250)
    assert [classifier.lookup(i, timesteps[i]) for i in range(250)] == list(range(250))
    dit = build_schedule({"kind": "compress", "skip": 5, "k": 2, "index_convention": "dit_script"}, 250)
    looked = [dit.lookup(i, timesteps[i]) for i in range(250)]
    assert looked[:4] == [249, 0, 1, 2]  # the last step wraps to the counter of the first
    assert sum(looked[i] == i for i in range(250)) == 42 and sum(looked[i] == i - 1 for i in range(250)) == 207
    assert dit.describe(timesteps)["guided_steps"] == 50  # one more than the respaced reading's 49
    respaced = build_schedule({"kind": "compress", "skip": 5, "k": 2}, 250)
    assert respaced.describe()["guided_steps"] == 49
    with pytest.raises(ValueError, match="needs the step's original timestep"):
        dit.lookup(3)
    with pytest.raises(ValueError, match="index_convention"):
        build_schedule({"kind": "full", "index_convention": "ddim"}, 10)
