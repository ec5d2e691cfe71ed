"""Action segmentation scores on 1,000 long videos: ``ActionSegmentationScores.compute`` (vectorised over videos)
against a plain port of the official MS-TCN / DiffAct ``func_eval`` loops on label names, in the same run.

The port scores each video as the official does (segments rebuilt for Edit and for each F1 threshold); it is timed
once (it takes seconds), ours over several rounds. Only the equality of the two results is asserted.
"""
from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch

from bench.metrics.action_segmentation import ActionSegmentationScores

VIDEOS, CLASSES = 1000, 48
NAMES = ["background"] + [f"action_{i}" for i in range(1, CLASSES)]
BG = ("background",)


# --- reference: the official loops on label names (as in tests/test_metrics_action_segmentation.py) ------------

def reference_segments(frames, background):
    """``get_labels_start_end_time``: the last segment ends at the loop variable's last value, len - 1."""
    labels, starts, ends = [], [], []
    last = frames[0]
    if last not in background:
        labels.append(last)
        starts.append(0)
    for i, label in enumerate(frames):
        if label != last:
            if label not in background:
                labels.append(label)
                starts.append(i)
            if last not in background:
                ends.append(i)
            last = label
    if last not in background:
        ends.append(i)
    return labels, starts, ends


def reference_levenshtein(p, y):
    table = [[0] * (len(y) + 1) for _ in range(len(p) + 1)]
    for i in range(len(p) + 1):
        table[i][0] = i
    for j in range(len(y) + 1):
        table[0][j] = j
    for j in range(1, len(y) + 1):
        for i in range(1, len(p) + 1):
            if y[j - 1] == p[i - 1]:
                table[i][j] = table[i - 1][j - 1]
            else:
                table[i][j] = min(table[i - 1][j], table[i][j - 1], table[i - 1][j - 1]) + 1
    return table[-1][-1]


def reference_edit(pred, target, background):
    p, y = reference_segments(pred, background)[0], reference_segments(target, background)[0]
    longest = max(len(p), len(y))
    return 1 - reference_levenshtein(p, y) / longest if longest else math.nan  # numpy float64 0/0 in the official


def reference_counts(pred, target, overlap, background):
    p_label, p_start, p_end = reference_segments(pred, background)
    y_label, y_start, y_end = reference_segments(target, background)
    tp = fp = 0
    hits = [False] * len(y_label)
    for j in range(len(p_label)):
        if not y_label:  # the official's argmax of an empty array raises; we count a false positive
            fp += 1
            continue
        ious = []
        for x in range(len(y_label)):
            intersection = min(p_end[j], y_end[x]) - max(p_start[j], y_start[x])
            union = max(p_end[j], y_end[x]) - min(p_start[j], y_start[x])
            iou = intersection / union if union else math.nan  # 0/0 of two zero-length final segments
            ious.append(iou if p_label[j] == y_label[x] or math.isnan(iou) else 0.0)  # nan * False is nan
        nans = [x for x, v in enumerate(ious) if math.isnan(v)]
        best = nans[0] if nans else ious.index(max(ious))  # numpy argmax: first NaN, else first maximum
        if ious[best] >= overlap and not hits[best]:
            tp += 1
            hits[best] = True
        else:
            fp += 1
    return tp, fp, len(y_label) - sum(hits)


def reference_scores(predictions, targets, background=BG, overlaps=(0.1, 0.25, 0.5)):
    """``func_eval`` on lists of label names, as fractions."""
    correct = total = 0
    edit = 0.0
    tp, fp, fn = [0] * len(overlaps), [0] * len(overlaps), [0] * len(overlaps)
    for pred, target in zip(predictions, targets, strict=True):
        for p, t in zip(pred, target, strict=True):
            total += 1
            correct += p == t
        edit += reference_edit(pred, target, background)
        for s, overlap in enumerate(overlaps):
            counts = reference_counts(pred, target, overlap, background)
            tp[s], fp[s], fn[s] = tp[s] + counts[0], fp[s] + counts[1], fn[s] + counts[2]
    scores = {"Acc": correct / total, "Edit": edit / len(predictions)}
    for s, overlap in enumerate(overlaps):
        if tp[s] == 0:
            f1 = 0.0  # nan_to_num of 0/0
        else:
            precision, recall = tp[s] / (tp[s] + fp[s]), tp[s] / (tp[s] + fn[s])
            f1 = 2.0 * (precision * recall) / (precision + recall)
        scores[f"F1@{100 * overlap:g}"] = f1
    return scores


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
