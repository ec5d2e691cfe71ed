"""Teacher, student and projectors of two-in-one distillation, each a small module with one job.

The paper's architectures are unknown (sheet section 3), so these are the chosen defaults, all config options:
the teacher has a spatial branch on the RGB image and a frequency branch on its DCT band images
(:func:`~bench.methods.two_in_one_kd.frequency.band_decompose`), each a timm backbone without its classifier,
fused by concatenating the pooled features into one real/fake logit (F3-Net-style two streams); the student is one
timm backbone with a logit head; a projector maps the student's pooled features into one teacher branch's space.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from bench.methods.two_in_one_kd.frequency import DEFAULT_BANDS, band_decompose


def timm_backbone(model_name: str, in_chans: int, **kwargs: Any) -> nn.Module:
    """A timm model returning pooled features (``num_classes=0``); its width is ``.num_features``.

    Random init by default; ``pretrained=True, pretrained_cfg_overlay={"file": "<local .pth/.safetensors>"}`` in
    ``kwargs`` starts from local ImageNet weights (timm adapts the first convolution to ``in_chans``, e.g. the
    frequency branch's 9 band channels), never from a hub download.
    """
    import timm

    kwargs.setdefault("pretrained", False)
    return timm.create_model(model_name, num_classes=0, in_chans=in_chans, **kwargs)


class DualBranchTeacher(nn.Module):
    """Spatial branch on the image, frequency branch on its DCT bands, fused logit on the concatenated features.

    ``forward`` returns ``{"logit" [B], "spatial" [B, Ds], "frequency" [B, Df]}`` (pooled branch features, the
    distillation targets).
    """

    def __init__(self, spatial: str, frequency: str, in_chans: int = 3,
                 bands: Sequence[tuple[float, float]] = DEFAULT_BANDS, backbone_kwargs: dict[str, Any] | None = None
                 ) -> None:
        super().__init__()
        self.bands = tuple(tuple(b) for b in bands)
        self.spatial = timm_backbone(spatial, in_chans, **(backbone_kwargs or {}))
        self.frequency = timm_backbone(frequency, in_chans * len(self.bands), **(backbone_kwargs or {}))
        self.head = nn.Linear(self.spatial.num_features + self.frequency.num_features, 1)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        spatial = self.spatial(images)
        frequency = self.frequency(band_decompose(images, self.bands))
        logit = self.head(torch.cat([spatial, frequency], dim=1)).squeeze(1)
        return {"logit": logit, "spatial": spatial, "frequency": frequency}


class Student(nn.Module):
    """One timm backbone and a linear real/fake head; ``forward`` returns ``{"logit" [B], "features" [B, D]}``."""

    def __init__(self, model_name: str, in_chans: int = 3, backbone_kwargs: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.backbone = timm_backbone(model_name, in_chans, **(backbone_kwargs or {}))
        self.head = nn.Linear(self.backbone.num_features, 1)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.backbone(images)
        return {"logit": self.head(features).squeeze(1), "features": features}


class Projector(nn.Module):
    """Student features -> one teacher branch's feature space: ``"linear"`` or ``"mlp"`` (Linear, ReLU, Linear
    with a hidden width of the target's), the two common choices for feature distillation."""

    def __init__(self, in_features: int, out_features: int, kind: str = "mlp") -> None:
        super().__init__()
        if kind == "linear":
            self.net: nn.Module = nn.Linear(in_features, out_features)
        elif kind == "mlp":
            self.net = nn.Sequential(nn.Linear(in_features, out_features), nn.ReLU(inplace=True),
                                     nn.Linear(out_features, out_features))
        else:
            raise ValueError(f"projector kind must be 'linear' or 'mlp', got {kind!r}")

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)
