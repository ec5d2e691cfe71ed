"""Evaluation tasks: which output columns a task family needs and which metrics reduce them.

A task family (classification, segmentation, generation, ...) is a small subclass naming its required
columns and default metrics; everything else (sharding, storage, aggregation) is shared by the runner.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.metrics.action_segmentation import ActionSegmentationScores, resolve_class_names
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

    def write_figures(self, outputs: Columns, directory: Path, title: str = "") -> dict[str, Path]:
        """Figures of this task's outputs, written under ``directory``; none by default."""
        return {}

    def write_exports(self, outputs: Columns, run_dir: Path) -> dict[str, Path]:
        """The outputs in a paper's own file format (e.g. MS-TCN prediction files) under ``run_dir``; none by
        default. Rewritten by every ``bench score``."""
        return {}


@TASKS.register_module(name="classification")
class ClassificationTask(EvalTask):
    """Single-label classification: ``target`` [N] with ``logits`` or ``probs`` [N, C]."""

    required_outputs = ("target",)
    default_metrics = ({"type": "Accuracy"}, {"type": "NLL"}, {"type": "ECE", "n_bins": 15})


@TASKS.register_module(name="calibration")
class CalibrationTask(ClassificationTask):
    """Classification scored for calibration (the CC sheet's suite), with a reliability diagram per run."""

    default_metrics = ({"type": "Accuracy"}, {"type": "ECE", "n_bins": 15}, {"type": "AdaECE", "n_bins": 15},
                       {"type": "ClasswiseECE", "n_bins": 15}, {"type": "NLL"}, {"type": "Brier"})

    def __init__(self, metrics: list[dict[str, Any]] | None = None, diagram_bins: int = 15) -> None:
        super().__init__(metrics)
        self.diagram_bins = diagram_bins

    def write_figures(self, outputs: Columns, directory: Path, title: str = "") -> dict[str, Path]:
        from bench.figures import reliability_diagram
        from bench.metrics.classification import top_label

        confidence, correct = top_label(outputs)
        path = reliability_diagram(confidence, correct, directory / "reliability_diagram.png", self.diagram_bins,
                                   title=title)
        return {"reliability_diagram": path}


@TASKS.register_module(name="segmentation")
class SegmentationTask(EvalTask):
    """Semantic segmentation: per-image class histograms (``bench.metrics.segmentation.AREA_COLUMNS``), mIoU."""

    required_outputs = ("area_intersect", "area_union", "area_pred_label", "area_label")
    default_metrics = ({"type": "MeanIoU"},)


@TASKS.register_module(name="detection")
class DetectionTask(EvalTask):
    """Object detection / instance segmentation: per-image detections scored with COCO mAP (``COCOMeanAP``,
    whose ``ann_file`` the config names)."""

    required_outputs = ("image_id", "det_bboxes", "det_scores", "det_labels")


@TASKS.register_module(name="action_segmentation")
class ActionSegmentationTask(EvalTask):
    """Temporal action segmentation: per-video frame labels ``prediction`` and ``target`` scored with Acc, Edit and
    F1@{10,25,50} (``ActionSegmentationScores``), with a barcode figure of the first video.

    ``class_names`` (a list or a ``mapping.txt`` path) and ``background`` configure every
    ``ActionSegmentationScores`` that does not set its own (e.g. a second one scoring ``encoder_prediction``);
    the names also fix the figure's colours.
    """

    required_outputs = ("prediction", "target")
    default_metrics = ({"type": "ActionSegmentationScores"},)

    def __init__(self, metrics: list[dict[str, Any]] | None = None, class_names: list[str] | str | None = None,
                 background: Sequence[str] = ("background",)) -> None:
        self.class_names = resolve_class_names(class_names)
        specs = [dict(spec) for spec in (self.default_metrics if metrics is None else metrics)]
        for spec in specs:
            if spec.get("type") == "ActionSegmentationScores":
                spec.setdefault("class_names", self.class_names)
                spec.setdefault("background", list(background))
        super().__init__(specs)

    def num_classes(self, outputs: Columns) -> int:
        """The number of class names when known (from the task or a metric), else the largest label + 1."""
        names = self.class_names or next((m.class_names for m in self.metrics
                                          if isinstance(m, ActionSegmentationScores) and m.class_names), None)
        if names:
            return len(names)
        return 1 + max([0] + [int(labels.max()) for column in ("prediction", "target") for labels in outputs[column]
                              if len(labels)])

    def write_exports(self, outputs: Columns, run_dir: Path) -> dict[str, Path]:
        """``prediction/<video>.txt`` in the official DiffAct/MS-TCN format (label names when known, else ids)."""
        from bench.datasets.action_segmentation import write_prediction_file

        directory = run_dir / "prediction"
        for video, labels in zip(outputs["sample_id"], outputs["prediction"], strict=True):
            write_prediction_file(directory / f"{video}.txt", labels, self.class_names)
        return {"prediction": directory}

    def write_figures(self, outputs: Columns, directory: Path, title: str = "") -> dict[str, Path]:
        from bench.figures import segmentation_barcode

        path = segmentation_barcode(outputs["target"][0], outputs["prediction"][0], self.num_classes(outputs),
                                    directory / "barcode.png", title=title)
        return {"barcode": path}


@TASKS.register_module(name="triplet_recognition")
class TripletRecognitionTask(EvalTask):
    """Surgical action-triplet recognition: per-video frame scores ``triplet_scores`` and 0/1 ``triplet_target``
    [T, 100], scored with CAMMA's AP protocol (``TripletRecognitionAP``: video-wise and global AP for i, v, t, iv,
    it, ivt)."""

    required_outputs = ("triplet_scores", "triplet_target")
    default_metrics = ({"type": "TripletRecognitionAP"},)
