"""Action segmentation scores on 1,000 long videos: ``ActionSegmentationScores.compute`` (vectorised over videos)
against a plain port of the official MS-TCN / DiffAct ``func_eval`` loops on label names, in the same run.

The port scores each video as the official does (segments rebuilt for Edit and for each F1 threshold); it is timed
once (it takes seconds), ours over several rounds. The results are asserted equal, and ours at least
``MIN_SPEEDUP`` times faster: the port walks every frame in Python (about 1 us a frame, 2M frames) where ours runs
numpy over whole videos (a few ns a frame), so an order of magnitude is the expected gap; measured 25x on 2 shared
CPU cores (2026-12-05), and 5x leaves a factor of 5 for a loaded machine (the port is timed once).
"""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from action_segmentation_reference import reference_scores  # tests/ is on sys.path (rootdir conftest)
from bench.metrics.action_segmentation import ActionSegmentationScores

VIDEOS, CLASSES = 1000, 48
MIN_SPEEDUP = 5
NAMES = ["background"] + [f"action_{i}" for i in range(1, CLASSES)]
BG = ("background",)


# --- data -------------------------------------------------------------------------------------------------------

def long_video(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A ~2,000-frame target of 10-20 segments (background between some) and a prediction with shifted
    boundaries, ~20% relabelled segments and a few short spurious ones."""
    length, count = int(rng.integers(1500, 2500)), int(rng.integers(10, 21))
    cuts = np.sort(rng.choice(np.arange(1, length), size=count - 1, replace=False))
    labels = rng.integers(1, CLASSES, size=count)
    labels[rng.random(count) < 0.2] = 0
    target = np.repeat(labels, np.diff(np.concatenate([[0], cuts, [length]])))
    shifted = np.sort(np.clip(cuts + rng.integers(-40, 41, size=count - 1), 1, length - 1))
    guessed = np.where(rng.random(count) < 0.2, rng.integers(0, CLASSES, size=count), labels)
    pred = np.repeat(guessed, np.diff(np.concatenate([[0], shifted, [length]])))
    for start in rng.integers(0, length - 10, size=int(rng.integers(0, 5))):
        pred[start:start + int(rng.integers(2, 10))] = rng.integers(0, CLASSES)
    return pred, target


@pytest.fixture(scope="module")
def videos() -> dict[str, list[torch.Tensor]]:
    rng = np.random.default_rng(0)
    pairs = [long_video(rng) for _ in range(VIDEOS)]
    return {"prediction": [torch.from_numpy(p) for p, _ in pairs], "target": [torch.from_numpy(t) for _, t in pairs]}


@pytest.mark.benchmark(group="action_segmentation")
def test_scores_vs_official_loops_on_1000_long_videos(benchmark, videos):
    metric = ActionSegmentationScores(NAMES)
    preds = [[NAMES[i] for i in p.tolist()] for p in videos["prediction"]]
    targets = [[NAMES[i] for i in t.tolist()] for t in videos["target"]]

    start = time.perf_counter()
    theirs = reference_scores(preds, targets)  # one round: it takes seconds
    reference_s = time.perf_counter() - start

    times: list[float] = []

    def ours_fn() -> dict[str, float]:
        start = time.perf_counter()
        scores = metric.compute(videos)
        times.append(time.perf_counter() - start)
        return scores

    ours = benchmark.pedantic(ours_fn, rounds=5, warmup_rounds=1)
    ratio = reference_s / min(times)
    frames = sum(len(t) for t in targets)
    benchmark.extra_info.update(videos=VIDEOS, frames=frames, classes=CLASSES, ours_s=min(times),
                                reference_s=reference_s, ratio=ratio)
    print(f"\n{VIDEOS} videos, {frames} frames: ours {min(times):.3f} s, official loops {reference_s:.2f} s, "
          f"ratio {ratio:.0f}x; {ours}")
    assert ours == theirs  # the same numbers, bit for bit
    assert ratio >= MIN_SPEEDUP, f"ours is only {ratio:.1f}x faster than the official loops"
