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
                name = self.metric_name(metric, name)
                if name in values:
                    raise ValueError(f"metric name {name!r} produced twice (by {type(metric).__name__})")
                values[name] = value
        return values

    def metric_name(self, metric: Metric, name: str) -> str:
        """The name under which ``metric``'s value ``name`` is reported (unchanged by default)."""
        return name

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


@TASKS.register_module(name="binary_detection")
class BinaryDetectionTask(EvalTask):
    """Binary detection (face forgery now, membership inference later): per-frame ``score`` (probability of the
    positive class, "fake", in [0, 1]) and 0/1 ``target``, plus ``video_id`` for the video-level AUC.

    The defaults score frame ACC, frame AUC and video AUC; a config whose frames have no ``video_id`` lists its
    metrics without ``VideoAUC``. ``ModelCost`` (constant ``params``/``macs`` columns) is not a default because
    not every method stores those columns; configs of methods that do add ``{"type": "ModelCost"}``.
    """

    required_outputs = ("score", "target")
    default_metrics = ({"type": "FrameAccuracy", "threshold": 0.5}, {"type": "FrameAUC"},
                       {"type": "VideoAUC", "aggregate": "mean"})


@TASKS.register_module(name="triplet_recognition")
class TripletRecognitionTask(EvalTask):
    """Surgical action-triplet recognition: per-video frame scores ``triplet_scores`` and 0/1 ``triplet_target``
    [T, 100], scored with CAMMA's AP protocol (``TripletRecognitionAP``: video-wise and global AP for i, v, t, iv,
    it, ivt)."""

    required_outputs = ("triplet_scores", "triplet_target")
    default_metrics = ({"type": "TripletRecognitionAP"},)


@TASKS.register_module(name="generation")
class GenerationTask(EvalTask):
    """Image generation scored with FID, sFID, IS, precision/recall and KID against reference statistics.

    The method returns uint8 ``image`` [B, H, W, C] (and ``class_label``); :meth:`featurize` runs the
    ``extractor`` (a ``bench.registry.EXTRACTORS`` spec, e.g. the TF-compatible Inception-v3 from a local
    weight file) on the generating rank and stores ``feat_pool``/``feat_logits``/``feat_spatial`` with each
    sample, so ``bench score`` recomputes every metric without the model or the extractor. ``reference`` is a
    statistics file or a dataset spec (see :func:`bench.generation.resolve_reference`). ``image_format``
    exports the images as PNG shards (``images/``), guided-diffusion's ``samples_NxHxWxC.npz``, or not at all;
    ``metric_prefix`` labels scores from a non-Inception extractor (the digits demo's ``digits_FID``). Without
    ``reference`` only metrics that need none run (class accuracies, sampling cost).
    """

    required_outputs = ("image",)
    default_metrics = ({"type": "FID"}, {"type": "SFID"}, {"type": "InceptionScore"}, {"type": "PrecisionRecall"},
                       {"type": "KID"})
    FEATURE_COLUMNS = {"pool": "feat_pool", "logits": "feat_logits", "spatial": "feat_spatial"}
    REFERENCE_FEATURE_METRICS = ("PrecisionRecall", "KID")

    def __init__(self, extractor: dict[str, Any], reference: str | dict[str, Any] | None = None,
                 metrics: list[dict[str, Any]] | None = None, image_format: str | None = "png",
                 metric_prefix: str = "", grid_size: int = 64, reference_cache: str | None = None) -> None:
        if image_format not in ("png", "npz", None):
            raise ValueError(f"generation task: image_format must be 'png', 'npz' or None, got {image_format!r}")
        super().__init__(metrics)
        needing = [type(m).__name__ for m in self.metrics
                   if getattr(m, "needs_reference", False) and getattr(m, "reference", None) is None]
        if reference is None and needing:
            raise ValueError(f"generation task: {', '.join(needing)} need reference statistics: set task.reference "
                             "(a statistics file or a dataset spec)")
        self.extractor_spec, self.reference_spec = dict(extractor), reference
        self.image_format, self.metric_prefix, self.grid_size = image_format, metric_prefix, grid_size
        self.reference_cache = reference_cache
        self.device: Any = "cpu"
        self._extractor: Any = None
        self._reference: Any = None
        self._reference_facts: dict[str, Any] = {}

    @property
    def extractor(self) -> Any:
        if self._extractor is None:
            from bench.registry import EXTRACTORS

            self._extractor = EXTRACTORS.build(dict(self.extractor_spec)).to(self.device)
        return self._extractor

    def predict(self, method: Any, batch: dict[str, Any], seeds: Any) -> Columns:
        """One batch's outputs: the method's ``predict`` by default; a task that must drive the method itself
        (the robustness task attacks it) overrides this."""
        return method.predict(batch, seeds)

    def prepare(self, device: Any) -> None:
        """Build the extractor here, outside inference mode: building may train it (``TrainedClassifierFeatures``)."""
        self.device = device
        self.extractor.to(device)

    def featurize(self, outputs: Columns) -> Columns:
        features = self.extractor(outputs["image"])
        return {self.FEATURE_COLUMNS[name]: value.float().cpu() for name, value in features.items()}

    def reference(self) -> Any:
        """The reference statistics, resolved (and built or featurised once, then cached) on first use."""
        if self._reference is None and self.reference_spec is not None:
            from bench.generation import resolve_reference
            from bench.results import results_root

            cache = Path(self.reference_cache) if self.reference_cache else results_root() / "references"
            need = any(type(m).__name__ in self.REFERENCE_FEATURE_METRICS for m in self.metrics)
            self._reference, self._reference_facts = resolve_reference(self.reference_spec, self.extractor, cache,
                                                                       need_features=need)
        return self._reference

    def evaluate(self, outputs: Columns) -> dict[str, float]:
        reference = self.reference()
        for metric in self.metrics:
            if getattr(metric, "reference", False) is None:
                metric.reference = reference
        return super().evaluate(outputs)

    def metric_name(self, metric: Metric, name: str) -> str:
        """Scores of the extractor's features carry ``metric_prefix`` (``digits_FID``); cost counts do not."""
        return f"{self.metric_prefix}{name}" if getattr(metric, "extractor_based", False) else name

    def describe(self) -> dict[str, Any]:
        self.reference()
        return {"extractor": self.extractor.describe(), "reference": self._reference_facts,
                "metric_prefix": self.metric_prefix}

    def write_exports(self, outputs: Columns, run_dir: Path) -> dict[str, Path]:
        from bench.generation import write_png_shards, write_samples_npz

        if self.image_format == "png":
            return {"images": write_png_shards(run_dir / "images", outputs["sample_id"], outputs["index"],
                                               outputs["image"])}
        if self.image_format == "npz":
            labels = outputs.get("class_label")
            conditional = labels is not None and bool((labels >= 0).all())
            return {"samples": write_samples_npz(run_dir, outputs["image"], labels if conditional else None)}
        return {}

    def write_figures(self, outputs: Columns, directory: Path, title: str = "") -> dict[str, Path]:
        from bench.generation import sample_grid

        images = outputs["image"][: self.grid_size]
        return {"sample_grid": sample_grid(images, directory / "sample_grid.png")}
