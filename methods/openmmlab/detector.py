"""An mmdetection model as a method adapter: per-image boxes, scores, labels and RLE masks for COCO mAP."""
from __future__ import annotations

from typing import Any

import torch

from bench.method import collate_ragged
from bench.methods.openmmlab.common import OpenMMLabModel
from bench.metrics.detection import encode_masks
from bench.registry import METHODS
from bench.store import Columns


@METHODS.register_module()
class MMDetDetector(OpenMMLabModel):
    """An mmdet detector through ``test_pipeline``; instance masks (when the model predicts them) are stored as
    COCO RLE, as mmdet's ``encode_mask_results`` does before ``CocoMetric``."""

    toolbox = "mmdet"

    def collate(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        return collate_ragged(items, ("img_path", "image"))

    def predict(self, batch: dict[str, Any], seeds: torch.Tensor) -> Columns:
        columns: Columns = {"image_id": batch["image_id"], "det_bboxes": [], "det_scores": [], "det_labels": []}
        masks = []
        for img_path in batch["img_path"]:
            instances = self.run_one(img_path).pred_instances
            columns["det_bboxes"].append(instances.bboxes.float().cpu())
            columns["det_scores"].append(instances.scores.float().cpu())
            columns["det_labels"].append(instances.labels.long().cpu())
            if "masks" in instances:
                masks.append(encode_masks(instances.masks.cpu().numpy()))
        if masks:
            columns["det_masks"] = masks
        return columns
