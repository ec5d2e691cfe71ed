"""The two layouts of video latents, converted in one place: video UNets (ModelScope's ``UNet3DConditionModel``,
AnimateDiff's ``UNetMotionModel``, LaVie) take [B, C, F, h, w]; image UNets (Stable Diffusion), 2-D VAEs and
TextToVideoSDPipeline's scheduler step take the frames as a batch [B·F, C, h, w] (frame index fastest)."""
from __future__ import annotations

import torch


def video_to_frames(x: torch.Tensor) -> torch.Tensor:
    """[B, C, F, h, w] → [B·F, C, h, w], rows ordered video by video, frame by frame."""
    if x.dim() != 5:
        raise ValueError(f"video_to_frames: expected a 5-D video latent [B, C, F, h, w], got shape {tuple(x.shape)}")
    return x.permute(0, 2, 1, 3, 4).reshape(-1, x.shape[1], *x.shape[3:])


def frames_to_video(x: torch.Tensor, batch: int) -> torch.Tensor:
    """[B·F, C, h, w] → [B, C, F, h, w] for ``batch`` = B videos (the inverse of :func:`video_to_frames`)."""
    if x.dim() != 4 or batch < 1 or x.shape[0] % batch:
        raise ValueError(f"frames_to_video: expected [B·F, C, h, w] with B·F divisible by batch={batch}, got shape "
                         f"{tuple(x.shape)}")
    return x.reshape(batch, -1, *x.shape[1:]).permute(0, 2, 1, 3, 4)
