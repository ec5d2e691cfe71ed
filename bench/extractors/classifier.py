"""Features from a classifier the harness trained itself: FID-style scores on data Inception was never meant for.

The digits demo scores its generated 8x8 digits with the pre-logit features and logits of the timm classifier
that another config's ``train`` stage produces; the scores are labelled as such (``metric_prefix``), never as
Inception FID.
"""
from __future__ import annotations

from typing import Any

import torch

from bench.extractors.base import ImageFeatureExtractor
from bench.io import sha256_file
from bench.registry import EXTRACTORS


@EXTRACTORS.register_module()
class TrainedClassifierFeatures(ImageFeatureExtractor):
    """The classifier trained by ``config``'s train stage (run, or resumed, on first use): ``pool`` is timm's
    pre-logit feature vector (``forward_head(pre_logits=True)``), ``logits`` the class logits."""

    def __init__(self, config: str) -> None:
        from bench.config import load_config
        from bench.runner import build, train

        self.config_name = config
        cfg = load_config(config)
        checkpoint = train(cfg)
        _, self.method, _ = build(cfg)
        if not hasattr(self.method, "preprocess") or not hasattr(self.method, "create_model"):
            raise TypeError(f"TrainedClassifierFeatures: {config} builds {type(self.method).__name__}, which is not "
                            "a timm classifier adapter (TimmClassifier)")
        self.method.use_checkpoint(checkpoint)
        self.method.setup(torch.device("cpu"))
        self.checkpoint = checkpoint
        self.sha256 = sha256_file(checkpoint)

    def to(self, device: torch.device) -> TrainedClassifierFeatures:
        self.method.device = torch.device(device)
        self.method.model.to(device)
        return self

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"TrainedClassifierFeatures expects uint8 images [B, H, W, C], got {images.dtype} "
                             f"{tuple(images.shape)}")
        model = self.method.model
        x = self.method.preprocess(images.permute(0, 3, 1, 2).float() / 255)
        pool = model.forward_head(model.forward_features(x), pre_logits=True)
        return {"pool": pool.float(), "logits": model.get_classifier()(pool).float()}

    def describe(self) -> dict[str, Any]:
        return {"name": f"{self.method.model_name} trained by {self.config_name}", "weights": str(self.checkpoint),
                "weights_sha256": self.sha256, "resize": f"bilinear to {self.method.input_size} "
                "(the classifier's own preprocessing)", "features": {"pool": int(self.method.model.num_features),
                                                                   "logits": int(self.method.num_classes)}}
