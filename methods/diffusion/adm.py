"""OpenAI's ADM U-Net and noisy ImageNet classifier (Dhariwal & Nichol 2021, "Diffusion Models Beat GANs on Image
Synthesis") in plain torch, laid out so that the released guided-diffusion checkpoints load with ``strict=True``;
the U-Net of openai/improved-diffusion (Nichol & Dhariwal 2021), its predecessor, is the special case without
resblock up/down, head widths or fp16, so its CIFAR-10 checkpoints load too (:func:`iddpm_model_flags`).

The layout (module names, block order, channel widths) follows openai/guided-diffusion ``guided_diffusion/unet.py``
(``UNetModel`` → :class:`ADMUNet`, ``EncoderUNetModel`` → :class:`ADMClassifier`) and the flags of the jul-2021
release (``https://openaipublic.blob.core.windows.net/diffusion/jul-2021/<file>``) as given in its README, resolved
like ``script_util.create_model`` / ``create_classifier`` (:data:`ADM_PRESETS`). Details that matter for parity:

- timestep embedding ``[cos | sin]`` with frequencies ``exp(-ln(10000) k / half)``, computed in float32 on the CPU
  (as the original does) and moved to the timesteps' device;
- GroupNorm (32 groups, eps 1e-5) computes in at least float32 and casts back (the original ``GroupNorm32``);
- attention scales q and k each by ``ch ** -1/4`` before the product and takes the softmax in at least float32; the
  "legacy" order reads the qkv channels as ``[head][q|k|v][ch]``, the new order (``use_new_attention_order``, only
  the 64x64 model) as ``[q|k|v][head][ch]``; the classifier's attention pool always uses the new order;
- with ``resblock_updown`` a ResBlock resamples (nearest x2 / 2x2 average pool) after in_layers' SiLU and before its
  conv, on the main and the skip path alike; ``use_scale_shift_norm`` applies ``norm(h) * (1 + scale) + shift``;
- :meth:`ADMUNet.convert_to_fp16` halves only the Conv weights of input/middle/output blocks (the original
  ``convert_module_to_f16`` touches no Linear): time/label embeddings, ResBlock ``emb_layers``, norms and the output
  head stay float32; the classifier's ``out`` head stays float32 too;
- the original ``AttentionBlock`` always uses gradient checkpointing; here it follows ``use_checkpoint`` (same values
  and gradients, only memory differs);
- SiLU is torch's fused ``nn.SiLU``; the originals compute ``x * sigmoid(x)``, which rounds differently in float32
  (measured on the improved-diffusion CIFAR-10 network: max |output diff| 1.25e-6, 0.0 with the same SiLU).
"""
from __future__ import annotations

import functools
import math
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from bench.checkpoint import load_checkpoint_file
from bench.io import sha256_file
from bench.methods.diffusion.unet import ModelLayoutError

# ------------------------------------------------------------------------------------------------ building blocks


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding ``[cos | sin]`` (float32, zero-padded to an odd ``dim``) of a 1-D batch of timesteps."""
    half = dim // 2
    # Same float32 op order as the original, on the CPU, so embeddings match bit for bit on every device.
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device="cpu") / half)
    angles = timesteps[:, None].float() * freqs.to(timesteps.device)[None]
    embedding = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
    if dim % 2:
        embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)
    return embedding


def _at_least_float32(dtype: torch.dtype) -> torch.dtype:
    return torch.promote_types(dtype, torch.float32)


class GroupNorm32(nn.GroupNorm):
    """GroupNorm over 32 groups that computes in at least float32 and returns the input's dtype (fp16-safe)."""

    def __init__(self, channels: int) -> None:
        super().__init__(32, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        compute = _at_least_float32(x.dtype)
        weight = None if self.weight is None else self.weight.to(compute)
        bias = None if self.bias is None else self.bias.to(compute)
        return F.group_norm(x.to(compute), self.num_groups, weight, bias, self.eps).to(x.dtype)


def _zeroed(module: nn.Module) -> nn.Module:
    """``module`` with all parameters zero (the original initialises every residual branch's last layer so)."""
    for parameter in module.parameters():
        parameter.detach().zero_()
    return module


class Upsample(nn.Module):
    """Nearest-neighbour x2 upsampling, followed by a 3x3 conv (``conv``) when ``use_conv``."""

    def __init__(self, channels: int, use_conv: bool, out_channels: int | None = None) -> None:
        super().__init__()
        self.channels = channels
        if use_conv:
            self.conv = nn.Conv2d(channels, out_channels or channels, 3, padding=1)
        self.use_conv = use_conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv(x) if self.use_conv else x


class Downsample(nn.Module):
    """x2 downsampling (``op``): a stride-2 3x3 conv when ``use_conv``, else 2x2 average pooling."""

    def __init__(self, channels: int, use_conv: bool, out_channels: int | None = None) -> None:
        super().__init__()
        self.channels = channels
        if use_conv:
            self.op: nn.Module = nn.Conv2d(channels, out_channels or channels, 3, stride=2, padding=1)
        elif out_channels not in (None, channels):
            raise ValueError("Downsample without a conv cannot change the channel count")
        else:
            self.op = nn.AvgPool2d(kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class ResBlock(nn.Module):
    """Residual block conditioned on the timestep embedding; may change the width and resample (up/down)."""

    def __init__(self, channels: int, emb_channels: int, dropout: float, out_channels: int | None = None,
                 use_scale_shift_norm: bool = False, use_checkpoint: bool = False, up: bool = False,
                 down: bool = False) -> None:
        super().__init__()
        self.channels = channels
        self.out_channels = out_channels or channels
        self.use_scale_shift_norm = use_scale_shift_norm
        self.use_checkpoint = use_checkpoint
        self.in_layers = nn.Sequential(GroupNorm32(channels), nn.SiLU(),
                                       nn.Conv2d(channels, self.out_channels, 3, padding=1))
        self.updown = up or down
        if up:
            self.h_upd: nn.Module = Upsample(channels, False)
            self.x_upd: nn.Module = Upsample(channels, False)
        elif down:
            self.h_upd, self.x_upd = Downsample(channels, False), Downsample(channels, False)
        else:
            self.h_upd = self.x_upd = nn.Identity()
        emb_width = 2 * self.out_channels if use_scale_shift_norm else self.out_channels
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, emb_width))
        self.out_layers = nn.Sequential(GroupNorm32(self.out_channels), nn.SiLU(), nn.Dropout(p=dropout),
                                        _zeroed(nn.Conv2d(self.out_channels, self.out_channels, 3, padding=1)))
        if self.out_channels == channels:
            self.skip_connection: nn.Module = nn.Identity()
        else:  # the released models never use a 3x3 skip conv (the original's use_conv=False)
            self.skip_connection = nn.Conv2d(channels, self.out_channels, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if self.use_checkpoint and torch.is_grad_enabled():
            return checkpoint(self._forward, x, emb, use_reentrant=False)
        return self._forward(x, emb)

    def _forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if self.updown:
            h = self.h_upd(self.in_layers[1](self.in_layers[0](x)))
            x = self.x_upd(x)
            h = self.in_layers[2](h)
        else:
            h = self.in_layers(x)
        emb_out = self.emb_layers(emb).to(h.dtype)
        emb_out = emb_out.reshape(*emb_out.shape, *([1] * (h.ndim - emb_out.ndim)))
        if self.use_scale_shift_norm:
            scale, shift = emb_out.chunk(2, dim=1)
            h = self.out_layers[0](h) * (1 + scale) + shift
            for layer in self.out_layers[1:]:
                h = layer(h)
        else:
            h = self.out_layers(h + emb_out)
        return self.skip_connection(x) + h


class QKVAttention(nn.Module):
    """Multi-head scaled dot-product attention over ``[N, 3*H*C, T]`` qkv; ``legacy_order`` picks the channel order
    ``[head][q|k|v][ch]`` (the original ``QKVAttentionLegacy``) instead of ``[q|k|v][head][ch]``."""

    def __init__(self, num_heads: int, legacy_order: bool = False) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.legacy_order = legacy_order

    def forward(self, qkv: torch.Tensor) -> torch.Tensor:
        batch, width, length = qkv.shape
        if width % (3 * self.num_heads):
            raise ValueError(f"qkv width {width} is not divisible by 3 * {self.num_heads} heads")
        ch = width // (3 * self.num_heads)
        if self.legacy_order:
            q, k, v = qkv.reshape(batch * self.num_heads, 3 * ch, length).split(ch, dim=1)
        else:
            q, k, v = (part.reshape(batch * self.num_heads, ch, length) for part in qkv.chunk(3, dim=1))
        scale = 1 / math.sqrt(math.sqrt(ch))  # q and k scaled separately: steadier in fp16 than dividing afterwards
        weight = torch.einsum("bct,bcs->bts", q * scale, k * scale)
        weight = torch.softmax(weight.to(_at_least_float32(weight.dtype)), dim=-1).to(weight.dtype)
        return torch.einsum("bts,bcs->bct", weight, v).reshape(batch, -1, length)


class AttentionBlock(nn.Module):
    """Self-attention over all spatial positions with a residual connection (GroupNorm → 1x1 qkv → proj_out)."""

    def __init__(self, channels: int, num_heads: int = 1, num_head_channels: int = -1, use_checkpoint: bool = False,
                 use_new_attention_order: bool = False) -> None:
        super().__init__()
        if num_head_channels != -1:
            if channels % num_head_channels:
                raise ValueError(f"{channels} channels are not divisible by num_head_channels={num_head_channels}")
            num_heads = channels // num_head_channels
        self.channels = channels
        self.num_heads = num_heads
        self.use_checkpoint = use_checkpoint
        self.norm = GroupNorm32(channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.attention = QKVAttention(num_heads, legacy_order=not use_new_attention_order)
        self.proj_out = _zeroed(nn.Conv1d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_checkpoint and torch.is_grad_enabled():
            return checkpoint(self._forward, x, use_reentrant=False)
        return self._forward(x)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, *spatial = x.shape
        flat = x.reshape(batch, channels, -1)
        h = self.proj_out(self.attention(self.qkv(self.norm(flat))))
        return (flat + h).reshape(batch, channels, *spatial)


class AttentionPool2d(nn.Module):
    """CLIP-style attention pooling: the spatial mean token attends to all positions; returns its projection."""

    def __init__(self, spatial_dim: int, embed_dim: int, num_head_channels: int, output_dim: int | None = None) -> None:
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.randn(embed_dim, spatial_dim**2 + 1) / embed_dim**0.5)
        self.qkv_proj = nn.Conv1d(embed_dim, 3 * embed_dim, 1)
        self.c_proj = nn.Conv1d(embed_dim, output_dim or embed_dim, 1)
        self.num_heads = embed_dim // num_head_channels
        self.attention = QKVAttention(self.num_heads, legacy_order=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels = x.shape[:2]
        x = x.reshape(batch, channels, -1)
        x = torch.cat([x.mean(dim=-1, keepdim=True), x], dim=-1)
        x = x + self.positional_embedding[None].to(x.dtype)
        return self.c_proj(self.attention(self.qkv_proj(x)))[:, :, 0]


class TimestepEmbedSequential(nn.Sequential):
    """Sequential that also hands the timestep embedding to its ResBlocks."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        for layer in self:
            x = layer(x, emb) if isinstance(layer, ResBlock) else layer(x)
        return x


def _convert_convs(modules: Sequence[nn.Module], dtype: torch.dtype) -> None:
    for module in modules:
        for layer in module.modules():
            if isinstance(layer, (nn.Conv1d, nn.Conv2d)):
                layer.to(dtype)


# ----------------------------------------------------------------------------------------------------- models


class _ADMEncoder(nn.Module):
    """Time embedding, input blocks and middle block shared by the U-Net and the classifier."""

    def _build_encoder(self, image_size: int, in_channels: int, model_channels: int, num_res_blocks: int,
                       attention_resolutions: Sequence[int], dropout: float, channel_mult: Sequence[float],
                       conv_resample: bool, dims: int, use_checkpoint: bool, num_heads: int, num_head_channels: int,
                       use_scale_shift_norm: bool, resblock_updown: bool, use_new_attention_order: bool,
                       num_classes: int | None = None) -> list[int]:
        """Registers time_embed (label_emb), input_blocks and middle_block; returns the input blocks' widths."""
        if dims != 2:
            raise ValueError(f"only 2-D models are implemented (dims=2), got dims={dims}")
        self.image_size = image_size
        self.in_channels = in_channels
        self.model_channels = model_channels
        self.num_res_blocks = num_res_blocks
        self.attention_resolutions = tuple(attention_resolutions)
        self.dropout = dropout
        self.channel_mult = tuple(channel_mult)
        self.conv_resample = conv_resample
        self.num_classes = num_classes
        self.use_checkpoint = use_checkpoint
        self.num_heads = num_heads
        self.num_head_channels = num_head_channels
        emb_dim = 4 * model_channels
        self.time_embed = nn.Sequential(nn.Linear(model_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        if num_classes is not None:
            self.label_emb = nn.Embedding(num_classes, emb_dim)
        self._block_options = {"emb_channels": emb_dim, "dropout": dropout, "use_checkpoint": use_checkpoint,
                               "use_scale_shift_norm": use_scale_shift_norm, "num_head_channels": num_head_channels,
                               "use_new_attention_order": use_new_attention_order}
        width = int(channel_mult[0] * model_channels)
        blocks = [TimestepEmbedSequential(nn.Conv2d(in_channels, width, 3, padding=1))]
        widths = [width]
        rate = 1  # downsampling rate of the current level
        for level, mult in enumerate(channel_mult):
            for _ in range(num_res_blocks):
                layers: list[nn.Module] = [self._resblock(width, int(mult * model_channels))]
                width = int(mult * model_channels)
                if rate in self.attention_resolutions:
                    layers.append(self._attention(width))
                blocks.append(TimestepEmbedSequential(*layers))
                widths.append(width)
            if level != len(channel_mult) - 1:
                down = (self._resblock(width, width, down=True) if resblock_updown
                        else Downsample(width, conv_resample, width))
                blocks.append(TimestepEmbedSequential(down))
                widths.append(width)
                rate *= 2
        self.input_blocks = nn.ModuleList(blocks)
        self.middle_block = TimestepEmbedSequential(self._resblock(width), self._attention(width),
                                                    self._resblock(width))
        self._bottom_rate = rate
        return widths

    def _resblock(self, width: int, out: int | None = None, up: bool = False, down: bool = False) -> ResBlock:
        o = self._block_options
        return ResBlock(width, o["emb_channels"], o["dropout"], out_channels=out, up=up, down=down,
                        use_scale_shift_norm=o["use_scale_shift_norm"], use_checkpoint=o["use_checkpoint"])

    def _attention(self, width: int, num_heads: int | None = None) -> AttentionBlock:
        o = self._block_options
        return AttentionBlock(width, num_heads=self.num_heads if num_heads is None else num_heads,
                              num_head_channels=o["num_head_channels"], use_checkpoint=o["use_checkpoint"],
                              use_new_attention_order=o["use_new_attention_order"])

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the torso computes in (float16 after :meth:`convert_to_fp16`)."""
        return self.input_blocks[0][0].weight.dtype

    def _torso(self) -> list[nn.Module]:
        return [self.input_blocks, self.middle_block]

    def convert_to_fp16(self) -> None:
        """Halve the torso's conv weights, as the original ``convert_to_fp16`` (norms and Linear layers stay)."""
        _convert_convs(self._torso(), torch.float16)

    def convert_to_fp32(self) -> None:
        """Undo :meth:`convert_to_fp16`."""
        _convert_convs(self._torso(), torch.float32)

    def _embed(self, timesteps: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
        """Time embedding ``[N, 4 * model_channels]``; a scalar timestep is shared by the whole batch."""
        timesteps = torch.as_tensor(timesteps, device=x.device)
        if timesteps.ndim == 0:
            timesteps = timesteps.expand(x.shape[0])
        embedding = timestep_embedding(timesteps, self.model_channels)
        return self.time_embed(embedding.to(self.time_embed[0].weight.dtype))


class ADMUNet(_ADMEncoder):
    """The ADM diffusion U-Net (guided-diffusion ``UNetModel``): predicts ε (and the variance interpolation v in
    channels 3:6 when ``out_channels`` is 6) from ``x_t``, the timestep and, if class-conditional, the label."""

    def __init__(self, image_size: int, in_channels: int, model_channels: int, out_channels: int, num_res_blocks: int,
                 attention_resolutions: Sequence[int], dropout: float = 0.0,
                 channel_mult: Sequence[float] = (1, 2, 4, 8), conv_resample: bool = True, dims: int = 2,
                 num_classes: int | None = None, use_checkpoint: bool = False, use_fp16: bool = False,
                 num_heads: int = 1, num_head_channels: int = -1, num_heads_upsample: int = -1,
                 use_scale_shift_norm: bool = False, resblock_updown: bool = False,
                 use_new_attention_order: bool = False) -> None:
        super().__init__()
        if num_heads_upsample == -1:
            num_heads_upsample = num_heads
        self.out_channels = out_channels
        self.num_heads_upsample = num_heads_upsample
        self.use_fp16 = use_fp16
        widths = self._build_encoder(image_size, in_channels, model_channels, num_res_blocks, attention_resolutions,
                                     dropout, channel_mult, conv_resample, dims, use_checkpoint, num_heads,
                                     num_head_channels, use_scale_shift_norm, resblock_updown,
                                     use_new_attention_order, num_classes)
        width, rate = widths[-1], self._bottom_rate
        blocks = []
        for level in reversed(range(len(channel_mult))):
            level_width = int(model_channels * channel_mult[level])
            for i in range(num_res_blocks + 1):
                layers: list[nn.Module] = [self._resblock(width + widths.pop(), level_width)]
                width = level_width
                if rate in self.attention_resolutions:
                    layers.append(self._attention(width, num_heads=num_heads_upsample))
                if level and i == num_res_blocks:
                    layers.append(self._resblock(width, width, up=True) if resblock_updown
                                  else Upsample(width, conv_resample, width))
                    rate //= 2
                blocks.append(TimestepEmbedSequential(*layers))
        self.output_blocks = nn.ModuleList(blocks)
        self.out = nn.Sequential(GroupNorm32(width), nn.SiLU(),
                                 _zeroed(nn.Conv2d(int(channel_mult[0] * model_channels), out_channels, 3, padding=1)))
        if use_fp16:
            self.convert_to_fp16()

    def _torso(self) -> list[nn.Module]:
        return [self.input_blocks, self.middle_block, self.output_blocks]

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Model output ``[N, out_channels, H, W]`` in ``x``'s dtype; ``y`` ([N] labels) iff class-conditional."""
        if (y is None) != (self.num_classes is None):
            raise ValueError("pass y (class labels) if and only if the model is class-conditional "
                             f"(num_classes={self.num_classes})")
        emb = self._embed(timesteps, x)
        if y is not None:
            if y.shape != (x.shape[0],):
                raise ValueError(f"y must have shape ({x.shape[0]},), got {tuple(y.shape)}")
            emb = emb + self.label_emb(y)
        h = x.to(self.dtype)
        skips = []
        for block in self.input_blocks:
            h = block(h, emb)
            skips.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
        return self.out(h.to(x.dtype))


CLASSIFIER_POOLS = ("attention", "adaptive", "spatial", "spatial_v2")


class ADMClassifier(_ADMEncoder):
    """The noisy ImageNet classifier of classifier guidance (guided-diffusion ``EncoderUNetModel``): the U-Net's
    encoder and middle block, then a pooling head (``pool``) giving logits ``[N, out_channels]``."""

    def __init__(self, image_size: int, in_channels: int, model_channels: int, out_channels: int, num_res_blocks: int,
                 attention_resolutions: Sequence[int], dropout: float = 0.0,
                 channel_mult: Sequence[float] = (1, 2, 4, 8), conv_resample: bool = True, dims: int = 2,
                 use_checkpoint: bool = False, use_fp16: bool = False, num_heads: int = 1,
                 num_head_channels: int = -1, num_heads_upsample: int = -1, use_scale_shift_norm: bool = False,
                 resblock_updown: bool = False, use_new_attention_order: bool = False,
                 pool: str = "adaptive") -> None:
        super().__init__()
        if pool not in CLASSIFIER_POOLS:
            raise ValueError(f"pool must be one of {CLASSIFIER_POOLS}, got {pool!r}")
        self.out_channels = out_channels
        self.num_heads_upsample = num_heads if num_heads_upsample == -1 else num_heads_upsample  # no decoder: unused
        self.use_fp16 = use_fp16
        self.pool = pool
        widths = self._build_encoder(image_size, in_channels, model_channels, num_res_blocks, attention_resolutions,
                                     dropout, channel_mult, conv_resample, dims, use_checkpoint, num_heads,
                                     num_head_channels, use_scale_shift_norm, resblock_updown,
                                     use_new_attention_order)
        width = widths[-1]
        feature_size = sum(widths) + width  # spatial pools: per-block channel means, middle block last
        if pool == "adaptive":
            self.out = nn.Sequential(GroupNorm32(width), nn.SiLU(), nn.AdaptiveAvgPool2d((1, 1)),
                                     _zeroed(nn.Conv2d(width, out_channels, 1)), nn.Flatten())
        elif pool == "attention":
            if num_head_channels == -1:
                raise ValueError("pool='attention' needs num_head_channels")
            self.out = nn.Sequential(GroupNorm32(width), nn.SiLU(),
                                     AttentionPool2d(image_size // self._bottom_rate, width, num_head_channels,
                                                     out_channels))
        elif pool == "spatial":
            self.out = nn.Sequential(nn.Linear(feature_size, 2048), nn.ReLU(), nn.Linear(2048, out_channels))
        else:
            self.out = nn.Sequential(nn.Linear(feature_size, 2048), GroupNorm32(2048), nn.SiLU(),
                                     nn.Linear(2048, out_channels))
        if use_fp16:
            self.convert_to_fp16()

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """Logits ``[N, out_channels]`` in ``x``'s dtype for noisy images ``x`` at ``timesteps``."""
        emb = self._embed(timesteps, x)
        spatial = self.pool.startswith("spatial")
        means = []
        h = x.to(self.dtype)
        for block in self.input_blocks:
            h = block(h, emb)
            if spatial:
                means.append(h.to(x.dtype).mean(dim=(2, 3)))
        h = self.middle_block(h, emb)
        if spatial:
            means.append(h.to(x.dtype).mean(dim=(2, 3)))
            return self.out(torch.cat(means, dim=-1))
        return self.out(h.to(x.dtype))


# ---------------------------------------------------------------------------------------------------- presets

RELEASE_URL = "https://openaipublic.blob.core.windows.net/diffusion/jul-2021/"

_CHANNEL_MULT = {512: (0.5, 1, 1, 2, 2, 4, 4), 256: (1, 1, 2, 2, 4, 4), 128: (1, 1, 2, 3, 4), 64: (1, 2, 3, 4)}


def _channel_mult(image_size: int, channel_mult: str | Sequence[float]) -> tuple[float, ...]:
    if isinstance(channel_mult, str) and channel_mult:
        return tuple(int(m) for m in channel_mult.split(","))
    if not isinstance(channel_mult, str):
        return tuple(channel_mult)
    if image_size not in _CHANNEL_MULT:
        raise ValueError(f"no default channel_mult for image_size {image_size} (known: {sorted(_CHANNEL_MULT)}); "
                         "pass channel_mult")
    return _CHANNEL_MULT[image_size]


def _attention_rates(image_size: int, attention_resolutions: str | Sequence[int]) -> tuple[int, ...]:
    """Attention resolutions in pixels ("32,16,8") → downsampling rates (image_size // resolution)."""
    if isinstance(attention_resolutions, str):
        attention_resolutions = [int(r) for r in attention_resolutions.split(",")]
    return tuple(image_size // int(r) for r in attention_resolutions)


def adm_model_flags(image_size: int, num_channels: int = 128, num_res_blocks: int = 2,
                    channel_mult: str | Sequence[float] = "", learn_sigma: bool = False, class_cond: bool = False,
                    use_checkpoint: bool = False, attention_resolutions: str | Sequence[int] = "16,8",
                    num_heads: int = 4, num_head_channels: int = -1, num_heads_upsample: int = -1,
                    use_scale_shift_norm: bool = True, dropout: float = 0.0, resblock_updown: bool = False,
                    use_fp16: bool = False, use_new_attention_order: bool = False) -> dict[str, Any]:
    """:class:`ADMUNet` kwargs (plus ``kind``) from guided-diffusion's command-line flags, resolved as
    ``create_model`` does; the defaults are the sampling scripts' (``model_and_diffusion_defaults``), which the
    README's MODEL_FLAGS override."""
    return {"kind": "diffusion", "image_size": image_size, "in_channels": 3, "model_channels": num_channels,
            "out_channels": 6 if learn_sigma else 3, "num_res_blocks": num_res_blocks,
            "attention_resolutions": _attention_rates(image_size, attention_resolutions), "dropout": dropout,
            "channel_mult": _channel_mult(image_size, channel_mult), "num_classes": 1000 if class_cond else None,
            "use_checkpoint": use_checkpoint, "use_fp16": use_fp16, "num_heads": num_heads,
            "num_head_channels": num_head_channels, "num_heads_upsample": num_heads_upsample,
            "use_scale_shift_norm": use_scale_shift_norm, "resblock_updown": resblock_updown,
            "use_new_attention_order": use_new_attention_order}


def adm_classifier_flags(image_size: int, classifier_use_fp16: bool = False, classifier_width: int = 128,
                         classifier_depth: int = 2, classifier_attention_resolutions: str | Sequence[int] = "32,16,8",
                         classifier_use_scale_shift_norm: bool = True, classifier_resblock_updown: bool = True,
                         classifier_pool: str = "attention",
                         channel_mult: str | Sequence[float] = "") -> dict[str, Any]:
    """:class:`ADMClassifier` kwargs (plus ``kind``) from guided-diffusion's classifier flags and defaults, resolved
    as ``create_classifier`` does (1000 classes, 64-channel heads); ``channel_mult`` is an extension for small test
    models (the original always takes it from the image size)."""
    return {"kind": "classifier", "image_size": image_size, "in_channels": 3, "model_channels": classifier_width,
            "out_channels": 1000, "num_res_blocks": classifier_depth,
            "attention_resolutions": _attention_rates(image_size, classifier_attention_resolutions),
            "channel_mult": _channel_mult(image_size, channel_mult), "use_fp16": classifier_use_fp16,
            "num_head_channels": 64, "use_scale_shift_norm": classifier_use_scale_shift_norm,
            "resblock_updown": classifier_resblock_updown, "pool": classifier_pool}


def _parse_flags(text: str, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """``--name value`` pairs of a README command line, typed like the argparse defaults (bools "True"/"False")."""
    words = shlex.split(text)
    flags: dict[str, Any] = {}
    for name, value in zip(words[::2], words[1::2], strict=True):
        key = name.removeprefix("--")
        default = defaults[key]
        if isinstance(default, bool):
            flags[key] = {"True": True, "False": False}[value]
        else:
            flags[key] = type(default)(value) if default is not None else value
    return flags


# MODEL_FLAGS of the README's "Classifier guidance" commands, verbatim (diffusion_steps/noise_schedule/learn_sigma
# are the diffusion's flags; SAMPLE_FLAGS use --timestep_respacing 250).
_README_MODEL_FLAGS = {
    "64x64_diffusion.pt": "--attention_resolutions 32,16,8 --class_cond True --diffusion_steps 1000 --dropout 0.1 "
    "--image_size 64 --learn_sigma True --noise_schedule cosine --num_channels 192 --num_head_channels 64 "
    "--num_res_blocks 3 --resblock_updown True --use_new_attention_order True --use_fp16 True "
    "--use_scale_shift_norm True",
    "128x128_diffusion.pt": "--attention_resolutions 32,16,8 --class_cond True --diffusion_steps 1000 --image_size 128 "
    "--learn_sigma True --noise_schedule linear --num_channels 256 --num_heads 4 --num_res_blocks 2 "
    "--resblock_updown True --use_fp16 True --use_scale_shift_norm True",
    "256x256_diffusion.pt": "--attention_resolutions 32,16,8 --class_cond True --diffusion_steps 1000 --image_size 256 "
    "--learn_sigma True --noise_schedule linear --num_channels 256 --num_head_channels 64 --num_res_blocks 2 "
    "--resblock_updown True --use_fp16 True --use_scale_shift_norm True",
    "256x256_diffusion_uncond.pt": "--attention_resolutions 32,16,8 --class_cond False --diffusion_steps 1000 "
    "--image_size 256 --learn_sigma True --noise_schedule linear --num_channels 256 --num_head_channels 64 "
    "--num_res_blocks 2 --resblock_updown True --use_fp16 True --use_scale_shift_norm True",
    "512x512_diffusion.pt": "--attention_resolutions 32,16,8 --class_cond True --diffusion_steps 1000 --image_size 512 "
    "--learn_sigma True --noise_schedule linear --num_channels 256 --num_head_channels 64 --num_res_blocks 2 "
    "--resblock_updown True --use_fp16 False --use_scale_shift_norm True",
}
# The classifier guidance commands pass the model's --image_size and, for 64x64 only, --classifier_depth 4; all else
# is classifier_defaults() (width 128, depth 2, attention at 32,16,8, scale-shift norm, resblock up/down, attention
# pool, fp32), which the README's 128x128 classifier training flags restate.
_README_CLASSIFIER_FLAGS = {
    "64x64_classifier.pt": "--image_size 64 --classifier_depth 4",
    "128x128_classifier.pt": "--image_size 128 --classifier_attention_resolutions 32,16,8 --classifier_depth 2 "
    "--classifier_width 128 --classifier_pool attention --classifier_resblock_updown True "
    "--classifier_use_scale_shift_norm True",
    "256x256_classifier.pt": "--image_size 256",
    "512x512_classifier.pt": "--image_size 512",
}
# README guidance scale of each diffusion model and the classifier it is paired with.
_README_GUIDANCE = {"64x64_diffusion.pt": ("64x64_classifier.pt", 1.0),
                    "128x128_diffusion.pt": ("128x128_classifier.pt", 0.5),
                    "256x256_diffusion.pt": ("256x256_classifier.pt", 1.0),
                    "256x256_diffusion_uncond.pt": ("256x256_classifier.pt", 10.0),
                    "512x512_diffusion.pt": ("512x512_classifier.pt", 4.0)}

_MODEL_DEFAULTS: dict[str, Any] = {"image_size": 64, "num_channels": 128, "num_res_blocks": 2, "num_heads": 4,
                                   "num_heads_upsample": -1, "num_head_channels": -1, "attention_resolutions": "16,8",
                                   "channel_mult": "", "dropout": 0.0, "class_cond": False, "use_checkpoint": False,
                                   "use_scale_shift_norm": True, "resblock_updown": False, "use_fp16": False,
                                   "use_new_attention_order": False}
_DIFFUSION_DEFAULTS: dict[str, Any] = {"learn_sigma": False, "diffusion_steps": 1000, "noise_schedule": "linear"}
_CLASSIFIER_DEFAULTS: dict[str, Any] = {"image_size": 64, "classifier_use_fp16": False, "classifier_width": 128,
                                        "classifier_depth": 2, "classifier_attention_resolutions": "32,16,8",
                                        "classifier_use_scale_shift_norm": True, "classifier_resblock_updown": True,
                                        "classifier_pool": "attention"}


def _diffusion_preset(name: str) -> dict[str, Any]:
    readme = _parse_flags(_README_MODEL_FLAGS[name], {**_MODEL_DEFAULTS, **_DIFFUSION_DEFAULTS})
    args = {**_MODEL_DEFAULTS, **_DIFFUSION_DEFAULTS, **readme}
    diffusion = {"steps": args.pop("diffusion_steps"), "noise_schedule": args.pop("noise_schedule"),
                 "learn_sigma": args["learn_sigma"], "predict_xstart": False, "rescale_timesteps": False,
                 "timestep_respacing": "250"}
    classifier, scale = _README_GUIDANCE[name]
    return {"kind": "diffusion", "file": name, "url": RELEASE_URL + name,
            "origin": "openai/guided-diffusion README, Classifier guidance", "readme_flags": readme,
            "flags": adm_model_flags(**args), "diffusion": diffusion,
            "guidance": {"classifier": classifier, "classifier_scale": scale}}


def _classifier_preset(name: str) -> dict[str, Any]:
    readme = _parse_flags(_README_CLASSIFIER_FLAGS[name], _CLASSIFIER_DEFAULTS)
    return {"kind": "classifier", "file": name, "url": RELEASE_URL + name,
            "origin": "openai/guided-diffusion README, Classifier guidance", "readme_flags": readme,
            "flags": adm_classifier_flags(**{**_CLASSIFIER_DEFAULTS, **readme})}


# ------------------------------------------------------------------------------------ improved-diffusion presets

IDDPM_RELEASE_URL = "https://openaipublic.blob.core.windows.net/diffusion/march-2021/"
# improved-diffusion's create_model knows three image sizes; channel_mult is not a flag there
_IDDPM_CHANNEL_MULT = {256: (1, 1, 2, 2, 4, 4), 64: (1, 2, 3, 4), 32: (1, 2, 2, 2)}


def iddpm_model_flags(image_size: int = 64, num_channels: int = 128, num_res_blocks: int = 2, num_heads: int = 4,
                      num_heads_upsample: int = -1, attention_resolutions: str | Sequence[int] = "16,8",
                      dropout: float = 0.0, learn_sigma: bool = False, class_cond: bool = False,
                      use_checkpoint: bool = False, use_scale_shift_norm: bool = True, num_classes: int = 10,
                      in_channels: int = 3, channel_mult: str | Sequence[float] = "") -> dict[str, Any]:
    """:class:`ADMUNet` kwargs (plus ``kind``) from openai/improved-diffusion's model flags, resolved as its
    ``create_model`` does: the defaults are ``model_and_diffusion_defaults``; ``channel_mult`` comes from the image
    size (32: 1,2,2,2; 64: 1,2,3,4; 256: 1,1,2,2,4,4); heads are counted, never sized (``num_head_channels`` -1); the
    qkv channels are read in the legacy order; no resblock up/down, no fp16.

    Extensions (not flags of the original): ``num_classes`` for ``class_cond`` (10 by default: the AMG fork sets
    improved-diffusion's ``NUM_CLASSES = 10`` for CIFAR-10; the original has 1000), ``in_channels`` (3 in the
    original; 1 for grey digits; the output has as many channels, doubled with ``learn_sigma``) and ``channel_mult``
    for sizes the original rejects (small test and demo models)."""
    if isinstance(channel_mult, str) and not channel_mult:
        if image_size not in _IDDPM_CHANNEL_MULT:
            raise ValueError(f"improved-diffusion has no channel_mult for image_size {image_size} (it knows "
                             f"{sorted(_IDDPM_CHANNEL_MULT)}); pass channel_mult, e.g. channel_mult=(1, 2)")
        channel_mult = _IDDPM_CHANNEL_MULT[image_size]
    return {"kind": "diffusion", "image_size": image_size, "in_channels": in_channels, "model_channels": num_channels,
            "out_channels": 2 * in_channels if learn_sigma else in_channels, "num_res_blocks": num_res_blocks,
            "attention_resolutions": _attention_rates(image_size, attention_resolutions), "dropout": dropout,
            "channel_mult": _channel_mult(image_size, channel_mult),
            "num_classes": num_classes if class_cond else None, "use_checkpoint": use_checkpoint, "use_fp16": False,
            "num_heads": num_heads, "num_head_channels": -1, "num_heads_upsample": num_heads_upsample,
            "use_scale_shift_norm": use_scale_shift_norm, "resblock_updown": False,
            "use_new_attention_order": False}


# MODEL_FLAGS + DIFFUSION_FLAGS of the README's "Models and Hyperparameters" section, verbatim, for the released
# CIFAR-10 checkpoints (TRAIN_FLAGS: --lr 1e-4 --batch_size 128, plus --schedule_sampler loss-second-moment for vlb).
_IDDPM_README_FLAGS = {
    "cifar10_uncond_50M_500K.pt": "--image_size 32 --num_channels 128 --num_res_blocks 3 --learn_sigma True "
    "--dropout 0.3 --diffusion_steps 4000 --noise_schedule cosine",
    "cifar10_uncond_vlb_50M_500K.pt": "--image_size 32 --num_channels 128 --num_res_blocks 3 --learn_sigma True "
    "--dropout 0.3 --diffusion_steps 4000 --noise_schedule cosine --use_kl True",
}
_IDDPM_TRAIN_FLAGS = {"cifar10_uncond_50M_500K.pt": {"lr": 1e-4, "batch_size": 128},
                      "cifar10_uncond_vlb_50M_500K.pt": {"lr": 1e-4, "batch_size": 128,
                                                         "schedule_sampler": "loss-second-moment"}}
# improved-diffusion's model_and_diffusion_defaults(), split into the model's and the process's flags
_IDDPM_MODEL_DEFAULTS: dict[str, Any] = {"image_size": 64, "num_channels": 128, "num_res_blocks": 2, "num_heads": 4,
                                         "num_heads_upsample": -1, "attention_resolutions": "16,8", "dropout": 0.0,
                                         "learn_sigma": False, "class_cond": False, "use_checkpoint": False,
                                         "use_scale_shift_norm": True}
_IDDPM_DIFFUSION_DEFAULTS: dict[str, Any] = {"sigma_small": False, "diffusion_steps": 1000,
                                             "noise_schedule": "linear", "timestep_respacing": "", "use_kl": False,
                                             "predict_xstart": False, "rescale_timesteps": True,
                                             "rescale_learned_sigmas": True}


def _iddpm_preset(name: str) -> dict[str, Any]:
    readme = _parse_flags(_IDDPM_README_FLAGS[name], {**_IDDPM_MODEL_DEFAULTS, **_IDDPM_DIFFUSION_DEFAULTS})
    args = {**_IDDPM_MODEL_DEFAULTS, **_IDDPM_DIFFUSION_DEFAULTS, **readme}
    process = {key: args.pop(key) for key in _IDDPM_DIFFUSION_DEFAULTS}
    # AMG samples these models with --timestep_respacing 250 (its README and the paper's Sec. 5 setup)
    diffusion = {"steps": process["diffusion_steps"], "noise_schedule": process["noise_schedule"],
                 "learn_sigma": args["learn_sigma"], "sigma_small": process["sigma_small"],
                 "predict_xstart": process["predict_xstart"], "use_kl": process["use_kl"],
                 "rescale_timesteps": process["rescale_timesteps"],
                 "rescale_learned_sigmas": process["rescale_learned_sigmas"], "timestep_respacing": "250"}
    return {"kind": "diffusion", "file": name, "url": IDDPM_RELEASE_URL + name,
            "origin": "openai/improved-diffusion README, Models and Hyperparameters", "readme_flags": readme,
            "train_flags": _IDDPM_TRAIN_FLAGS[name], "flags": iddpm_model_flags(**args), "diffusion": diffusion}


# Keyed by the official file name. "flags": constructor kwargs (+ kind) for build_adm; "readme_flags": the README's
# flags as given; "diffusion": the noise process (the 64x64 model uses the cosine schedule, the others linear;
# improved-diffusion's models are fed rescaled float timesteps); "url"/"origin": where the file and flags come from.
ADM_PRESETS: dict[str, dict[str, Any]] = {
    **{name: _diffusion_preset(name) for name in _README_MODEL_FLAGS},
    **{name: _classifier_preset(name) for name in _README_CLASSIFIER_FLAGS},
    **{name: _iddpm_preset(name) for name in _IDDPM_README_FLAGS},
}


# ---------------------------------------------------------------------------------------------------- loading


class ADMLayoutError(ModelLayoutError):
    """A checkpoint's keys or shapes do not fit the ADM architecture built from a preset or flags."""

    def __init__(self, path: str | Path, message: str) -> None:
        FileNotFoundError.__init__(self, message)  # ModelLayoutError's own message describes the DDPM layouts
        self.path = Path(path)


def _resolve(preset_or_flags: str | Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    if isinstance(preset_or_flags, str):
        if preset_or_flags not in ADM_PRESETS:
            raise ValueError(f"unknown ADM preset {preset_or_flags!r}; known: {sorted(ADM_PRESETS)}")
        return preset_or_flags, dict(ADM_PRESETS[preset_or_flags]["flags"])
    flags = dict(preset_or_flags)
    flags.setdefault("kind", "classifier" if "pool" in flags else "diffusion")
    return None, flags


def build_adm(preset_or_flags: str | Mapping[str, Any], use_fp16: bool | None = None) -> ADMUNet | ADMClassifier:
    """An :class:`ADMUNet` or :class:`ADMClassifier` from a preset name (official file name) or a flags dict
    (constructor kwargs with ``kind`` "diffusion"/"classifier", as :func:`adm_model_flags` returns);
    ``use_fp16`` overrides the flags' (the README's) choice."""
    _, flags = _resolve(preset_or_flags)
    kind = flags.pop("kind")
    if use_fp16 is not None:
        flags["use_fp16"] = use_fp16
    if kind == "diffusion":
        return ADMUNet(**flags)
    if kind == "classifier":
        return ADMClassifier(**flags)
    raise ValueError(f"flags kind must be 'diffusion' or 'classifier', got {kind!r}")


def _layout(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def _natural(key: str) -> list[tuple[int, int | str]]:
    """Sort key putting ``input_blocks.2`` before ``input_blocks.10``."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in key.split(".")]


def _preview(items: Sequence[str], limit: int = 10) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "") if items else "none"


@functools.lru_cache(maxsize=None)
def _preset_layout(name: str) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        return _layout(build_adm(name, use_fp16=False))


def _fitting_presets(layout: Mapping[str, tuple[int, ...]]) -> list[str]:
    """Presets whose architecture has exactly this key/shape layout (to suggest the right one in errors)."""
    return [name for name in ADM_PRESETS if _preset_layout(name) == layout]


def _check_layout(path: Path, what: str, model: nn.Module, state: Mapping[str, Any]) -> None:
    expected = _layout(model)
    found = {key: tuple(value.shape) for key, value in state.items()}
    missing = sorted(set(expected) - set(found), key=_natural)
    unexpected = sorted(set(found) - set(expected), key=_natural)
    wrong = [f"{key}: checkpoint {found[key]} vs model {expected[key]}"
             for key in sorted(set(expected) & set(found), key=_natural) if found[key] != expected[key]]
    if not (missing or unexpected or wrong):
        return
    fitting = _fitting_presets(found)
    hint = (f"the checkpoint's layout is that of preset {', '.join(map(repr, fitting))}: pass preset=..."
            if fitting else "pass preset= the official file name it was released as, or flags= built with "
            "adm_model_flags(...) / adm_classifier_flags(...) from the flags it was trained with")
    raise ADMLayoutError(path, f"ADM checkpoint {path} does not fit {what}:\n"
                               f"  missing keys ({len(missing)}): {_preview(missing)}\n"
                               f"  unexpected keys ({len(unexpected)}): {_preview(unexpected)}\n"
                               f"  shape mismatches ({len(wrong)}): {_preview(wrong)}\n"
                               f"  fix: {hint} (presets: {', '.join(ADM_PRESETS)})")


def load_adm(path: str | Path, preset: str | None = None, flags: Mapping[str, Any] | None = None,
             use_fp16: bool = False) -> tuple[ADMUNet | ADMClassifier, dict[str, Any]]:
    """A released (or compatible) ADM checkpoint loaded strictly, in eval mode, with fp32 weights (the torso's convs
    halved when ``use_fp16``), and facts (path, sha256, preset, flags, parameter count). The architecture comes
    from ``flags``, else ``preset``, else the preset named like the file."""
    path = Path(path)
    if preset is not None and flags is not None:
        raise ValueError("pass preset= or flags=, not both")
    if not path.is_file():
        wanted = [preset] if preset is not None else [path.name] if path.name in ADM_PRESETS else list(ADM_PRESETS)
        sources = sorted({ADM_PRESETS[w]["url"].rsplit("/", 1)[0] + "/<file>" for w in wanted})
        raise FileNotFoundError(f"ADM checkpoint not found: {path}; expected an official guided-diffusion or "
                                f"improved-diffusion file ({', '.join(wanted)}) from {' or '.join(sources)}")
    if preset is None and flags is None:
        if path.name not in ADM_PRESETS:
            raise ValueError(f"cannot tell the ADM architecture of {path.name!r} from its name: pass preset= (one of "
                             f"{', '.join(ADM_PRESETS)}) or flags=adm_model_flags(...)/adm_classifier_flags(...)")
        preset = path.name
    name, resolved = _resolve(preset if flags is None else flags)
    with torch.device("meta"):
        model = build_adm(resolved, use_fp16=False)
    checkpoint = load_checkpoint_file(path)
    if not isinstance(checkpoint, Mapping) or not all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        entries = list(checkpoint)[:10] if isinstance(checkpoint, Mapping) else type(checkpoint).__name__
        raise ADMLayoutError(path, f"ADM checkpoint {path} is not a plain state dict of tensors (found {entries}); "
                                   "the released files are; extract the model weights first")
    what = f"preset {name!r}" if name is not None else f"flags {resolved}"
    _check_layout(path, f"{type(model).__name__} of {what}", model, checkpoint)
    model.load_state_dict(checkpoint, strict=True, assign=True)
    model.float()  # the released files are float32; a re-saved half file must not leave norms or heads in half
    if use_fp16:
        model.convert_to_fp16()
    model.use_fp16 = use_fp16
    resolved["use_fp16"] = use_fp16
    facts = {"path": str(path), "sha256": sha256_file(path), "preset": name, "kind": resolved["kind"],
             "flags": {k: list(v) if isinstance(v, tuple) else v for k, v in resolved.items()},
             "parameters": sum(p.numel() for p in model.parameters())}
    return model.eval(), facts
