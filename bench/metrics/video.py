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

    With a ``std_over`` column holding two or more groups (``video_index``: VBench's 5 videos per prompt, each draw
    one "seed" of the paper's 5), each dimension also gets ``<name> std over <column>``: the sample std (ddof 1) of
    the groups' means, the paper's spread over seeds from one run. The mean over all videos is the mean of the group
    means when the groups are the same size, as they are with ``samples_per_prompt`` videos of every prompt.

    Args:
        dimensions: the column names to average.
        std_over: the grouping column of the spread (None: no spread).
    """

    def __init__(self, dimensions: Sequence[str] = ("subject_consistency", "motion_smoothness", "aesthetic_quality",
                                                    "imaging_quality"), std_over: str | None = "video_index",
                 prefix: str = "") -> None:
        super().__init__(prefix)
        if isinstance(dimensions, str) or not dimensions or not all(isinstance(d, str) and d for d in dimensions):
            raise ValueError(f"VideoDimensions: dimensions must be a non-empty list of column names, got "
                             f"{dimensions!r}")
        self.dimensions, self.std_over = tuple(dimensions), std_over
        self.optional = self.dimensions + ((std_over,) if std_over else ())

    def compute(self, outputs: Columns) -> dict[str, float]:
        present = [name for name in self.dimensions if name in outputs]
        if not present:
            raise KeyError(f"VideoDimensions: none of the dimension columns {list(self.dimensions)} is stored; got "
                           f"{sorted(outputs)} (were all scorers not configured?)")
        values = {name: float(torch.as_tensor(outputs[name]).double().mean()) for name in present}
        groups = torch.as_tensor(outputs[self.std_over]) if self.std_over and self.std_over in outputs else None
        if groups is not None and len(torch.unique(groups)) >= 2:
            for name in present:
                column = torch.as_tensor(outputs[name]).double()
                means = torch.stack([column[groups == g].mean() for g in torch.unique(groups)])
                values[f"{name} std over {self.std_over}"] = float(means.std(correction=1))
        return values


@METRICS.register_module()
class VideoGenerationCost(Metric):
    """Per-video means of the method's ``nfe`` (network evaluations) and ``wall_s`` (seconds), when stored."""

    optional = ("nfe", "wall_s")
    NAMES = {"nfe": "NFE per video", "wall_s": "seconds per video"}

    def compute(self, outputs: Columns) -> dict[str, float]:
        return {label: float(torch.as_tensor(outputs[name]).double().mean())
                for name, label in self.NAMES.items() if name in outputs}
