"""The per-fold feature stage: a timm frame backbone fine-tuned on the fold's training videos only, then frozen to
extract one feature vector per frame, cached per video, so the features of a fold never see its test videos.

The backbone is trained inside DiffTriplet's ``fit`` on the training reader it is given (multi-label BCE on the
131 joint channels; the paper's backbone and recipe are unknown, the derivative used Rendezvous features) and its
weights and feature cache live in that training's directory, whose hash includes the fold.
"""
from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

from bench.checkpoint import CheckpointError, extract_state_dict, load_checkpoint_file, mismatch_message
from bench.io import atomic_write_bytes, sha256_file
from bench.train import train_supervised

log = logging.getLogger("bench.difftriplet")


@dataclass
class BackboneSettings:
    """``model_name`` (timm), an optional local ``checkpoint`` to start from (its classifier is replaced),
    the frame preprocessing and the fine-tuning recipe (``epochs=0`` keeps the checkpoint's weights)."""

    model_name: str
    checkpoint: str | None = None
    input_size: int = 224
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    epochs: int = 1
    batch_size: int = 32
    lr: float = 1e-4
    weight_decay: float = 0.0
    seed: int = 0
    num_classes: int = 131


def load_frame(path: str | Path, size: int) -> torch.Tensor:
    """[3, size, size] float in [0, 1], bilinear resize of an RGB frame."""
    with Image.open(path) as image:
        array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    frame = torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0)
    return F.interpolate(frame, size=(size, size), mode="bilinear", align_corners=False)[0]


class FrameLabels(Dataset):
    """Every frame of the given videos with its joint target: items ``image`` [3, S, S] and ``target`` [131]."""

    def __init__(self, frames: Sequence[Sequence[str | Path]], targets: Sequence[torch.Tensor], size: int) -> None:
        self.items = [(path, target[i]) for paths, target in zip(frames, targets, strict=True)
                      for i, path in enumerate(paths)]
        self.size = size

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        path, target = self.items[index]
        return {"image": load_frame(path, self.size), "target": torch.as_tensor(target, dtype=torch.float32)}


class FrameBackbone:
    """A timm model whose pooled pre-logits features describe a frame."""

    def __init__(self, settings: BackboneSettings) -> None:
        import timm

        self.settings = settings
        self.model = timm.create_model(settings.model_name, pretrained=False, num_classes=settings.num_classes)
        self.weights: dict[str, Any] = {}

    def load_start(self) -> None:
        """The configured starting checkpoint without its classifier (re-initialised for the 131 channels); any
        other missing or unexpected key is an error."""
        if not self.settings.checkpoint:
            return
        path = self.settings.checkpoint
        head = str(self.model.pretrained_cfg.get("classifier", "")) + "."
        state = {k: v for k, v in extract_state_dict(load_checkpoint_file(path)).items() if not k.startswith(head)}
        result = self.model.load_state_dict(state, strict=False)
        missing = [k for k in result.missing_keys if not k.startswith(head)]
        if missing or result.unexpected_keys:
            raise CheckpointError(mismatch_message(path, self.model, missing, list(result.unexpected_keys),
                                                   hint=f"Use a checkpoint of timm {self.settings.model_name!r}."))
        self.weights = {"path": str(path), "sha256": sha256_file(path), "reinitialised": head[:-1]}

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        mean = torch.as_tensor(self.settings.mean, device=images.device).reshape(1, -1, 1, 1)
        std = torch.as_tensor(self.settings.std, device=images.device).reshape(1, -1, 1, 1)
        return (images - mean) / std

    def fine_tune(self, frames: FrameLabels, work_dir: Path, device: torch.device, resume: bool = True) -> Path:
        """Multi-label BCE on the training frames with ``bench.train.train_supervised``; returns ``final.pth``."""
        def loss_fn(net: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
            logits = net(self.normalise(batch["image"].to(device)))
            return F.binary_cross_entropy_with_logits(logits, batch["target"].to(device))

        s = self.settings
        return train_supervised(self.model, frames, loss_fn, work_dir, device, epochs=s.epochs,
                                batch_size=s.batch_size, lr=s.lr, weight_decay=s.weight_decay, seed=s.seed,
                                resume=resume)

    @torch.no_grad()
    def features(self, paths: Sequence[str | Path], device: torch.device) -> np.ndarray:
        """(T, D) float32 pooled features of a video's frames, in order."""
        self.model.eval().to(device)
        chunks = []
        for start in range(0, len(paths), self.settings.batch_size):
            images = torch.stack([load_frame(p, self.settings.input_size)
                                  for p in paths[start:start + self.settings.batch_size]]).to(device)
            pooled = self.model.forward_head(self.model.forward_features(self.normalise(images)), pre_logits=True)
            chunks.append(pooled.float().cpu().numpy())
        return np.concatenate(chunks).astype(np.float32)


class FeatureCache:
    """``<directory>/<video>.npy`` (T, D) float32, written atomically; a present file is reused."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def path(self, video: str) -> Path:
        return self.directory / f"{video}.npy"

    def get(self, video: str, paths: Sequence[str | Path], backbone: FrameBackbone,
            device: torch.device) -> np.ndarray:
        target = self.path(video)
        if target.is_file():
            features = np.load(target)
            if len(features) == len(paths):
                return features
            log.warning("%s has %d rows for %d frames: extracting again", target, len(features), len(paths))
        features = backbone.features(paths, device)
        buffer = io.BytesIO()
        np.save(buffer, features)
        atomic_write_bytes(target, buffer.getvalue())
        return features

