"""Features and logits of a timm classifier: FID-style scores on data Inception was never meant for, and class
accuracy of generated samples.

The digits demo scores its generated 8x8 digits with the pre-logit features and logits of the timm classifier
that another config's ``train`` stage produces, an upstream checkpoint (its metrics labelled by a ``prefix``, never as
Inception FID); a released classifier from a local file (``TimmClassifierFeatures``) measures the accuracy of
generated ImageNet samples. Registered in ``bench.registry.EXTRACTORS`` beside the task's own extractors.
"""
from __future__ import annotations

from typing import Any

import torch

from bench.io import sha256_file
from bench.registry import EXTRACTORS
from bench.tasks.generation.extractors.base import ImageFeatureExtractor


class ClassifierFeatures(ImageFeatureExtractor):
    """A timm classifier adapter (``TimmClassifier``, set up with its weights) as an extractor: ``pool`` is timm's
    pre-logit feature vector (``forward_head(pre_logits=True)``), ``logits`` the class logits, after the adapter's
    own preprocessing (bilinear resize to ``input_size``, mean/std)."""

    def __init__(self, method: Any, checkpoint: str, label: str) -> None:
        if not hasattr(method, "preprocess") or not hasattr(method, "create_model"):
            raise TypeError(f"{type(self).__name__}: {label} is a {type(method).__name__}, not a timm classifier "
                            "adapter (TimmClassifier)")
        self.method, self.checkpoint, self.label = method, checkpoint, label
        self.sha256 = sha256_file(checkpoint)

    def to(self, device: torch.device) -> ClassifierFeatures:
        self.method.device = torch.device(device)
        self.method.model.to(device)
        return self

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"{type(self).__name__} expects uint8 images [B, H, W, C], got {images.dtype} "
                             f"{tuple(images.shape)}")
        model = self.method.model
        x = self.method.preprocess(images.permute(0, 3, 1, 2).float() / 255)
        pool = model.forward_head(model.forward_features(x), pre_logits=True)
        return {"pool": pool.float(), "logits": model.get_classifier()(pool).float()}

    def describe(self) -> dict[str, Any]:
        return {"name": f"{self.method.model_name} {self.label}", "weights": str(self.checkpoint),
                "weights_sha256": self.sha256, "resize": f"bilinear to {self.method.input_size} "
                "(the classifier's own preprocessing)", "features": {"pool": int(self.method.model.num_features),
                                                                   "logits": int(self.method.num_classes)}}


@EXTRACTORS.register_module()
class TrainedClassifierFeatures(ClassifierFeatures):
    """A classifier another config trained: its ``method`` section and final ``checkpoint``, in a config
    ``"upstream:<name>.method"`` and ``"upstream:<name>"`` of a ``checkpoint`` upstream (resolved by the runner; this
    constructor never trains)."""

    def __init__(self, method: dict[str, Any], checkpoint: str) -> None:
        from bench.registry import METHODS
        from bench.upstream import require_path

        checkpoint = require_path(checkpoint, "TrainedClassifierFeatures.checkpoint")
        if not isinstance(method, dict) or "type" not in method:
            raise TypeError(f"TrainedClassifierFeatures.method must be the classifier config's method section (a dict "
                            f"with 'type'; in a config 'upstream:<name>.method'), got {method!r}")
        built = METHODS.build(dict(method))
        built.use_checkpoint(checkpoint)
        super().__init__(built, checkpoint, "(trained upstream)")
        built.setup(torch.device("cpu"))


@EXTRACTORS.register_module()
class TimmClassifierFeatures(ClassifierFeatures):
    """A released classifier from a local weight file, e.g. an ImageNet ResNet-152 as the "off-sampling" classifier
    of Compress Guidance's model-fitting measurement (``ClassAccuracy``). Arguments are ``TimmClassifier``'s."""

    def __init__(self, model_name: str, checkpoint: str, num_classes: int = 1000, **kwargs: Any) -> None:
        from bench.methods.classifier.timm_classifier import TimmClassifier

        method = TimmClassifier(model_name, num_classes, checkpoint=checkpoint, **kwargs)
        super().__init__(method, checkpoint, "(released weights)")
        method.setup(torch.device("cpu"))
