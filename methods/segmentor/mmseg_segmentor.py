"""An mmsegmentation model as a method adapter: mmseg's own test pipeline, inference and (optional) TTA.

Needs the ``seg`` extra (mmsegmentation 1.2.2 with mmcv 2.1.0; README "Segmentation stack"). The image is read
and resized by the configured mmseg ``test_pipeline`` from ``img_path`` (cv2 decoding, as ``tools/test.py``);
the label comes from the dataset reader, which follows mmseg's ``LoadAnnotations`` (tests check both agree), so
the pipeline carries no ``LoadAnnotations``. Images run one at a time, as mmseg's test loader (batch size 1)
does, because keep-ratio resizing gives every image its own shape.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import torch

from bench.checkpoint import load_weights
from bench.method import Method, collate_ragged
from bench.metrics.segmentation import segmentation_columns
from bench.registry import METHODS
from bench.store import Columns

SEG_EXTRA_HINT = ("mmsegmentation is not installed: install the `seg` extra (mmsegmentation 1.2.2 + mmcv 2.1.0 "
                  "built from source), see README 'Segmentation stack', or run `tox -e seg`")


def import_mmseg() -> Any:
    """``mmseg`` with its modules registered and ``mmseg`` as the default registry scope."""
    try:
        import mmseg
        from mmengine.registry import init_default_scope
        from mmseg.utils import register_all_modules
    except ImportError as error:
        raise ImportError(SEG_EXTRA_HINT) from error
    register_all_modules(init_default_scope=False)
    init_default_scope("mmseg")
    return mmseg


def numeric_lists_to_tuples(cfg: Any) -> Any:
    """Lists of numbers back to tuples: mmcv's transforms require ``scale`` tuples, and a config that went through
    JSON or ``bench.config.to_plain`` (a resumed run's saved config) holds lists."""
    if isinstance(cfg, dict):
        return {key: numeric_lists_to_tuples(value) for key, value in cfg.items()}
    if isinstance(cfg, (list, tuple)):
        if cfg and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in cfg):
            return tuple(cfg)
        return [numeric_lists_to_tuples(v) for v in cfg]
    return cfg


@METHODS.register_module()
class MMSegSegmentor(Method):
    """``model`` (an mmseg model config dict) evaluated through ``test_pipeline``, or ``tta_pipeline`` with mmseg's
    ``SegTTAModel`` (softmax scores averaged over augmentations) when ``tta`` is set.

    ``imports`` are modules imported first so their models register (like mmengine's ``custom_imports``), e.g.
    ``bench.methods.vssd.dense`` for ``MM_VSSD``. ``checkpoint`` is an mmengine checkpoint (``state_dict``)
    loaded strictly with the weights-only loader; without one the weights are random and the run is smoke.
    """

    def __init__(self, model: dict[str, Any], test_pipeline: list[dict[str, Any]],
                 tta_pipeline: list[dict[str, Any]] | None = None, tta: bool = False,
                 checkpoint: str | None = None, imports: list[str] | None = None, ignore_index: int = 255) -> None:
        if tta and not tta_pipeline:
            raise ValueError("tta=True needs a tta_pipeline")
        self.model_cfg = numeric_lists_to_tuples(model)
        self.test_pipeline_cfg = numeric_lists_to_tuples(test_pipeline)
        self.tta_pipeline_cfg = numeric_lists_to_tuples(tta_pipeline)
        self.tta, self.checkpoint, self.imports = tta, checkpoint, list(imports or [])
        self.ignore_index = ignore_index
        self.smoke = checkpoint is None
        self.smoke_reason = "randomly initialised segmentor (no checkpoint in the config)" if self.smoke else None
        self.model: torch.nn.Module | None = None
        self.pipeline: Any = None
        self.num_classes = 0
        self.weights: dict[str, Any] = {}

    def build_model(self) -> torch.nn.Module:
        """The segmentor in eval mode, SyncBN reverted to BN (inference only: identical numbers, any device)."""
        import_mmseg()
        for module in self.imports:
            importlib.import_module(module)
        from mmengine.config import ConfigDict
        from mmengine.model import revert_sync_batchnorm
        from mmseg.registry import MODELS

        model = MODELS.build(ConfigDict(self.model_cfg))
        return revert_sync_batchnorm(model).eval()

    def setup(self, device: torch.device, seed: int = 0) -> None:
        with torch.random.fork_rng(devices=[]):  # random (smoke) weights depend on the run seed only
            torch.manual_seed(seed)
            segmentor = self.build_model()
        if self.checkpoint:
            self.weights = load_weights(segmentor, self.checkpoint, keys=("state_dict",))
        from mmengine.dataset import Compose  # importable now: build_model imported mmseg
        from mmseg.registry import MODELS

        self.num_classes = int(segmentor.decode_head.num_classes)
        self.model = MODELS.build(dict(type="SegTTAModel", module=segmentor)) if self.tta else segmentor
        self.model.to(device).eval()
        self.pipeline = Compose(self.tta_pipeline_cfg if self.tta else self.test_pipeline_cfg)

    def collate(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        return collate_ragged(items, ("img_path", "seg_map_path", "gt_seg_map", "image"))

    @torch.no_grad()
    def predict_one(self, img_path: str) -> torch.Tensor:
        """Predicted label map (int64 [H, W], the image's original size) for one image file."""
        from mmengine.dataset import pseudo_collate

        assert self.model is not None, "setup() was not called"
        data = pseudo_collate([self.pipeline({"img_path": img_path})])
        (sample,) = self.model.test_step(data)
        return sample.pred_sem_seg.data.squeeze(0).cpu()

    def predict(self, batch: dict[str, Any], seeds: torch.Tensor) -> Columns:
        preds = [self.predict_one(path) for path in batch["img_path"]]
        return segmentation_columns(preds, batch["gt_seg_map"], self.num_classes, self.ignore_index)

    def use_checkpoint(self, path: str | Path) -> None:
        self.checkpoint = str(path)
        self.smoke, self.smoke_reason = False, None

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "model": self.model_cfg.get("type"),
                "backbone": self.model_cfg.get("backbone", {}).get("type"), "tta": self.tta,
                "checkpoint": self.weights or None}
