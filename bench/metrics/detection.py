"""COCO box and mask mAP from stored per-image detections, following mmdet 3.x ``CocoMetric``.

Per-sample outputs: ``image_id``, ``det_bboxes`` (float [K, 4] xyxy in original pixels), ``det_scores`` [K],
``det_labels`` (contiguous 0..C-1, the annotation file's categories sorted by id, as mmdet's ``cat_ids``) and,
for masks, ``det_masks`` (COCO RLE dicts). As mmdet: boxes go to COCO as [x1, y1, x2 - x1, y2 - y1], masks are
scored with their box's score, ``maxDets`` is (100, 300, 1000) and the default IoU thresholds apply. Unlike
mmdet, only the images that were run are evaluated (the same set on a full run; a ``limit`` run scores its
subset rather than counting unseen images as misses). Needs pycocotools (``seg`` extra).
"""
from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.finite import require_finite
from bench.metrics.base import Metric
from bench.registry import METRICS
from bench.store import Columns

#: COCOeval.stats positions of the numbers mmdet reports, under mmdet's names
STAT_NAMES = ("mAP", "mAP_50", "mAP_75", "mAP_s", "mAP_m", "mAP_l")


def encode_masks(masks: np.ndarray) -> list[dict[str, Any]]:
    """Binary masks [K, H, W] to COCO RLE dicts with ``counts`` as text (storable, JSON-able)."""
    from pycocotools import mask as mask_util

    encoded = []
    for mask in masks:
        rle = mask_util.encode(np.asfortranarray(mask[:, :, None].astype(np.uint8)))[0]
        encoded.append({"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")})
    return encoded


def coco_results(outputs: Columns, cat_ids: Sequence[int], iou_type: str) -> list[dict[str, Any]]:
    """The detections in COCO's result format (one dict per box or mask)."""
    results = []
    for row, image_id in enumerate(outputs["image_id"].tolist()):
        boxes = np.asarray(outputs["det_bboxes"][row], dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(outputs["det_scores"][row], dtype=np.float64).reshape(-1)
        labels = np.asarray(outputs["det_labels"][row]).reshape(-1)
        masks = outputs["det_masks"][row] if iou_type == "segm" else [None] * len(scores)
        for box, score, label, mask in zip(boxes, scores, labels, masks, strict=True):
            entry: dict[str, Any] = {"image_id": int(image_id), "score": float(score),
                                     "category_id": int(cat_ids[int(label)])}
            if iou_type == "bbox":
                entry["bbox"] = [float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])]
            else:
                entry["segmentation"] = {"size": list(mask["size"]), "counts": mask["counts"].encode("ascii")}
            results.append(entry)
    return results


@METRICS.register_module()
class COCOMeanAP(Metric):
    """``bbox_mAP``, ``segm_mAP`` and their 50/75/s/m/l variants (fractions) against ``ann_file``."""

    required: tuple[str, ...] = ("image_id", "det_bboxes", "det_scores", "det_labels")

    def __init__(self, ann_file: str, iou_types: Sequence[str] = ("bbox", "segm"), prefix: str = "") -> None:
        super().__init__(prefix)
        bad = [t for t in iou_types if t not in ("bbox", "segm")]
        if bad:
            raise ValueError(f"iou_types must be among ('bbox', 'segm'), got {bad}")
        self.ann_file, self.iou_types = ann_file, tuple(iou_types)
        if "segm" in self.iou_types:
            self.required = (*self.required, "det_masks")

    def compute(self, outputs: Columns) -> dict[str, float]:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

        for column in ("det_bboxes", "det_scores"):
            require_finite(outputs, column, "COCOMeanAP")  # COCO would rank and match NaN boxes silently
        with contextlib.redirect_stdout(io.StringIO()):
            ground_truth = COCO(self.ann_file)
        cat_ids = sorted(ground_truth.getCatIds())
        values: dict[str, float] = {}
        for iou_type in self.iou_types:
            results = coco_results(outputs, cat_ids, iou_type)
            if not results:  # COCO.loadRes rejects an empty list; no detection scores zero everywhere
                values.update({f"{iou_type}_{name}": 0.0 for name in STAT_NAMES})
                continue
            with contextlib.redirect_stdout(io.StringIO()):
                evaluator = COCOeval(ground_truth, ground_truth.loadRes(results), iou_type)
                evaluator.params.catIds = cat_ids
                evaluator.params.imgIds = sorted(set(outputs["image_id"].tolist()))
                evaluator.params.maxDets = [100, 300, 1000]
                evaluator.evaluate()
                evaluator.accumulate()
                evaluator.summarize()
            values.update({f"{iou_type}_{name}": float(evaluator.stats[i]) for i, name in enumerate(STAT_NAMES)})
        return values
