"""DINO ViT-B/16 frame features as VBench computes them for subject consistency (``vbench/subject_consistency.py`` with
``torch.hub.load("facebookresearch/dino:main", "dino_vitb16")``), from the official weight file.

Preprocessing is VBench's ``dino_transform(224)`` on the frames as its ``load_video`` returns them (``torch.Tensor
(frames)``: float32 in [0, 255], not uint8, so the resize is not rounded): torchvision ``Resize(224, antialias=False)``
(bilinear, shorter side to 224, aspect kept, no crop), ``/ 255``, ImageNet mean/std. The network is timm's
``VisionTransformer`` with DINO's ViT-B/16 shapes (the state-dict keys of ``dino_vitbase16_pretrain.pth`` are timm's),
run as DINO's own ``VisionTransformer.forward``: patch tokens, the class token, position embeddings resized DINO's way
(:func:`dino_position_embedding`, bicubic by ``scale_factor`` with its ``+ 0.1``, which matters for non-square frames),
the blocks, the final norm, and the class token as the feature.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from bench.registry import EXTRACTORS
from bench.tasks.generation.extractors.base import ImageFeatureExtractor

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DINO_VITB16 = {"patch_size": 16, "embed_dim": 768, "depth": 12, "num_heads": 12}


def vbench_dino_transform(frames: torch.Tensor, size: int = 224) -> torch.Tensor:
    """uint8 frames [B, H, W, 3] -> float32 [B, 3, h, w] as VBench's ``dino_transform(size)`` on its float frames:
    shorter side resized to ``size`` (bilinear, no antialias), ``/ 255``, ImageNet normalisation."""
    import torchvision.transforms.functional as TF

    x = TF.resize(frames.permute(0, 3, 1, 2).float(), size, antialias=False)
    x = x.float().div(255.0)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def dino_position_embedding(pos_embed: torch.Tensor, height: int, width: int, patch_size: int) -> torch.Tensor:
    """DINO's ``interpolate_pos_encoding`` for an input of ``height`` x ``width`` pixels: unchanged for the trained
    grid, else the patch embeddings resized bicubically by ``scale_factor`` (grid + 0.1) / sqrt(N)."""
    n = pos_embed.shape[1] - 1
    rows, cols = height // patch_size, width // patch_size
    if rows * cols == n and height == width:  # DINO: ``npatch == N and w == h``
        return pos_embed
    side = int(math.sqrt(n))
    dim = pos_embed.shape[-1]
    grid = pos_embed[:, 1:].reshape(1, side, side, dim).permute(0, 3, 1, 2)
    resized = torch.nn.functional.interpolate(grid, scale_factor=((rows + 0.1) / math.sqrt(n),
                                                                  (cols + 0.1) / math.sqrt(n)), mode="bicubic")
    if resized.shape[-2:] != (rows, cols):
        raise ValueError(f"DINO position embedding resized to {tuple(resized.shape[-2:])}, expected {(rows, cols)}")
    return torch.cat([pos_embed[:, :1], resized.permute(0, 2, 3, 1).reshape(1, -1, dim)], dim=1)


@EXTRACTORS.register_module()
class DINOFeatures(ImageFeatureExtractor):
    """``{"pool": [B, D]}``: the DINO class token of each uint8 frame [B, H, W, 3] (module docstring).

    Args:
        weights: the DINO state dict (VBench: ``<cache>/dino_model/dino_vitbase16_pretrain.pth``); None looks there
            (:func:`~bench.tasks.generation.video_scorers.base.vbench_cache_dir`).
        cache_dir: VBench's cache folder instead of ``$VBENCH_CACHE_DIR`` / ``~/.cache/vbench``.
        arch: ViT shapes (``patch_size``, ``embed_dim``, ``depth``, ``num_heads``); DINO ViT-B/16's by default (a
            smaller one for tests).
        size: the resize of the shorter side (VBench: 224).
        batch_size: frames per forward pass.
    """

    def __init__(self, weights: str | None = None, cache_dir: str | None = None, arch: dict[str, int] | None = None,
                 size: int = 224, batch_size: int = 32) -> None:
        import timm

        from bench.tasks.generation.video_scorers.base import vbench_weight, weight_facts

        self.path = vbench_weight("dino", weights, cache_dir, "DINOFeatures")
        self.arch = dict(DINO_VITB16 if arch is None else arch)
        self.size, self.batch_size = int(size), int(batch_size)
        self.model: Any = timm.models.vision_transformer.VisionTransformer(
            img_size=224, num_classes=0, qkv_bias=True, **self.arch)  # type: ignore[arg-type]
        state = torch.load(self.path, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state) if isinstance(state, dict) else state
        try:
            self.model.load_state_dict(state, strict=True)
        except RuntimeError as error:
            raise ValueError(f"DINOFeatures: {str(self.path)!r} is not a DINO ViT state dict of shapes {self.arch} "
                             f"({str(error).splitlines()[0][:300]}); expected dino_vitbase16_pretrain.pth") from error
        self.model.eval()
        self.weights = weight_facts(Path(self.path))
        self._device = torch.device("cpu")

    def to(self, device: torch.device | str) -> DINOFeatures:
        self._device = torch.device(device)
        self.model.to(self._device)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """DINO's ``VisionTransformer.forward`` on a preprocessed batch [B, 3, h, w]: the normed class token."""
        model = self.model
        tokens = model.patch_embed.proj(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([model.cls_token.expand(len(x), -1, -1), tokens], dim=1)
        tokens = tokens + dino_position_embedding(model.pos_embed, x.shape[-2], x.shape[-1], self.arch["patch_size"])
        for block in model.blocks:
            tokens = block(tokens)
        return model.norm(tokens)[:, 0]

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:  # type: ignore[override]
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"DINOFeatures expects RGB uint8 frames [B, H, W, 3], got {images.dtype} "
                             f"{tuple(images.shape)}")
        parts = []
        with torch.no_grad():
            for start in range(0, len(images), self.batch_size):
                batch = vbench_dino_transform(images[start:start + self.batch_size].cpu(), self.size)
                parts.append(self.forward(batch.to(self._device)).float())
        return {"pool": torch.cat(parts) if parts else torch.empty(0, self.arch["embed_dim"])}

    def describe(self) -> dict[str, Any]:
        return {"name": "dino_vitb16" if self.arch == DINO_VITB16 else f"dino_vit {self.arch}",
                "weights": self.weights["file"], "weights_sha256": self.weights["sha256"],
                "preprocessing": f"VBench dino_transform({self.size}): Resize({self.size}, bilinear, antialias=False) "
                                 "on uint8, /255, ImageNet mean/std", "feature": "class token after the final norm"}
