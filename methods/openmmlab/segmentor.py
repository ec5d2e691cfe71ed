"""An mmsegmentation model as a method adapter: per-image class histograms from mmseg's own inference and TTA."""
from __future__ import annotations

from typing import Any

import torch

from bench.method import collate_ragged
from bench.methods.openmmlab.common import OpenMMLabModel, numeric_lists_to_tuples
from bench.metrics.segmentation import segmentation_columns
from bench.registry import METHODS
from bench.store import Columns


@METHODS.register_module()
class MMSegSegmentor(OpenMMLabModel):
    """An mmseg segmentor evaluated through ``test_pipeline``, or through ``tta_pipeline`` with mmseg's
    ``SegTTAModel`` (softmax scores averaged over the views) when ``tta`` is set. Predictions are compared with the
    reader's ``gt_seg_map`` at the original size (mmseg resizes logits back before the argmax)."""

    toolbox = "mmseg"

    def __init__(self, model: dict[str, Any], test_pipeline: list[dict[str, Any]],
                 tta_pipeline: list[dict[str, Any]] | None = None, tta: bool = False,
                 checkpoint: str | None = None, imports: list[str] | None = None, ignore_index: int = 255) -> None:
        if tta and not tta_pipeline:
            raise ValueError("tta=True needs a tta_pipeline")
        super().__init__(model, test_pipeline, checkpoint, imports)
        self.tta_pipeline_cfg = numeric_lists_to_tuples(tta_pipeline)
        self.tta, self.ignore_index = tta, ignore_index
        self.num_classes = 0

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        from mmseg.registry import MODELS

        self.num_classes = int(model.decode_head.num_classes)
        return MODELS.build(dict(type="SegTTAModel", module=model)) if self.tta else model

    def pipeline_cfg(self) -> list[dict[str, Any]]:
        return self.tta_pipeline_cfg if self.tta else self.test_pipeline_cfg

    def collate(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        return collate_ragged(items, ("img_path", "seg_map_path", "gt_seg_map", "image"))

    def predict_one(self, img_path: str) -> torch.Tensor:
        """Predicted label map (int64 [H, W], the image's original size) for one image file."""
        return self.run_one(img_path).pred_sem_seg.data.squeeze(0).cpu()

    def predict(self, batch: dict[str, Any], seeds: torch.Tensor) -> Columns:
        preds = [self.predict_one(path) for path in batch["img_path"]]
        return segmentation_columns(preds, batch["gt_seg_map"], self.num_classes, self.ignore_index)

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "tta": self.tta}
