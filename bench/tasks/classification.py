"""Classification tasks: single-label accuracy/NLL/ECE, and the calibration suite with a reliability diagram."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.registry import TASKS
from bench.store import Columns, SampleStore, as_outputs
from bench.tasks.base import EvalTask

@TASKS.register_module(name="classification")
class ClassificationTask(EvalTask):
    """Single-label classification: ``target`` [N] with ``logits`` or ``probs`` [N, C]."""

    required_outputs = ("target",)
    finite_outputs = ("logits", "probs", "distances")  # IDC also stores its class distances
    default_metrics: tuple[dict[str, Any], ...] = ({"type": "Accuracy"}, {"type": "NLL"}, {"type": "ECE", "n_bins": 15})


@TASKS.register_module(name="calibration")
class CalibrationTask(ClassificationTask):
    """Classification scored for calibration (the CC sheet's suite), with a reliability diagram per run."""

    default_metrics = ({"type": "Accuracy"}, {"type": "ECE", "n_bins": 15}, {"type": "AdaECE", "n_bins": 15},
                       {"type": "ClasswiseECE", "n_bins": 15}, {"type": "NLL"}, {"type": "Brier"})

    def __init__(self, metrics: list[dict[str, Any]] | None = None, diagram_bins: int = 15) -> None:
        super().__init__(metrics)
        self.diagram_bins = diagram_bins

    def write_figures(self, outputs: Columns | SampleStore, directory: Path, title: str = "") -> dict[str, Path]:
        from bench.figures import reliability_diagram
        from bench.metrics.classification import top_label

        confidence, correct = top_label(as_outputs(outputs).load(["target", "logits", "probs"]))
        path = reliability_diagram(confidence, correct, directory / "reliability_diagram.png", self.diagram_bins,
                                   title=title)
        return {"reliability_diagram": path}
