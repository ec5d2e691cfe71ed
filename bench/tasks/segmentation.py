"""Semantic segmentation scored by mIoU from per-image class histograms."""
from __future__ import annotations

from bench.registry import TASKS
from bench.tasks.base import EvalTask

@TASKS.register_module(name="segmentation")
class SegmentationTask(EvalTask):
    """Semantic segmentation: per-image class histograms (``bench.metrics.segmentation.AREA_COLUMNS``), mIoU."""

    required_outputs = ("area_intersect", "area_union", "area_pred_label", "area_label")
    finite_outputs = required_outputs  # int64 histograms of label maps: checked only if a method stores floats
    default_metrics = ({"type": "MeanIoU"},)
