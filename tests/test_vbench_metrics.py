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


def test_spread_over_the_sample_number_is_the_std_of_its_group_means():
    metric = METRICS.build(dict(type="VideoDimensions", dimensions=["aesthetic_quality"]))
    # two prompts x three sample numbers; group means over the prompts: 0.5, 0.6, 0.7 -> std (ddof 1) 0.1
    outputs = {"aesthetic_quality": torch.tensor([0.4, 0.5, 0.6, 0.6, 0.7, 0.8], dtype=torch.float64),
               "video_index": torch.tensor([0, 1, 2, 0, 1, 2])}
    values = metric.compute(outputs)
    assert values["aesthetic_quality"] == pytest.approx(0.6, abs=1e-15)
    assert values["aesthetic_quality std over video_index"] == pytest.approx(0.1, abs=1e-12)
    assert set(metric.compute({**outputs, "video_index": torch.zeros(6, dtype=torch.long)})) == {"aesthetic_quality"}
    assert set(METRICS.build(dict(type="VideoDimensions", dimensions=["aesthetic_quality"], std_over=None))
               .compute(outputs)) == {"aesthetic_quality"}


def test_cost_is_the_mean_per_video_when_stored():
    metric = METRICS.build(dict(type="VideoGenerationCost", prefix="confiner "))
    assert metric.compute({"nfe": torch.tensor([9, 9, 12]), "wall_s": torch.tensor([1.0, 2.0, 4.5])}) == \
        {"NFE per video": 10.0, "seconds per video": 2.5}
    assert metric.compute({}) == {} and metric.prefix == "confiner "
