"""Semantic-segmentation statistics and mIoU, following mmsegmentation's ``IoUMetric`` exactly.

Each image is reduced to four per-class pixel counts (mmseg's ``intersect_and_union``): the stored per-sample
statistics, from which ``bench score`` recomputes every number. Pixels whose label is ``ignore_index`` are
dropped; labels and predictions outside ``[0, num_classes)`` are not counted in any class (``torch.histc``'s
range in mmseg). Counts are int64 here; mmseg keeps float32 histograms and sums them in float32, which rounds
totals above 2^24 pixels (relative error ~1e-7 on a full ADE20K pass).
"""
from __future__ import annotations

from collections.abc import Sequence

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
