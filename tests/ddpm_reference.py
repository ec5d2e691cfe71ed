"""A compact, independent re-implementation of the original DDPM "simple" UNet (Ho et al. 2020, as ported to PyTorch
by pesser/pytorch_diffusion and ermongroup/ddim ``Model``) for tests only.

Its parameter names and shapes follow the official PyTorch port (``conv_in``, ``temb.dense.{0,1}``,
``down.{i}.block.{j}``, ``down.{i}.attn.{j}``, ``down.{i}.downsample.conv``, ``mid.{block_1,attn_1,block_2}``,
``up.{i}.block.{j}``, ``up.{i}.attn.{j}``, ``up.{i}.upsample.conv``, ``norm_out``, ``conv_out``; ``up`` indexed by
resolution level, 0 = full resolution), so its state dicts stand in for the official checkpoints and its outputs
are the reference that converted diffusers models must reproduce.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps: [sin | cos] with frequencies 10000^(-k / (dim/2 - 1))."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / (half - 1))
    angles = t.float()[:, None] * freqs[None]
    emb = torch.cat([angles.sin(), angles.cos()], dim=1)
    return F.pad(emb, (0, 1)) if dim % 2 else emb


def group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(32, channels, eps=1e-6)


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, temb_ch: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.conv1 = group_norm(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.temb_proj = nn.Linear(temb_ch, c_out)
        self.norm2, self.dropout = group_norm(c_out), nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        if c_in != c_out:
            self.nin_shortcut = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x))) + self.temb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return (self.nin_shortcut(x) if hasattr(self, "nin_shortcut") else x) + h


class AttnBlock(nn.Module):
    """Single-head self-attention over pixels with 1x1-conv projections."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.norm = group_norm(c)
        self.q, self.k, self.v, self.proj_out = (nn.Conv2d(c, c, 1) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, height, width = x.shape
        h = self.norm(x)
        q, k, v = (m(h).flatten(2) for m in (self.q, self.k, self.v))  # b, c, n
        weights = torch.softmax(torch.einsum("bci,bcj->bij", q, k) / math.sqrt(c), dim=-1)  # b, n_q, n_k
        out = torch.einsum("bij,bcj->bci", weights, v).reshape(b, c, height, width)
        return x + self.proj_out(out)


class Downsample(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))  # asymmetric padding, as TF "SAME" with stride 2


class Upsample(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class ReferenceDDPM(nn.Module):
    """The original DDPM ε-model with ``resamp_with_conv=True``; ``forward(x, t)`` returns the predicted noise."""

    def __init__(self, resolution: int, in_channels: int = 3, out_ch: int = 3, ch: int = 128,
                 ch_mult: tuple[int, ...] = (1, 2, 2, 2), num_res_blocks: int = 2,
                 attn_resolutions: tuple[int, ...] = (16,), dropout: float = 0.1,
                 resamp_with_conv: bool = True) -> None:
        super().__init__()
        if not resamp_with_conv:
            raise NotImplementedError("the reference covers resamp_with_conv=True only")
        self.ch, self.resolution, self.num_res_blocks, self.levels = ch, resolution, num_res_blocks, len(ch_mult)
        temb_ch = 4 * ch
        self.temb = nn.Module()
        self.temb.dense = nn.ModuleList([nn.Linear(ch, temb_ch), nn.Linear(temb_ch, temb_ch)])
        self.conv_in = nn.Conv2d(in_channels, ch, 3, padding=1)

        widths = [ch * m for m in ch_mult]
        skips = [ch]  # channels of every feature map pushed on the skip stack
        res, c = resolution, ch
        self.down = nn.ModuleList()
        for level, width in enumerate(widths):
            stage = nn.Module()
            stage.block, stage.attn = nn.ModuleList(), nn.ModuleList()
            for _ in range(num_res_blocks):
                stage.block.append(ResBlock(c, width, temb_ch, dropout))
                c = width
                if res in attn_resolutions:
                    stage.attn.append(AttnBlock(c))
                skips.append(c)
            if level != self.levels - 1:
                stage.downsample = Downsample(c)
                res //= 2
                skips.append(c)
            self.down.append(stage)

        self.mid = nn.Module()
        self.mid.block_1, self.mid.attn_1 = ResBlock(c, c, temb_ch, dropout), AttnBlock(c)
        self.mid.block_2 = ResBlock(c, c, temb_ch, dropout)

        up_stages: list[nn.Module] = []
        for level in reversed(range(self.levels)):
            stage = nn.Module()
            stage.block, stage.attn = nn.ModuleList(), nn.ModuleList()
            for _ in range(num_res_blocks + 1):
                stage.block.append(ResBlock(c + skips.pop(), widths[level], temb_ch, dropout))
                c = widths[level]
                if res in attn_resolutions:
                    stage.attn.append(AttnBlock(c))
            if level != 0:
                stage.upsample = Upsample(c)
                res *= 2
            up_stages.insert(0, stage)  # up[level] is the stage working at resolution / 2**level
        self.up = nn.ModuleList(up_stages)
        self.norm_out, self.conv_out = group_norm(c), nn.Conv2d(c, out_ch, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        emb = timestep_embedding(t, self.ch).to(x.dtype)
        temb = self.temb.dense[1](F.silu(self.temb.dense[0](emb)))
        hs = [self.conv_in(x)]
        for level, stage in enumerate(self.down):
            for j, block in enumerate(stage.block):
                h = block(hs[-1], temb)
                hs.append(stage.attn[j](h) if len(stage.attn) else h)
            if level != self.levels - 1:
                hs.append(stage.downsample(hs[-1]))
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(hs[-1], temb)), temb)
        for level in reversed(range(self.levels)):
            stage = self.up[level]
            for j, block in enumerate(stage.block):
                h = block(torch.cat([h, hs.pop()], dim=1), temb)
                if len(stage.attn):
                    h = stage.attn[j](h)
            if level != 0:
                h = stage.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))
