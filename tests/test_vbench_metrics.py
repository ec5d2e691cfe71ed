"""The video task's metrics: each dimension column averaged over videos (VBench's per-dimension score), dimensions
not stored left out, and the per-video sampling cost."""
from __future__ import annotations

import pytest
import torch

from bench.registry import METRICS


def test_dimension_means_over_videos_and_missing_columns():
    metric = METRICS.build(dict(type="VideoDimensions", dimensions=["subject_consistency", "motion_smoothness"]))
    outputs = {"subject_consistency": torch.tensor([0.9, 1.0, 0.95], dtype=torch.float64),
               "aesthetic_quality": torch.tensor([0.1, 0.2, 0.3])}
    assert metric.columns(outputs) == {"subject_consistency"}  # only the stored dimensions are read
    assert metric.compute(outputs) == {"subject_consistency": pytest.approx(0.95, abs=1e-15)}
    with pytest.raises(KeyError, match="none of the dimension columns"):
        metric.compute({"aesthetic_quality": torch.tensor([0.1])})
    with pytest.raises(ValueError, match="non-empty list"):
        METRICS.build(dict(type="VideoDimensions", dimensions="subject_consistency"))


def test_cost_is_the_mean_per_video_when_stored():
    metric = METRICS.build(dict(type="VideoGenerationCost", prefix="confiner "))
    assert metric.compute({"nfe": torch.tensor([9, 9, 12]), "wall_s": torch.tensor([1.0, 2.0, 4.5])}) == \
        {"NFE per video": 10.0, "seconds per video": 2.5}
    assert metric.compute({}) == {} and metric.prefix == "confiner "
