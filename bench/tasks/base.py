"""The evaluation task interface: which output columns a task family needs and which metrics reduce them.

A task family (classification, segmentation, generation, ...) is a small subclass naming its required
columns and default metrics; everything else (sharding, storage, aggregation) is shared by the runner.
"""
from __future__ import annotations

import math
from collections.abc import Collection
from pathlib import Path
from typing import Any

import torch

from bench.finite import NonFiniteError, merge_record, nonfinite_mask
from bench.metrics.base import Metric
from bench.registry import METRICS
from bench.store import Columns, SampleStore, as_outputs, take_rows


class EvalTask:
    """Check a method's outputs and compute the configured metrics from them."""

    required_outputs: tuple[str, ...] = ()
    scored_outputs: tuple[str, ...] | None = None  # what evaluate reads besides the metrics' (default: required)
    default_metrics: tuple[dict[str, Any], ...] = ()
    finite_outputs: tuple[str, ...] = ()  # output columns that must hold no NaN/Inf (floating-point ones)

    def __init__(self, metrics: list[dict[str, Any]] | None = None) -> None:
        if metrics is not None and not (isinstance(metrics, (list, tuple))
                                        and all(isinstance(spec, dict) and "type" in spec for spec in metrics)):
            raise ValueError(f"task.metrics must be a list of dicts with a 'type' key, e.g. [dict(type='Accuracy')], "
                             f"got {metrics!r}")
        specs = list(metrics) if metrics is not None else [dict(m) for m in self.default_metrics]
        self.metrics: list[Metric] = [METRICS.build(dict(spec)) for spec in specs]
        self.refusals: dict[str, str] = {}  # metric name -> why it refused, from the last evaluate

    def check_outputs(self, outputs: Columns, required: tuple[str, ...] | None = None) -> None:
        """The method's outputs hold the task's ``required`` columns (default: ``required_outputs``) and each
        metric's."""
        missing = [name for name in (self.required_outputs if required is None else required) if name not in outputs]
        if missing:
            raise KeyError(f"task {type(self).__name__} needs output column(s) {missing}; got {sorted(outputs)}")
        for metric in self.metrics:
            metric.check(outputs)

    def score_columns(self, available: Collection[str]) -> set[str]:
        """The stored columns :meth:`evaluate` reads (the required outputs and each metric's), so scoring loads
        only those: a generation run scores from its features without reading its images."""
        needed = set(self._scored())
        for metric in self.metrics:
            needed |= metric.columns(available)
        return needed

    def evaluate(self, outputs: Columns) -> dict[str, float]:
        """All metric values; two metrics writing the same name is an error.

        A metric that refuses non-finite input (:class:`bench.finite.NonFiniteError`) gives NaN for each of its
        names, and ``refusals`` maps those names to its message: the runner then stops or flags the run by
        ``run.nonfinite`` and writes them as null, never as a number.
        """
        self.check_outputs(outputs, self._scored())
        self.refusals = {}
        values: dict[str, float] = {}
        for metric in self.metrics:
            try:
                computed = metric.compute(outputs)
            except NonFiniteError as error:
                computed = self._refused(metric, outputs, error)
            for name, value in computed.items():
                name = self.metric_name(metric, name)
                if name in values:
                    raise ValueError(f"metric name {name!r} produced twice (by {type(metric).__name__})")
                values[name] = value
        return values

    def _refused(self, metric: Metric, outputs: Columns, error: NonFiniteError) -> dict[str, float]:
        """NaN under each name ``metric`` reports: the names come from computing it on the rows whose columns are
        all finite (the values are discarded), or its class name when no such row is left."""
        rows = len(next(iter(outputs.values()))) if outputs else 0
        finite = torch.ones(rows, dtype=torch.bool)
        for column in metric.columns(outputs):
            mask = nonfinite_mask(outputs[column]) if column in outputs else None
            if mask is not None and len(mask) == rows:
                finite &= ~mask
        try:
            names = list(metric.compute(take_rows(outputs, torch.nonzero(finite).flatten()))) if finite.any() else []
        except Exception:  # noqa: BLE001 - only the names are wanted; any failure falls back to the class name
            names = []
        names = names or [type(metric).__name__]
        for name in names:
            self.refusals[self.metric_name(metric, name)] = str(error)
        return {name: math.nan for name in names}

    def finite_columns(self, available: Collection[str]) -> list[str]:
        """The stored columns :meth:`nonfinite` checks: the declared ``finite_outputs`` that are stored."""
        return [name for name in self.finite_outputs if name in available]

    def nonfinite_masks(self, block: Columns) -> dict[str, torch.Tensor]:
        """``{column: bool [rows]}``: the rows of each checked column that hold a NaN or ±Inf."""
        masks = {name: nonfinite_mask(block[name]) for name in self.finite_columns(block)}
        return {name: mask for name, mask in masks.items() if mask is not None}

    def nonfinite(self, outputs: Columns | SampleStore) -> dict[str, dict[str, Any]]:
        """``{column: {"count", "sample_ids" (first 20)}}`` of the checked columns holding non-finite values, read a
        block at a time from a run's store (or a column table with ``sample_id``); empty when all are finite."""
        available = outputs.stored_columns() if isinstance(outputs, SampleStore) else list(outputs)
        columns = self.finite_columns(available)
        record: dict[str, dict[str, Any]] = {}
        if not columns:
            return record
        for block in as_outputs(outputs).iter_chunks(columns):
            merge_record(record, self.nonfinite_masks(block), block["sample_id"])
        return record

    def _scored(self) -> tuple[str, ...]:
        return self.required_outputs if self.scored_outputs is None else self.scored_outputs

    def metric_name(self, metric: Metric, name: str) -> str:
        """The name under which ``metric``'s value ``name`` is reported: with the metric's ``prefix``."""
        return f"{metric.prefix}{name}"

    def predict(self, method: Any, batch: dict[str, Any], seeds: Any) -> Columns:
        """One batch's outputs: the method's ``predict`` by default; a task that must drive the method itself
        (the robustness task attacks it) overrides this."""
        return method.predict(batch, seeds)

    def prepare(self, device: Any) -> None:
        """Load what :meth:`featurize` needs (e.g. a feature extractor) on ``device``; nothing by default."""

    def featurize(self, outputs: Columns) -> Columns:
        """Per-sample statistics computed from a batch's outputs on the rank that produced them (e.g. Inception
        features of generated images), stored with the outputs so metrics can be recomputed; none by default."""
        return {}

    def describe(self) -> dict[str, Any]:
        """How the outputs were scored (extractor, reference file and its hash), for ``results.json``."""
        return {}

    def write_figures(self, outputs: Columns | SampleStore, directory: Path, title: str = "") -> dict[str, Path]:
        """Figures of this task's outputs (a run's store or a column table; read only what is drawn through
        :func:`bench.store.as_outputs`), written under ``directory``; none by default."""
        return {}

    def write_exports(self, outputs: Columns | SampleStore, run_dir: Path) -> dict[str, Path]:
        """The outputs in a paper's own file format (e.g. MS-TCN prediction files) under ``run_dir``, written from
        ``as_outputs(outputs).iter_chunks(...)`` a block at a time; none by default. Rewritten by every
        ``bench score``."""
        return {}
