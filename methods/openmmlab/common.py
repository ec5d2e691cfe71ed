"""What the mmseg and mmdet adapters share: importing a toolbox, building its model, running its test pipeline.

Both need the ``seg`` extra (mmsegmentation 1.2.2 / mmdet 3.3.0 on mmcv 2.1.0; README "Segmentation stack").
Images are read and resized by the configured OpenMMLab ``test_pipeline`` from ``img_path`` (cv2 decoding, as
``tools/test.py``); ground truth comes from our dataset readers, so pipelines carry no ``LoadAnnotations``.
Images run one at a time, as the toolboxes' test loaders (batch size 1) do: keep-ratio resizing gives every
image its own shape.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import torch

from bench.checkpoint import load_weights
from bench.method import Method

SEG_EXTRA_HINT = ("{package} is not installed: install the `seg` extra (mmsegmentation 1.2.2, mmdet 3.3.0 and "
                  "mmcv 2.1.0 built from source), see README 'Segmentation stack', or run `tox -e seg`")


def import_toolbox(package: str) -> Any:
    """``package`` (``mmseg`` or ``mmdet``) with its modules registered and set as the default registry scope."""
    try:
        toolbox = importlib.import_module(package)
        from mmengine.registry import init_default_scope

        register_all_modules = importlib.import_module(f"{package}.utils").register_all_modules
    except ImportError as error:
        raise ImportError(SEG_EXTRA_HINT.format(package=package)) from error
    register_all_modules(init_default_scope=False)
    init_default_scope(package)
    return toolbox


def numeric_lists_to_tuples(cfg: Any) -> Any:
    """Lists of numbers back to tuples, for pipelines: mmcv's transforms require ``scale`` tuples, and a config
    that went through JSON or ``bench.config.to_plain`` (a resumed run's saved config) holds lists."""
    if isinstance(cfg, dict):
        return {key: numeric_lists_to_tuples(value) for key, value in cfg.items()}
    if isinstance(cfg, (list, tuple)):
        if cfg and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in cfg):
            return tuple(cfg)
        return [numeric_lists_to_tuples(v) for v in cfg]
    return cfg


class OpenMMLabModel(Method):
    """``model`` (a toolbox model config dict) run through ``test_pipeline`` by the toolbox's ``test_step``.

    ``imports`` are modules imported first so their models register (like mmengine's ``custom_imports``), e.g.
    ``bench.methods.vssd.dense`` for ``MM_VSSD``. ``checkpoint`` is an mmengine checkpoint (``state_dict``) loaded
    strictly with the weights-only loader; without one the weights are random (seeded by the run) and the run is
    smoke. Subclasses name the toolbox and turn the predicted data samples into output columns.
    """

    toolbox = ""

    def __init__(self, model: dict[str, Any], test_pipeline: list[dict[str, Any]], checkpoint: str | None = None,
                 imports: list[str] | None = None) -> None:
        self.model_cfg = dict(model)  # models take lists (mmdet's FPN asserts a list of in_channels)
        self.test_pipeline_cfg = numeric_lists_to_tuples(test_pipeline)
        self.checkpoint, self.imports = checkpoint, list(imports or [])
        self.smoke = checkpoint is None
        self.smoke_reason = "randomly initialised model (no checkpoint in the config)" if self.smoke else None
        self.model: torch.nn.Module | None = None
        self.pipeline: Any = None
        self.weights: dict[str, Any] = {}

    def build_model(self) -> torch.nn.Module:
        """The toolbox model in eval mode, SyncBN reverted to BN (inference only: same numbers, any device)."""
        toolbox = import_toolbox(self.toolbox)
        for module in self.imports:
            importlib.import_module(module)
        from mmengine.config import ConfigDict
        from mmengine.model import revert_sync_batchnorm

        model = importlib.import_module(f"{toolbox.__name__}.registry").MODELS.build(ConfigDict(self.model_cfg))
        return revert_sync_batchnorm(model).eval()

    def setup(self, device: torch.device, seed: int = 0) -> None:
        with torch.random.fork_rng(devices=[]):  # random (smoke) weights depend on the run seed only
            torch.manual_seed(seed)
            model = self.build_model()
        if self.checkpoint:
            self.weights = load_weights(model, self.checkpoint, keys=("state_dict",))
        self.model = self.wrap(model).to(device).eval()
        from mmengine.dataset import Compose  # importable now: build_model imported the toolbox

        self.pipeline = Compose(self.pipeline_cfg())

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The module that runs ``test_step`` (e.g. a test-time-augmentation wrapper); ``model`` by default."""
        return model

    def pipeline_cfg(self) -> list[dict[str, Any]]:
        return self.test_pipeline_cfg

    @torch.no_grad()
    def run_one(self, img_path: str) -> Any:
        """The toolbox's data sample predicted for one image file."""
        from mmengine.dataset import pseudo_collate

        assert self.model is not None, "setup() was not called"
        (sample,) = self.model.test_step(pseudo_collate([self.pipeline({"img_path": img_path})]))
        return sample

    def use_checkpoint(self, path: str | Path) -> None:
        self.checkpoint = str(path)
        self.smoke, self.smoke_reason = False, None

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "toolbox": self.toolbox, "model": self.model_cfg.get("type"),
                "backbone": self.model_cfg.get("backbone", {}).get("type"), "checkpoint": self.weights or None}
