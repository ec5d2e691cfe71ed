"""VBench subject consistency: how similar each frame's features are to the first frame's and to the previous frame's
(``vbench/subject_consistency.py``).

Per video with frame features f_0 ... f_{F-1} (L2-normalised):
``score = 1 / (F - 1) * sum_{i >= 1} (max(0, cos(f_{i-1}, f_i)) + max(0, cos(f_0, f_i))) / 2``.
VBench's features are DINO ViT-B/16 class tokens of every frame (:class:`~bench.tasks.generation.extractors.dino.
DINOFeatures`); the formula takes any ``bench.registry.EXTRACTORS`` spec that returns ``{"pool": [F, D]}`` (a toy's
digits features, labelled in ``describe`` as not VBench's).

Reduction over videos: VBench's single-process score divides the sum over all frame pairs by their count; its
multi-process path (and :class:`~bench.metrics.video.VideoDimensions`) averages the per-video scores. The two agree
when every video has the same number of frames, as one model's videos do.
"""
from __future__ import annotations

from typing import Any

import torch

from bench.registry import EXTRACTORS, VIDEO_SCORERS
from bench.tasks.generation.video_scorers.base import VideoScorer, as_video

DINO_SPEC = {"type": "DINOFeatures"}


def subject_consistency(features: torch.Tensor) -> float:
    """The score of one video from its frame features [F, D] (F >= 2; module docstring)."""
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"subject consistency needs the features of at least 2 frames [F, D], got "
                         f"{tuple(features.shape)}")
    f = torch.nn.functional.normalize(features.double(), dim=-1)
    previous = (f[:-1] * f[1:]).sum(dim=-1).clamp_min(0.0)
    first = (f[:1] * f[1:]).sum(dim=-1).clamp_min(0.0)
    return float(((previous + first) / 2).mean())


@VIDEO_SCORERS.register_module()
class SubjectConsistency(VideoScorer):
    """Subject consistency of a video (module docstring).

    Args:
        extractor: an EXTRACTORS spec of the frame features; VBench's DINO ViT-B/16 (``DINOFeatures``, weights from
            VBench's cache folder) by default.
    """

    def __init__(self, extractor: dict[str, Any] | None = None) -> None:
        self.extractor_spec = dict(DINO_SPEC if extractor is None else extractor)
        self.extractor = EXTRACTORS.build(dict(self.extractor_spec))

    def to(self, device: torch.device | str) -> SubjectConsistency:
        self.extractor = self.extractor.to(device)
        return self

    def __call__(self, video: torch.Tensor) -> float:
        frames = as_video(video, "SubjectConsistency")
        return subject_consistency(self.extractor(frames)["pool"].float().cpu())

    def describe(self) -> dict[str, Any]:
        vbench = self.extractor_spec.get("type") == "DINOFeatures" and "arch" not in self.extractor_spec
        return {"dimension": "subject_consistency", "protocol": "VBench subject_consistency.py: mean over frames "
                "i >= 1 of (max(0, cos(f_i-1, f_i)) + max(0, cos(f_0, f_i))) / 2",
                "features": self.extractor.describe(),
                "label": "VBench (DINO ViT-B/16)" if vbench else "not VBench's DINO: features of "
                f"{self.extractor_spec.get('type')}"}
