"""LSTG (latent space token generation): one VQ model per modality and its normalised pre-quantisation latents.

The official ``data_gen.py`` encodes each modality with its own VQGAN, ``encode(x, quantize=False,
include_embeddings=True)``, i.e. the latents *before* quantisation, and min-max normalises them by the range of all
codebook entries to [-1, 1]; images enter as 3-channel (the infrared PNG converted to RGB) scaled per image to
[-1, 1] (``preprocess_input``). Here the VQ model is diffusers' ``VQModel``, whose ``encode`` returns exactly those
pre-quantisation latents (``quant_conv(encoder(x))``; quantisation happens in ``decode``). The official VQGAN's
architecture, codebook size and its perceptual / adversarial losses are not published; the VQ models here train on
an L1 reconstruction plus diffusers' codebook + commitment loss (``VQModel.forward``'s ``commit_loss``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

#: what ``VQModel`` builds when a config gives no ``vq`` section (a small one; the official VQGAN is unpublished)
DEFAULT_VQ = dict(block_out_channels=(32, 64), down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                  up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), latent_channels=4, num_vq_embeddings=256,
                  norm_num_groups=8, layers_per_block=1)


def build_vq(cfg: dict[str, Any] | None) -> nn.Module:
    """A ``diffusers.VQModel`` with 3 input and output channels (both modalities enter as RGB, as the code)."""
    from diffusers import VQModel

    kwargs = {**DEFAULT_VQ, **(cfg or {})}
    for key in ("in_channels", "out_channels"):
        if kwargs.pop(key, 3) != 3:
            raise ValueError(f"fusionsam vq.{key} must be 3: both modalities enter the VQ models as 3-channel "
                             "images (the infrared PNG converted to RGB, as the official data_gen.py)")
    return VQModel(in_channels=3, out_channels=3, **kwargs)


def as_three_channels(image: Tensor) -> Tensor:
    """[B, 1 or 3, H, W] -> [B, 3, H, W] (a thermal image is repeated, like PIL's ``convert('RGB')``)."""
    if image.shape[1] == 3:
        return image
    if image.shape[1] != 1:
        raise ValueError(f"expected 1 or 3 image channels, got {image.shape[1]}")
    return image.expand(-1, 3, -1, -1)


SCALINGS = ("per_image", "fixed")


def preprocess_input(image: Tensor, scaling: str = "per_image") -> Tensor:
    """uint8-range pixels to [-1, 1]. ``"per_image"``: min-max scaling per image, the official ``preprocess_input``
    (including its ``+ 1e-3``): ``(x - min) / (max(x - min) + 1e-3) * 2 - 1``; it discards absolute intensity, so
    a thermal image's temperatures become relative to that image's range. ``"fixed"``: ``x / 127.5 - 1``."""
    if scaling not in SCALINGS:
        raise ValueError(f"fusionsam vq_input_scaling {scaling!r}; choose from {SCALINGS}")
    image = image.float()
    if scaling == "fixed":
        return image / 127.5 - 1
    flat = image.flatten(1)
    shifted = image - flat.min(1).values.view(-1, 1, 1, 1)
    return shifted / (shifted.flatten(1).max(1).values.view(-1, 1, 1, 1) + 1e-3) * 2 - 1


def codebook_range(vq: nn.Module) -> tuple[Tensor, Tensor]:
    """Minimum and maximum over every entry of the VQ model's codebook (scalars)."""
    weight = vq.quantize.embedding.weight
    return weight.min(), weight.max()


def encode_latents(vq: nn.Module, image: Tensor, scaling: str = "per_image") -> Tensor:
    """Pre-quantisation latents of ``image`` ([B, 1|3, H, W], uint8 range) normalised by the codebook range to
    [-1, 1] as the official ``data_gen.py``: ``(z - min(codebook)) / (max(codebook) - min(codebook)) * 2 - 1``
    (latents outside the codebook's range fall outside [-1, 1], as there)."""
    z = vq.encode(preprocess_input(as_three_channels(image), scaling)).latents
    low, high = codebook_range(vq)
    return (z - low) / (high - low) * 2.0 - 1.0


@dataclass
class VQLoss:
    """The VQ training objective: ``reconstruction`` · L1(x̂, x) + ``codebook`` · VQModel's commit loss, on inputs
    scaled by ``scaling`` (:func:`preprocess_input`)."""

    reconstruction: float = 1.0
    codebook: float = 1.0
    scaling: str = "per_image"

    def __call__(self, vq: nn.Module, image: Tensor) -> dict[str, Tensor]:
        x = preprocess_input(as_three_channels(image), self.scaling)
        reconstruction, commit = vq(x, return_dict=False)
        l1 = F.l1_loss(reconstruction, x)
        return {"loss": self.reconstruction * l1 + self.codebook * commit, "l1": l1.detach(),
                "commit": commit.detach()}
