"""A timm model as a method adapter: logits for single-label classification, trainable at small scale."""
from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from bench.checkpoint import load_weights
from bench.method import Method
from bench.registry import METHODS
from bench.store import Columns
from bench.train import train_supervised


def import_timm_entrypoint(model_name: str) -> None:
    """Import the ``bench.methods`` module whose ``@register_model`` function is ``model_name`` when timm does not
    know the name yet: adapters are imported lazily (one module per registry entry), so a config naming a paper's
    timm model (``vssd_micro``) reaches the paper's module this way. Unknown names are left to timm's own error."""
    import timm

    if timm.is_model(model_name):
        return
    root = Path(str(resources.files("bench.methods")))
    entrypoint = re.compile(rf"@register_model\s*\ndef {re.escape(model_name)}\(")
    for path in sorted(root.rglob("*.py")):
        if entrypoint.search(path.read_text(encoding="utf-8")):
            importlib.import_module(".".join(["bench.methods", *path.relative_to(root).with_suffix("").parts]))
            return


def resize_and_normalize(images: torch.Tensor, device: torch.device, input_size: int | None,
                         mean: float | Sequence[float], std: float | Sequence[float]) -> torch.Tensor:
    """Float images on ``device``, resized (bilinear) to ``input_size`` when given and normalised per channel: the
    on-device preprocessing of the harness's image classifiers and detectors."""
    images = images.to(device, non_blocking=True).float()
    if input_size and images.shape[-1] != input_size:
        images = F.interpolate(images, size=input_size, mode="bilinear", align_corners=False)
    mean_t = torch.as_tensor(mean, device=device, dtype=images.dtype).reshape(-1, 1, 1)
    std_t = torch.as_tensor(std, device=device, dtype=images.dtype).reshape(-1, 1, 1)
    return (images - mean_t) / std_t


class PreprocessedClassifier(torch.nn.Module):
    """``model(preprocess(images))``: the classifier as attacks see it, pixels in [0, 1] in, float logits out."""

    def __init__(self, model: torch.nn.Module, preprocess: Any) -> None:
        super().__init__()
        self.model, self.preprocess = model, preprocess

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(self.preprocess(images)).float()


@METHODS.register_module()
class TimmClassifier(Method):
    """``timm.create_model(model_name)`` with a local checkpoint (never a hub download).

    Inputs are ``batch["image"]`` in [0, 1]; ``input_size`` resizes (bilinear) and ``mean``/``std``
    normalise on the device, so preprocessing is part of the config and recorded with the run.
    ``checkpoint_keys`` orders the entries of a training checkpoint to take the weights from (e.g.
    ``["model_ema", "model"]`` for EMA weights); the key used is recorded in provenance.
    """

    def __init__(self, model_name: str, num_classes: int, in_chans: int = 3, checkpoint: str | None = None,
                 input_size: int | None = None, mean: float | list[float] = 0.5, std: float | list[float] = 0.5,
                 model_kwargs: dict[str, Any] | None = None, checkpoint_keys: list[str] | None = None) -> None:
        self.model_name, self.num_classes, self.in_chans = model_name, num_classes, in_chans
        self.checkpoint = checkpoint
        self.input_size = input_size
        self.mean, self.std = mean, std
        self.model_kwargs = dict(model_kwargs or {})
        self.checkpoint_keys = tuple(checkpoint_keys) if checkpoint_keys else None
        self.model: torch.nn.Module | None = None
        self.device = torch.device("cpu")
        self.weights: dict[str, Any] = {}

    def create_model(self) -> torch.nn.Module:
        import timm

        import_timm_entrypoint(self.model_name)
        return timm.create_model(self.model_name, pretrained=False, num_classes=self.num_classes,
                                 in_chans=self.in_chans, **self.model_kwargs)

    def setup(self, device: torch.device, seed: int = 0) -> None:
        self.device = device
        self.model = self.create_model()
        if self.checkpoint:
            keys = {"keys": self.checkpoint_keys} if self.checkpoint_keys else {}
            self.weights = load_weights(self.model, self.checkpoint, **keys)
        self.model.eval().to(device)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        return resize_and_normalize(images, self.device, self.input_size, self.mean, self.std)

    def predict(self, batch: dict[str, Any], seeds: torch.Tensor) -> Columns:
        assert self.model is not None, "setup() was not called"
        logits = self.model(self.preprocess(batch["image"])).float()
        return {"logits": logits, "target": batch["target"]}

    def attack_model(self, view: str = "logits") -> torch.nn.Module:
        if view != "logits":
            raise ValueError(f"{type(self).__name__} attack views: 'logits'; got {view!r}")
        assert self.model is not None, "setup() was not called"
        return PreprocessedClassifier(self.model, self.preprocess).eval()

    def fit(self, train_set: Any, val_set: Any | None, work_dir: Path, device: torch.device,
            resume: bool = True, **train_cfg: Any) -> Path:
        self.device = device
        model = self.create_model()

        def loss_fn(net: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
            logits = net(self.preprocess(batch["image"]))
            return F.cross_entropy(logits, batch["target"].to(device))

        return train_supervised(model, train_set, loss_fn, work_dir, device, resume=resume, **train_cfg)

    def use_checkpoint(self, path: str | Path) -> None:
        self.checkpoint = str(path)

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "model_name": self.model_name, "checkpoint": self.weights or None}
