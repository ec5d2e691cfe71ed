"""The moving-digits demo's per-video scorers (labelled demo measures, not VBench's dimensions).

- :class:`DigitCropFeatures` (an image feature extractor): any extractor spec (the harness's digits classifier) applied
  to the digit's window of each frame (:func:`digit_crop`). The digits classifier was trained on 8x8 digits filling
  the image; a moving-digits frame is a larger canvas with the digit somewhere, so the whole frame is not what it
  knows. In VBench's ``SubjectConsistency`` it makes "feature similarity across frames" a similarity of the digit's
  identity, whatever its position.
- :class:`DigitFrameQuality`: frame quality as the digits classifier's confidence (max softmax probability) on each
  frame's digit crop, averaged over frames: near 1 when every frame holds a digit the classifier recognises, about
  1/10 on noise-like blobs.
- :class:`FlowSmoothness`: temporal smoothness from Farneback optical flow (a stand-in for VBench's AMT-S frame
  interpolation, which needs weights this demo does not have): with ``f_t`` the flow from frame t to t+1,
  ``1 - sum_t sum_px |f_{t+1} - f_t| / sum_t sum_px (|f_{t+1}| + |f_t|)``, ``|.|`` the per-pixel Euclidean norm. By
  the triangle inequality it lies in [0, 1]: 1 for constant flow (uniform motion), 0 when the flow reverses every
  frame (``f_{t+1} = -f_t``), about ``1 - sqrt(2)/2`` (0.29) for independent isotropic Gaussian flows of equal scale
  (E|a - b| / E(|a| + |b|) = sqrt(2)/2 for 2-D Gaussians). A video without motion (all flows 0) scores 1 by definition,
  as VBench's motion smoothness scores a static video 1.

The two scorers are ``bench.registry.VIDEO_SCORERS`` entries (a video uint8 [F, H, W, 3] -> float, ``.to(device)``),
the extractor an ``EXTRACTORS`` entry, so the ``video_generation`` task's ``dimensions`` name them.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bench.registry import EXTRACTORS, VIDEO_SCORERS
from bench.tasks.generation.video_scorers.base import VideoScorer, as_video

DIGIT_SIZE = 8  # scikit-learn's digits are 8x8 (the moving-digits clips paste them at scale 1)


def digit_crop(images: torch.Tensor, size: int = DIGIT_SIZE) -> torch.Tensor:
    """The ``size`` x ``size`` window of each uint8 image [N, H, W, C] holding the most intensity (grey = channel
    mean), uint8 [N, size, size, C]. Among windows of equal mass (a digit with empty border rows fits several) the one
    whose centre is nearest the image's intensity centroid wins, then the first in row-major order; a black image
    gives its central window. On a moving-digits frame the crop is the pasted digit exactly (nothing lies outside
    its box)."""
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"digit_crop: expected uint8 images [N, H, W, C], got {images.dtype} {tuple(images.shape)}")
    n, height, width = images.shape[:3]
    if height < size or width < size:
        raise ValueError(f"digit_crop: images {height}x{width} are smaller than the {size}x{size} window")
    grey = images.double().mean(-1)  # [N, H, W]; float64: window sums of uint8 values are exact
    mass = F.avg_pool2d(grey[:, None], size, stride=1)[:, 0] * size * size  # [N, H - s + 1, W - s + 1]
    total = grey.sum((1, 2))
    rows = torch.arange(height, dtype=torch.float64)
    cols = torch.arange(width, dtype=torch.float64)
    safe = total.clamp_min(1e-12)
    centroid_r = torch.where(total > 0, (grey.sum(2) * rows).sum(1) / safe, torch.full_like(total, (height - 1) / 2))
    centroid_c = torch.where(total > 0, (grey.sum(1) * cols).sum(1) / safe, torch.full_like(total, (width - 1) / 2))
    centre_r = torch.arange(mass.shape[1], dtype=torch.float64) + (size - 1) / 2
    centre_c = torch.arange(mass.shape[2], dtype=torch.float64) + (size - 1) / 2
    distance = ((centre_r[None, :, None] - centroid_r[:, None, None]) ** 2
                + (centre_c[None, None, :] - centroid_c[:, None, None]) ** 2)
    best = mass.flatten(1).max(1).values
    tied = mass >= best[:, None, None] - 1e-6
    key = torch.where(tied, distance, torch.full_like(distance, float("inf"))).flatten(1)
    index = key.argmin(1)  # argmin returns the first of equal keys: row-major order
    top, left = index // mass.shape[2], index % mass.shape[2]
    return torch.stack([images[k, int(top[k]):int(top[k]) + size, int(left[k]):int(left[k]) + size]
                        for k in range(n)]) if n else images[:, :size, :size]


def _build_extractor(spec: Any) -> Any:
    return EXTRACTORS.build(dict(spec)) if isinstance(spec, dict) else spec


@EXTRACTORS.register_module()
class DigitCropFeatures:
    """An image feature extractor (``extractor``: an EXTRACTORS spec or a built one) applied to each image's
    :func:`digit_crop` (``size`` pixels a side); with ``grey`` the crop is handed over as one channel (the channel
    mean, rounded), what the harness's digits classifier (``in_chans=1``) reads."""

    def __init__(self, extractor: Any, size: int = DIGIT_SIZE, grey: bool = True) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"DigitCropFeatures: size must be a positive int, got {size!r}")
        self.extractor, self.size, self.grey = _build_extractor(extractor), size, bool(grey)

    def to(self, device: torch.device | str) -> DigitCropFeatures:
        self.extractor = self.extractor.to(torch.device(device))
        return self

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        crops = digit_crop(images, self.size)
        if self.grey:
            crops = crops.float().mean(-1, keepdim=True).round().to(torch.uint8)
        return self.extractor(crops)

    def describe(self) -> dict[str, Any]:
        inner = self.extractor.describe()
        return {**inner, "name": f"digit crop ({self.size}x{self.size} window of most intensity) -> "
                f"{inner.get('name', type(self.extractor).__name__)}", "crop": self.size, "grey": self.grey}


@VIDEO_SCORERS.register_module()
class DigitFrameQuality(VideoScorer):
    """Frame quality of a video: the digits classifier's mean confidence (max softmax probability of its
    ``logits``) on each frame's digit crop. ``extractor``: an EXTRACTORS spec with logits (the harness's trained
    digits classifier, ``TrainedClassifierFeatures``)."""

    label = "digits-classifier confidence on the digit crop of each frame (demo measure, not a VBench dimension)"

    def __init__(self, extractor: Any, size: int = DIGIT_SIZE, grey: bool = True) -> None:
        self.features = DigitCropFeatures(extractor, size, grey)

    def to(self, device: torch.device | str) -> DigitFrameQuality:
        self.features.to(device)
        return self

    @torch.no_grad()
    def __call__(self, video: Any) -> float:
        frames = as_video(video, "DigitFrameQuality")
        out = self.features(frames)
        if "logits" not in out:
            raise ValueError("DigitFrameQuality: the extractor gives no 'logits' (use the digits classifier, "
                             "TrainedClassifierFeatures)")
        return float(out["logits"].float().softmax(-1).max(-1).values.mean())

    def describe(self) -> dict[str, Any]:
        return {"scorer": type(self).__name__, "label": self.label, "extractor": self.features.describe()}


def flow_smoothness(flows: np.ndarray) -> float:
    """``1 - sum |f_{t+1} - f_t| / sum (|f_{t+1}| + |f_t|)`` over flows [T-1, 2, H, W] (module docstring); 1.0 when
    every flow is zero. Needs at least two flows (three frames)."""
    flows = np.asarray(flows, dtype=np.float64)
    if flows.ndim != 4 or flows.shape[1] != 2 or flows.shape[0] < 2:
        raise ValueError(f"flow_smoothness: expected flows [T-1 >= 2, 2, H, W] (a video of at least 3 frames), got "
                         f"{tuple(flows.shape)}")
    norm = np.sqrt((flows ** 2).sum(1))  # [T-1, H, W]
    change = np.sqrt(((flows[1:] - flows[:-1]) ** 2).sum(1)).sum()
    scale = (norm[1:] + norm[:-1]).sum()
    return 1.0 if scale == 0 else float(1.0 - change / scale)


@VIDEO_SCORERS.register_module()
class FlowSmoothness(VideoScorer):
    """Temporal smoothness of a video from Farneback flow between consecutive frames (:func:`flow_smoothness`);
    ``flow``: options of :class:`bench.methods.vdm_memorization.flow.FarnebackFlow` (OpenCV's defaults)."""

    label = "Farneback flow smoothness, 1 - sum|f_t+1 - f_t| / sum(|f_t+1| + |f_t|) (demo measure, not AMT-S)"

    def __init__(self, flow: dict[str, Any] | None = None) -> None:
        from bench.methods.vdm_memorization.flow import build_flow_estimator

        self.estimator = build_flow_estimator("farneback", **(flow or {}))

    def to(self, device: torch.device | str) -> FlowSmoothness:
        return self  # OpenCV on the CPU

    def __call__(self, video: Any) -> float:
        frames = as_video(video, "FlowSmoothness")
        return flow_smoothness(self.estimator(frames))

    def describe(self) -> dict[str, Any]:
        return {"scorer": type(self).__name__, "label": self.label, "flow": self.estimator.describe()}
