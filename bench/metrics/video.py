"""Metrics of the video generation task (:mod:`bench.tasks.generation.video`): each dimension column averaged over
videos (VBench's per-dimension score) and the sampling cost per video."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from bench.metrics.base import Metric
from bench.registry import METRICS
from bench.store import Columns


@METRICS.register_module()
class VideoDimensions(Metric):
    """The mean over videos of each per-video dimension column (``subject_consistency``, ...): VBench's score of a
    dimension, a fraction (VBench's multi-process reduction, the mean of per-video scores; see
    :mod:`bench.tasks.generation.video_scorers.subject_consistency` for its single-process variant). A dimension
    whose column is not stored (a scorer not configured) is left out; none stored is an error.

    Args:
        dimensions: the column names to average.
    """

    def __init__(self, dimensions: Sequence[str] = ("subject_consistency", "motion_smoothness", "aesthetic_quality",
                                                    "imaging_quality"), prefix: str = "") -> None:
        super().__init__(prefix)
        if isinstance(dimensions, str) or not dimensions or not all(isinstance(d, str) and d for d in dimensions):
            raise ValueError(f"VideoDimensions: dimensions must be a non-empty list of column names, got "
                             f"{dimensions!r}")
        self.dimensions = tuple(dimensions)
        self.optional = self.dimensions

    def compute(self, outputs: Columns) -> dict[str, float]:
        present = [name for name in self.dimensions if name in outputs]
        if not present:
            raise KeyError(f"VideoDimensions: none of the dimension columns {list(self.dimensions)} is stored; got "
                           f"{sorted(outputs)} (were all scorers not configured?)")
        return {name: float(torch.as_tensor(outputs[name]).double().mean()) for name in present}


@METRICS.register_module()
class VideoGenerationCost(Metric):
    """Per-video means of the method's ``nfe`` (network evaluations) and ``wall_s`` (seconds), when stored."""

    optional = ("nfe", "wall_s")
    NAMES = {"nfe": "NFE per video", "wall_s": "seconds per video"}

    def compute(self, outputs: Columns) -> dict[str, float]:
        return {label: float(torch.as_tensor(outputs[name]).double().mean())
                for name, label in self.NAMES.items() if name in outputs}
