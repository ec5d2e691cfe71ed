"""Intermediate tensors of stock open_clip, DINO (timm) and segment_anything modules, as Trident uses them.

The official code edits vendored copies of open_clip and segment_anything to expose these; here the stock
packages stay untouched: CLIP and DINO are run block by block from their own submodules, and SAM's last
attention is read by a forward hook that recomputes it from the block's own weights.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def interpolate_pos_embed(pos_embed: Tensor, grid: tuple[int, int]) -> Tensor:
    """Class + patch position embeddings [1, 1 + H*W, D] for a ``grid`` of patches, as DINO and Trident do it.

    Unchanged when the grid is the pretraining one; otherwise bicubic with the scale factors
    ((H + 0.1) / √N, (W + 0.1) / √N), the DINO trick that makes the output size exact. The scale factor (not
    the target size) also sets the sampling positions, so this differs slightly from timm's resampling.
    """
    pos_embed = pos_embed.reshape(1, -1, pos_embed.shape[-1])
    num_patches = pos_embed.shape[1] - 1
    side = int(math.sqrt(num_patches))
    if grid[0] * grid[1] == num_patches and grid[0] == grid[1]:
        return pos_embed
    patch_pos = pos_embed[:, 1:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
    scale = ((grid[0] + 0.1) / side, (grid[1] + 0.1) / side)
    patch_pos = F.interpolate(patch_pos.float(), scale_factor=scale, mode="bicubic").to(pos_embed.dtype)
    if tuple(patch_pos.shape[-2:]) != tuple(grid):
        raise RuntimeError(f"position embeddings resized to {tuple(patch_pos.shape[-2:])}, expected {grid}")
    return torch.cat([pos_embed[:, :1], patch_pos.permute(0, 2, 3, 1).reshape(1, grid[0] * grid[1], -1)], dim=1)


def clip_last_block_input(visual: nn.Module, images: Tensor) -> tuple[Tensor, tuple[int, int]]:
    """``ln_1`` of the tokens entering CLIP's last block, without the CLS token: [B, L, D], and the token grid.

    ``visual`` is a stock open_clip ``VisionTransformer``; every block but the last runs unchanged.
    """
    x = visual.conv1(images)
    grid = (x.shape[-2], x.shape[-1])
    x = x.flatten(2).transpose(1, 2)
    cls = visual.class_embedding.reshape(1, 1, -1).expand(x.shape[0], -1, -1).to(x.dtype)
    x = torch.cat([cls, x], dim=1) + interpolate_pos_embed(visual.positional_embedding, grid).to(x.dtype)
    x = visual.ln_pre(visual.patch_dropout(x))
    transformer = visual.transformer
    if not getattr(transformer, "batch_first", True):
        x = x.transpose(0, 1)
    for block in transformer.resblocks[:-1]:
        x = block(x)
    if not getattr(transformer, "batch_first", True):
        x = x.transpose(0, 1)
    return transformer.resblocks[-1].ln_1(x[:, 1:]), grid


def clip_project(visual: nn.Module, tokens: Tensor, dtype: torch.dtype | None = None) -> Tensor:
    """CLIP's ``ln_post`` and ``proj`` on aggregated tokens [..., D], in ``dtype`` (default: the tokens')."""
    dtype = tokens.dtype if dtype is None else dtype
    return visual.ln_post(tokens.to(dtype)) @ visual.proj.to(dtype)


def dino_patch_features(vit: nn.Module, images: Tensor) -> Tensor:
    """Last-layer normalised patch tokens [B, C, h, w] of a DINO ViT (timm ``VisionTransformer`` with the
    official DINO key names), i.e. DINO's ``get_intermediate_layers(x)[0]`` without the CLS token."""
    x = vit.patch_embed.proj(images)
    grid = (x.shape[-2], x.shape[-1])
    x = x.flatten(2).transpose(1, 2)
    x = torch.cat([vit.cls_token.expand(x.shape[0], -1, -1).to(x.dtype), x], dim=1)
    x = vit.pos_drop(x + interpolate_pos_embed(vit.pos_embed, grid).to(x.dtype))
    for block in vit.blocks:
        x = block(x)
    x = vit.norm(x)
    return x[:, 1:].transpose(1, 2).reshape(x.shape[0], -1, *grid)


class SamLastAttention:
    """Keeps the attention [B, heads, N, N] and values [B, heads, H, W, head_dim] of a stock SAM image encoder's
    last block (a global-attention block) at every forward, recomputed from the block's own qkv weights and
    relative positions exactly as ``segment_anything``'s ``Attention.forward`` does."""

    def __init__(self, image_encoder: nn.Module) -> None:
        block = image_encoder.blocks[-1]
        if block.window_size != 0:
            raise ValueError("SAM's last image-encoder block must use global attention (window_size 0)")
        self.attention: Tensor | None = None
        self.values: Tensor | None = None
        self.handle = block.attn.register_forward_hook(self._keep)

    def _keep(self, module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        from segment_anything.modeling.image_encoder import add_decomposed_rel_pos

        x = inputs[0]
        batch, height, width, _ = x.shape
        qkv = module.qkv(x).reshape(batch, height * width, 3, module.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.reshape(3, batch * module.num_heads, height * width, -1).unbind(0)
        attention = (q * module.scale) @ k.transpose(-2, -1)
        if module.use_rel_pos:
            attention = add_decomposed_rel_pos(attention, q, module.rel_pos_h, module.rel_pos_w, (height, width),
                                               (height, width))
        self.attention = attention.softmax(dim=-1).reshape(batch, module.num_heads, height * width, -1)
        self.values = v.reshape(batch, module.num_heads, height, width, -1)

    def remove(self) -> None:
        self.handle.remove()
