"""Epoch selection as published: the epoch with the best AVG of the five metrics on the TEST splits, the same
epoch for every split (maintainer, Finspire13/DiffAct issue #1). This selects on test data; the harness reports
it as its own row next to the last epoch and says so.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from bench.io import read_json

SELECTION_METRICS = ("Acc", "Edit", "F1@10", "F1@25", "F1@50")
SELECTION_MODES = ("last", "best_avg_on_test")
_RESULTS = re.compile(r"test_results_epoch(\d+)\.json$")


def epoch_scores(train_dir: str | Path) -> dict[int, dict[str, float]]:
    """``{epoch: metrics}`` from the ``test_results_epoch<e>.json`` files a training run wrote."""
    scores = {}
    for path in Path(train_dir).glob("test_results_epoch*.json"):
        match = _RESULTS.search(path.name)
        if match:
            scores[int(match.group(1))] = {k: float(v) for k, v in read_json(path).items() if k != "epoch"}
    return scores


def select_epoch(train_dirs: list[str | Path], metrics: tuple[str, ...] = SELECTION_METRICS
                 ) -> tuple[int, dict[int, float]]:
    """The epoch whose AVG (mean over ``metrics`` and over the splits' training runs) is highest, earliest on ties,
    among epochs every split evaluated; also every candidate's AVG."""
    per_split = [epoch_scores(d) for d in train_dirs]
    empty = [str(d) for d, s in zip(train_dirs, per_split, strict=True) if not s]
    if empty:
        raise FileNotFoundError(f"no test_results_epoch*.json in {empty}: train those splits first (with "
                                "train.eval_every set and the test split as train.val_dataset)")
    common = sorted(set.intersection(*(set(s) for s in per_split)))
    if not common:
        raise ValueError(f"the training runs {[str(d) for d in train_dirs]} share no evaluated epoch")
    averages = {e: float(np.mean([[s[e][m] for m in metrics] for s in per_split])) for e in common}
    best = max(common, key=lambda e: (averages[e], -e))
    return best, averages
