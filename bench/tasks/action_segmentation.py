"""Temporal action segmentation: Acc, Edit, F1@k, MS-TCN prediction files and a barcode figure."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.formats.mstcn import write_prediction_file
from bench.metrics.action_segmentation import ActionSegmentationScores, resolve_class_names
from bench.registry import TASKS
from bench.store import Columns, SampleStore, as_outputs
from bench.tasks.base import EvalTask

@TASKS.register_module(name="action_segmentation")
class ActionSegmentationTask(EvalTask):
    """Temporal action segmentation: per-video frame labels ``prediction`` and ``target`` scored with Acc, Edit and
    F1@{10,25,50} (``ActionSegmentationScores``), with a barcode figure of the first video.

    ``class_names`` (a list or a ``mapping.txt`` path) and ``background`` configure every
    ``ActionSegmentationScores`` that does not set its own (e.g. a second one scoring ``encoder_prediction``);
    the names also fix the figure's colours.
    """

    required_outputs = ("prediction", "target")
    finite_outputs = ("prediction", "encoder_prediction")  # label ids: checked only if a method stores floats
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

    def write_exports(self, outputs: Columns | SampleStore, run_dir: Path) -> dict[str, Path]:
        """``prediction/<video>.txt`` in the official DiffAct/MS-TCN format (label names when known, else ids),
        written one block of stored videos at a time."""
        directory = run_dir / "prediction"
        for block in as_outputs(outputs).iter_chunks(["prediction"]):
            for video, labels in zip(block["sample_id"], block["prediction"], strict=True):
                write_prediction_file(directory / f"{video}.txt", labels, self.class_names)
        return {"prediction": directory}

    def write_figures(self, outputs: Columns | SampleStore, directory: Path, title: str = "") -> dict[str, Path]:
        """The first video's barcode (every video's labels are read only when no class names fix the colours)."""
        from bench.figures import segmentation_barcode

        source = as_outputs(outputs)
        first = next(source.iter_chunks(["prediction", "target"], rows=1))
        named = self.class_names or any(isinstance(m, ActionSegmentationScores) and m.class_names for m in self.metrics)
        labels = first if named else source.load(["prediction", "target"])
        path = segmentation_barcode(first["target"][0], first["prediction"][0], self.num_classes(labels),
                                    directory / "barcode.png", title=title)
        return {"barcode": path}
