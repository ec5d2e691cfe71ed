"""A frames-as-channels video UNet: a ``UNet2DConditionModel`` whose channels are a clip's F frames, called as the
video loop calls a ``UNet3DConditionModel`` (samples (B, C, F, h, w)).

Why it exists: the quick video-memorization demo. On CPU ``UNet3DConditionModel`` spends most of a step on tiny
temporal attentions (8 fixed heads over 4-frame sequences at every pixel: half a forward pass at 12x12, 4 frames,
batch 32), which made the toy about 4 times slower per step than a 2-D UNet over the stacked frames (measured in
configs/vdm_memorization/README.md). Frames in channels mix time in every convolution instead of in temporal
layers; the model is still a text-to-video diffusion model (it denoises whole clips given a caption), with a fixed
frame count (its channel count). Re-implementation scaffolding, not a model the paper studies.

The saved folder is bench's pixel-space ``TextToVideoSDPipeline`` layout (no ``vae``) with ``model_index.json``'s
``unet`` entry ``["diffusers", "UNet2DConditionModel"]``; diffusers' own pipeline cannot run it (it cannot run a
folder without a VAE either), :func:`~bench.methods.vdm_memorization.video_sampling.load_text_to_video` wraps it in
:class:`FramesAsChannelsUNet`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

UNET_CLASS = "UNet2DConditionModel"


@dataclass(frozen=True)
class FramesAsChannelsConfig:
    """What the video loop reads of a UNet's config: one channel per frame, ``frames`` frames, the frame size."""

    in_channels: int
    frames: int
    sample_size: int


class FramesAsChannelsUNet(torch.nn.Module):
    """``unet`` (a ``UNet2DConditionModel`` with ``in_channels == out_channels == frames``) called on videos
    (B, 1, F, h, w): the frames become channels (B, F, h, w) and back. ``config.in_channels`` is 1 (a frame's
    channels, what the loop draws latents for) and ``config.frames`` the fixed frame count; other F is a
    ValueError."""

    def __init__(self, unet: Any) -> None:
        super().__init__()
        if unet.config.in_channels != unet.config.out_channels:
            raise ValueError(f"FramesAsChannelsUNet: the 2-D UNet must output as many channels (frames) as it takes, "
                             f"got in_channels={unet.config.in_channels}, out_channels={unet.config.out_channels}")
        self.unet = unet
        self.config = FramesAsChannelsConfig(in_channels=1, frames=int(unet.config.in_channels),
                                             sample_size=unet.config.sample_size)

    @property
    def device(self) -> torch.device:
        return self.unet.device

    @property
    def dtype(self) -> torch.dtype:
        return self.unet.dtype

    def forward(self, sample: torch.Tensor, timestep: Any, encoder_hidden_states: torch.Tensor,
                return_dict: bool = True) -> Any:
        """ε for ``sample`` (B, 1, F, h, w), as ``UNet3DConditionModel.forward`` returns it (``.sample``, or a
        one-tuple with ``return_dict=False``)."""
        from diffusers.models.unets.unet_3d_condition import UNet3DConditionOutput

        if sample.dim() != 5 or sample.shape[1] != 1 or sample.shape[2] != self.config.frames:
            raise ValueError(f"FramesAsChannelsUNet: samples must be (batch, 1, {self.config.frames}, h, w) (the "
                             f"model was trained on {self.config.frames}-frame clips: set num_frames="
                             f"{self.config.frames}), got {tuple(sample.shape)}")
        batch, _, frames, height, width = sample.shape
        out = self.unet(sample.reshape(batch, frames, height, width), timestep, encoder_hidden_states).sample
        out = out.reshape(batch, 1, frames, height, width)
        return UNet3DConditionOutput(sample=out) if return_dict else (out,)


def build_frames_as_channels_unet(size: int, frames: int, cross_attention_dim: int,
                                  block_out_channels: tuple[int, ...], attention_heads: int) -> Any:
    """A randomly initialised pixel-space ``UNet2DConditionModel`` with ``frames`` input and output channels: a
    plain block at full resolution, cross-attention blocks below (as :func:`.toy.build_video_unet`), one layer per
    block, diffusers' plain attention processor (faster than the fused kernel on CPU at these sizes)."""
    from diffusers import UNet2DConditionModel
    from diffusers.models.attention_processor import AttnProcessor

    levels = len(block_out_channels)
    if levels < 2 or size % 2 ** (levels - 1) or frames < 2:
        raise ValueError(f"build_frames_as_channels_unet: need at least 2 levels, a size divisible by "
                         f"2**(levels - 1) = {2 ** (levels - 1)} and frames >= 2, got size={size}, frames={frames}, "
                         f"block_out_channels={list(block_out_channels)}")
    unet = UNet2DConditionModel(
        sample_size=size, in_channels=frames, out_channels=frames, block_out_channels=tuple(block_out_channels),
        layers_per_block=1, down_block_types=("DownBlock2D", *["CrossAttnDownBlock2D"] * (levels - 1)),
        up_block_types=(*["CrossAttnUpBlock2D"] * (levels - 1), "UpBlock2D"),
        cross_attention_dim=cross_attention_dim, attention_head_dim=attention_heads,
        norm_num_groups=min(8, *block_out_channels))
    unet.set_attn_processor(AttnProcessor())
    return unet
