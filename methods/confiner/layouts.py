"""ConFiner's one shared latent and how each expert sees it.

The chain keeps every latent in the video layout [B, C, F, h, w] (4-channel SD-1.x VAE latents: AnimateDiff, SD 1.5,
ModelScope and LaVie all use that VAE, so one latent space is shared; sheet §3, `inferred`). An expert declares its
``layout``: ``"video"`` (ModelScope / AnimateDiff / LaVie UNets, 5-D) or ``"frames"`` (Stable Diffusion, frames as
a batch [B·F, C, h, w]); :func:`to_expert` / :func:`from_expert` are the only conversions (built on
:mod:`bench.methods.diffusion.video_latents`).

Resize policy (the paper states none; AnimateDiff runs at 512², ModelScope at 256², LaVie at 320×512):

- ``"shared"`` (default): every expert runs at one working latent size, the control expert's output size. The three
  experts are convolutional SD-1.x UNets that accept other sizes, and no resampling then touches the chain, so
  coordinated refinement with identical experts reduces exactly to DDIM.
- ``"native"``: each expert runs at its own native latent size. Only clean-sample estimates x̂0 are resized (at the
  hinge of the chain, before they are re-noised on the receiving expert's schedule): resizing a noisy x_t would
  shrink the variance of its Gaussian part (bilinear averaging of white noise), so noise is always drawn at the
  receiving size. Downsampling is antialiased bilinear, upsampling bilinear (:func:`resize_clean`).
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from bench.methods.diffusion.video_latents import frames_to_video, video_to_frames

Layout = Literal["video", "frames"]
LAYOUTS: tuple[str, ...] = ("video", "frames")
RESIZE_POLICIES: tuple[str, ...] = ("shared", "native")


def _check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"expert layout must be one of {LAYOUTS} ('video': [B, C, F, h, w], 'frames': "
                         f"[B·F, C, h, w]), got {layout!r}")


def to_expert(x: torch.Tensor, layout: str) -> torch.Tensor:
    """The shared latent [B, C, F, h, w] in an expert's ``layout``."""
    _check_layout(layout)
    if x.dim() != 5:
        raise ValueError(f"the shared latent is [B, C, F, h, w]; got shape {tuple(x.shape)}")
    return x if layout == "video" else video_to_frames(x)


def from_expert(y: torch.Tensor, layout: str, batch: int) -> torch.Tensor:
    """An expert's output (same ``layout`` as its input) back to the shared [B, C, F, h, w] for ``batch`` videos."""
    _check_layout(layout)
    if layout == "video":
        if y.dim() != 5:
            raise ValueError(f"a 'video' layout expert must return [B, C, F, h, w]; got shape {tuple(y.shape)}")
        return y
    return frames_to_video(y, batch)


def resize_clean(x0: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a clean latent x̂0 [B, C, F, h, w] to ``size`` = (h', w') frame by frame (antialiased bilinear when
    shrinking; never applied to a noisy latent, see the module's resize policy). Returns ``x0`` itself if the size
    already matches."""
    if x0.dim() != 5:
        raise ValueError(f"resize_clean: expected [B, C, F, h, w], got shape {tuple(x0.shape)}")
    if tuple(x0.shape[-2:]) == tuple(size):
        return x0
    frames = video_to_frames(x0)
    shrink = size[0] < x0.shape[-2] or size[1] < x0.shape[-1]
    resized = F.interpolate(frames, size=tuple(size), mode="bilinear", align_corners=False, antialias=shrink)
    return frames_to_video(resized, x0.shape[0])
