"""Semantic-segmentation statistics, mIoU following mmsegmentation's ``IoUMetric`` exactly, and the per-class
family (IoU, Acc, Recall, Precision, F1, Dice) of the Evaluator FusionSAM's ``test.py`` calls.

Each image is reduced to four per-class pixel counts (mmseg's ``intersect_and_union``): the stored per-sample
statistics, from which ``bench score`` recomputes every number. Pixels whose label is ``ignore_index`` are
dropped; labels and predictions outside ``[0, num_classes)`` are not counted in any class (``torch.histc``'s
range in mmseg). Counts are int64 here; mmseg keeps float32 histograms and sums them in float32, which rounds
totals above 2^24 pixels (relative error ~1e-7 on a full ADE20K pass).
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

from bench.metrics.base import Metric
from bench.registry import METRICS
from bench.store import Columns

AREA_COLUMNS = ("area_intersect", "area_union", "area_pred_label", "area_label")


def intersect_and_union(pred: torch.Tensor, label: torch.Tensor, num_classes: int,
                        ignore_index: int = 255) -> dict[str, torch.Tensor]:
    """Per-class intersection, union, prediction and label pixel counts (int64 [num_classes]) of one image."""
    if pred.shape != label.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and label {tuple(label.shape)} differ in shape; "
                         "resize the prediction to the label's (original) size first")
    pred, label = pred.reshape(-1).long(), label.reshape(-1).long()
    keep = label != ignore_index
    pred, label = pred[keep], label[keep]

    def count(values: torch.Tensor) -> torch.Tensor:
        values = values[(values >= 0) & (values < num_classes)]
        return torch.bincount(values, minlength=num_classes)

    area_intersect = count(pred[pred == label])
    area_pred_label, area_label = count(pred), count(label)
    return {"area_intersect": area_intersect, "area_union": area_pred_label + area_label - area_intersect,
            "area_pred_label": area_pred_label, "area_label": area_label}


def segmentation_columns(preds: Sequence[torch.Tensor], labels: Sequence[torch.Tensor], num_classes: int,
                         ignore_index: int = 255) -> Columns:
    """The four area columns ([N, num_classes] int64) for a batch of predicted and ground-truth label maps."""
    per_image = [intersect_and_union(p, g, num_classes, ignore_index) for p, g in zip(preds, labels, strict=True)]
    return {name: torch.stack([stats[name] for stats in per_image]) for name in AREA_COLUMNS}


def total_area_metrics(outputs: Columns) -> dict[str, np.ndarray]:
    """Per-class IoU and accuracy (NaN where a class has no union / no label pixels) and overall pixel accuracy."""
    totals = {name: outputs[name].to(torch.int64).sum(0).numpy().astype(np.float64) for name in AREA_COLUMNS}
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = totals["area_intersect"] / totals["area_union"]
        acc = totals["area_intersect"] / totals["area_label"]
        all_acc = totals["area_intersect"].sum() / totals["area_label"].sum()
    return {"IoU": iou, "Acc": acc, "aAcc": np.asarray(all_acc)}


@METRICS.register_module()
class MeanIoU(Metric):
    """mIoU, mAcc and aAcc (fractions in [0, 1]) from summed per-image histograms, as mmseg ``IoUMetric``.

    mmseg sums over the dataset first and then averages over classes with ``nanmean`` (classes absent from both
    predictions and labels do not count); it reports percentages rounded to 2 decimals, we keep full precision.
    ``per_class`` adds ``IoU.<name>`` for each of ``class_names`` (or class indices).
    """

    required = AREA_COLUMNS

    def __init__(self, per_class: bool = False, class_names: Sequence[str] | None = None, prefix: str = "") -> None:
        super().__init__(prefix)
        self.per_class = per_class
        self.class_names = list(class_names) if class_names is not None else None

    def compute(self, outputs: Columns) -> dict[str, float]:
        areas = total_area_metrics(outputs)
        values = {"mIoU": float(np.nanmean(areas["IoU"])), "mAcc": float(np.nanmean(areas["Acc"])),
                  "aAcc": float(areas["aAcc"])}
        if self.per_class:
            names = self.class_names or [str(i) for i in range(len(areas["IoU"]))]
            if len(names) != len(areas["IoU"]):
                raise ValueError(f"{len(names)} class names for {len(areas['IoU'])} classes")
            values.update({f"IoU.{name}": float(v) for name, v in zip(names, areas["IoU"], strict=True)})
        return values


#: the per-class values of FusionSAM's Evaluator, in its table's column order
CLASS_METRIC_NAMES = ("Acc", "IoU", "Recall", "Precision", "F1", "Dice")
#: the constant the Evaluator adds to ``Acc``'s denominator
EVALUATOR_EPS = 1e-8


def class_metric_family(outputs: Columns) -> dict[str, np.ndarray]:
    """Per-class Acc, IoU, Recall, Precision, F1 and Dice (float64 [num_classes]) from the summed histograms.

    With the confusion matrix summed over the set (rows ground truth, columns prediction): tp = area_intersect,
    tp + fp = area_pred_label, tp + fn = area_label, tp + fp + fn = area_union. The definitions are those of the
    Evaluator behind FusionSAM's ``test.py`` (``segment_anything/eva.py``, not in its repository; the six method names
    it calls and their per-class returns are GeoSeg's ``tools/metric.py`` Evaluator, whose formulas we follow):
    IoU = tp / (tp + fp + fn); Precision = tp / (tp + fp); Recall = tp / (tp + fn); F1 = 2 P R / (P + R);
    Dice = 2 tp / ((tp + fp) + (tp + fn)); Acc = tp / (tp + fp + 1e-8), i.e. its "Acc" is a precision (mmseg's
    ``Acc`` is the Recall here), 0 rather than NaN for a class never predicted. 0/0 gives NaN: a class absent from
    labels and predictions everywhere, and F1 wherever tp = 0 (P = R = 0), where Dice is 0.
    """
    totals = {name: outputs[name].to(torch.int64).sum(0).numpy().astype(np.float64) for name in AREA_COLUMNS}
    tp, predicted, labelled = totals["area_intersect"], totals["area_pred_label"], totals["area_label"]
    with np.errstate(divide="ignore", invalid="ignore"):
        precision, recall = tp / predicted, tp / labelled
        return {"Acc": tp / (predicted + EVALUATOR_EPS), "IoU": tp / totals["area_union"], "Recall": recall,
                "Precision": precision, "F1": 2.0 * precision * recall / (precision + recall),
                "Dice": 2 * tp / (predicted + labelled)}


@METRICS.register_module()
class SegmentationClassMetrics(Metric):
    """Per-class and mean IoU, Acc, Recall, Precision, F1 and Dice (fractions) as FusionSAM's Evaluator computes them
    (:func:`class_metric_family`), from the same per-image histograms as :class:`MeanIoU`.

    Returns ``m<name>`` for each of the six (``mIoU``, ``mAcc``, ``mRecall``, ``mPrecision``, ``mF1``, ``mDice``),
    ``num_classes_averaged`` (how many class ids the means cover), and with ``per_class`` ``<name>.<class>`` for every
    class (excluded ones too). Class handling: the histograms hold every id in ``[0, num_classes)``; ignore pixels
    (label 255) and labels outside the range are in no class, as the Evaluator's mask ``0 <= gt < num_class`` drops
    them. The Evaluator averages over every id, the unlabeled/background id 0 included (``Evaluator(15)`` on FMB), so
    nothing is excluded by default.

    Args:
        class_names: names for the per-class outputs, in label order (default: the ids).
        exclude_classes: ids, or names from ``class_names``, left out of the means (e.g. ``[0]`` for unlabeled).
        average: ``"mean"``, the official ``.mean()`` (a NaN class makes the mean NaN), or ``"nanmean"`` (NaN
            classes skipped, as mmseg's mIoU).
        per_class: also return each class's six values.
    """

    required = AREA_COLUMNS
    AVERAGES = ("mean", "nanmean")

    def __init__(self, class_names: Sequence[str] | None = None, exclude_classes: Sequence[int | str] = (),
                 average: Literal["mean", "nanmean"] = "mean", per_class: bool = True, prefix: str = "") -> None:
        super().__init__(prefix)
        if average not in self.AVERAGES:
            raise ValueError(f"SegmentationClassMetrics average must be one of {self.AVERAGES}, got {average!r}")
        self.class_names = list(class_names) if class_names is not None else None
        self.average, self.per_class = average, per_class
        self.exclude_classes = [self._class_id(c) for c in exclude_classes]

    def _class_id(self, which: int | str) -> int:
        if isinstance(which, str):
            if self.class_names is None or which not in self.class_names:
                raise ValueError(f"SegmentationClassMetrics exclude_classes: {which!r} is not one of the class_names "
                                 f"{self.class_names}; give a class id or a name from class_names")
            return self.class_names.index(which)
        return int(which)

    def compute(self, outputs: Columns) -> dict[str, float]:
        family = class_metric_family(outputs)
        num_classes = len(family["IoU"])
        names = self.class_names or [str(i) for i in range(num_classes)]
        if len(names) != num_classes:
            raise ValueError(f"SegmentationClassMetrics: {len(names)} class names for {num_classes} classes in the "
                             "stored histograms; give one name per class id")
        bad = [c for c in self.exclude_classes if not 0 <= c < num_classes]
        if bad:
            raise ValueError(f"SegmentationClassMetrics exclude_classes {bad} are not class ids 0..{num_classes - 1}")
        kept = np.setdiff1d(np.arange(num_classes), self.exclude_classes)
        if not len(kept):
            raise ValueError("SegmentationClassMetrics exclude_classes leaves no class to average")
        reduce = np.mean if self.average == "mean" else np.nanmean
        values: dict[str, float] = {"num_classes_averaged": float(len(kept))}
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of all-NaN: NaN, as intended
            values.update({f"m{metric}": float(reduce(per_class[kept])) for metric, per_class in family.items()})
        if self.per_class:
            for metric in CLASS_METRIC_NAMES:
                values.update({f"{metric}.{name}": float(v) for name, v in zip(names, family[metric], strict=True)})
        return values
