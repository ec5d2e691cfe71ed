"""The ``collage_arrangement`` task: the offline CollagePrompt benchmark (no API calls), scored from the outputs of
:class:`~.offline.CollageArrangementSearch`.

Metrics (``CollageArrangement``): ``predicted_accuracy`` (mean predictor score of the searched arrangements) and
``predicted_accuracy_random`` (of seeded random ones); over the collages with at least 2 recorded arrangements
(``collages_with_recorded``, their count): ``recorded_accuracy_chosen`` (the recorded GPT-4V accuracy of the
recorded arrangement the search picks), ``recorded_accuracy_random``, ``recorded_accuracy_best`` and
``recorded_accuracy_mean`` (the mean over each collage's records, what a uniformly random pick gets on average).
Collages without recorded arrangements (the validation sets) give only the predicted numbers.
"""
from __future__ import annotations

import math
from typing import Any

import torch

from bench.metrics.base import Metric
from bench.registry import METRICS, TASKS
from bench.store import Columns
from bench.tasks.base import EvalTask

RECORDED = ("chosen", "random", "best", "mean")


@METRICS.register_module()
class CollageArrangement(Metric):
    """Predicted and recorded accuracy of searched arrangements (names in the module docstring)."""

    required = ("predicted_accuracy", "predicted_random", "num_recorded")
    optional = tuple(f"recorded_{name}" for name in RECORDED)

    def compute(self, outputs: Columns) -> dict[str, float]:
        predicted = torch.as_tensor(outputs["predicted_accuracy"]).double()
        if predicted.numel() == 0:
            raise ValueError("CollageArrangement: no collages were stored")
        values: dict[str, float] = {}
        if not torch.isnan(predicted).all():  # identity / random without a predictor score nothing
            values["predicted_accuracy"] = float(predicted.mean())
            values["predicted_accuracy_random"] = float(torch.as_tensor(outputs["predicted_random"]).double().mean())
        recorded = torch.as_tensor(outputs["num_recorded"]) >= 2
        values["collages_with_recorded"] = float(recorded.sum())
        if recorded.any():
            for name in RECORDED:
                column = f"recorded_{name}"
                if column not in outputs:
                    raise KeyError(f"CollageArrangement needs output column {column!r} for collages with recorded "
                                   "arrangements")
                values[f"recorded_accuracy_{name}"] = float(torch.as_tensor(outputs[column]).double()[recorded].mean())
        if any(math.isnan(v) for v in values.values()):
            raise ValueError(f"CollageArrangement: NaN in {sorted(k for k, v in values.items() if math.isnan(v))}")
        return values


@TASKS.register_module(name="collage_arrangement")
class CollageArrangementTask(EvalTask):
    """Arrangement search under the accuracy predictor, scored by predicted and recorded accuracy (module
    docstring). Registered here rather than in ``bench.tasks`` (core never imports a paper)."""

    required_outputs = ("arrangement", "predicted_accuracy", "predicted_random", "num_recorded")
    default_metrics: tuple[dict[str, Any], ...] = ({"type": "CollageArrangement"},)

    def describe(self) -> dict[str, Any]:
        return {"not_computed": "GPT-4V accuracy of searched arrangements that were never recorded (needs API "
                                "calls: the online configs)"}
