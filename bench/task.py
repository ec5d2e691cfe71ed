"""Evaluation tasks: which output columns a task family needs and which metrics reduce them.

A task family (classification, segmentation, generation, ...) is a small subclass naming its required
columns and default metrics; everything else (sharding, storage, aggregation) is shared by the runner.
"""
from __future__ import annotations

from typing import Any

from bench.metrics.base import Metric
from bench.registry import METRICS, TASKS
from bench.store import Columns


class EvalTask:
    """Check a method's outputs and compute the configured metrics from them."""

    required_outputs: tuple[str, ...] = ()
    default_metrics: tuple[dict[str, Any], ...] = ()

    def __init__(self, metrics: list[dict[str, Any]] | None = None) -> None:
        specs = list(metrics) if metrics is not None else [dict(m) for m in self.default_metrics]
        self.metrics: list[Metric] = [METRICS.build(dict(spec)) for spec in specs]

    def check_outputs(self, outputs: Columns) -> None:
        missing = [name for name in self.required_outputs if name not in outputs]
        if missing:
            raise KeyError(f"task {type(self).__name__} needs output column(s) {missing}; got {sorted(outputs)}")
        for metric in self.metrics:
            metric.check(outputs)

    def evaluate(self, outputs: Columns) -> dict[str, float]:
        """All metric values; two metrics writing the same name is an error."""
        self.check_outputs(outputs)
        values: dict[str, float] = {}
        for metric in self.metrics:
            for name, value in metric.compute(outputs).items():
                if name in values:
                    raise ValueError(f"metric name {name!r} produced twice (by {type(metric).__name__})")
                values[name] = value
        return values


@TASKS.register_module(name="classification")
class ClassificationTask(EvalTask):
    """Single-label classification: ``logits`` [N, C] and ``target`` [N]."""

    required_outputs = ("logits", "target")
    default_metrics = ({"type": "Accuracy"}, {"type": "NLL"}, {"type": "ECE", "n_bins": 15})
