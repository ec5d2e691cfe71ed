"""The DPMs-ANT adaptor: a small bottleneck transformer whose output is added to a frozen UNet block's output.

Built as the official first commit (ShinyGua/DPMs-ANT 65f00ba, ``model/adapter_utils/adapter.py``) builds its
``Adapter``, so that its state dict has the same keys and shapes:

1. ``patch_size``x``patch_size`` average pooling of the block input ``x`` [B, C, H, W];
2. ``norm1``: GroupNorm with C/2 groups (eps 1e-6; BatchNorm2d when C is odd, as the code does);
3. ``down_conv``: 3x3 conv C → ``dim``; the map is read as (H/p)(W/p) tokens of width ``dim``;
4. plus ``temb_proj(silu(temb))`` when the block has a time embedding (ResnetBlocks; not attention blocks or the
   end adaptor);
5. ``attention_block``: one pre-norm transformer block (LayerNorm → ``num_heads``-head self-attention → LayerNorm →
   GELU MLP of width 4·dim, both residual; dropout ``dropout`` on the attention weights, both projections and the MLP);
6. nearest upsampling back to H x W, ``norm2``: GroupNorm with dim/4 groups (eps 1e-6), ``up_conv``: 3x3 conv
   ``dim`` → ``out_channels``.

Initialisation (``init``): ``"official"`` draws every conv and linear weight from N(0, 2e-4²) with zero biases (the
code's ``init_weights``), so the adaptor's output starts small but not zero (about 2e-4·sqrt(9·dim) per element:
``norm2`` renormalises the tokens to unit scale before ``up_conv``); ``"zeros"`` is the paper's "zero-initialised"
read as a zero output projection: ``up_conv``'s weight and bias are zero (all else as official), so the adapted
model starts exactly equal to the frozen one and ``up_conv`` still receives a gradient. Zeroing every weight
instead would leave only ``up_conv``'s bias with a gradient, for ever.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

ADAPTOR_INITS = ("official", "zeros")
OFFICIAL_INIT_STD = 2e-4  # adapter.py init_weights: normal_(weight, 0, 0.0002), bias 0


@dataclass(frozen=True)
class AdaptorConfig:
    """Adaptor settings (official ``configs/DDPM/base.yaml`` ``model.adapter`` and ``configs/config.py`` defaults).

    dim: bottleneck width (official base.yaml 32; the follow-up commit 241e398 sets 16).
    num_heads: attention heads of the transformer block (base.yaml 2).
    patch_size: pooling factor before the tokens are formed (config.py 4).
    qkv_bias: bias on the qkv projection (config.py True).
    dropout: dropout of the transformer block (base.yaml 0.1).
    mlp_ratio: MLP width over ``dim`` (AttentionBlock default 4).
    init: ``"official"`` (N(0, ``init_std``²) weights) or ``"zeros"`` (zero output projection).
    init_std: standard deviation of the official initialisation.
    """

    dim: int = 32
    num_heads: int = 2
    patch_size: int = 4
    qkv_bias: bool = True
    dropout: float = 0.1
    mlp_ratio: float = 4.0
    init: str = "official"
    init_std: float = OFFICIAL_INIT_STD

    def __post_init__(self) -> None:
        if self.init not in ADAPTOR_INITS:
            raise ValueError(f"adaptor init {self.init!r} is not one of {ADAPTOR_INITS}")
        if self.dim <= 0 or self.dim % 4:
            raise ValueError(f"adaptor dim {self.dim} must be a positive multiple of 4 (norm2 uses dim/4 groups)")
        if self.dim % self.num_heads:
            raise ValueError(f"adaptor dim {self.dim} is not divisible by num_heads {self.num_heads}")
        if self.patch_size < 1:
            raise ValueError(f"adaptor patch_size must be >= 1, got {self.patch_size}")

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any] | AdaptorConfig | None) -> AdaptorConfig:
        """An ``AdaptorConfig`` from a config dict; an unknown key is a ValueError listing the known ones."""
        if isinstance(spec, AdaptorConfig):
            return spec
        spec = dict(spec or {})
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(spec) - set(known))
        if unknown:
            raise ValueError(f"adaptor config: unknown key(s) {unknown}; expected some of {known}")
        return cls(**spec)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def architecture(self) -> dict[str, Any]:
        """The settings that fix the parameter layout (an adaptor file must match them to load)."""
        return {"dim": self.dim, "num_heads": self.num_heads, "patch_size": self.patch_size,
                "qkv_bias": self.qkv_bias, "mlp_ratio": self.mlp_ratio}


# Paper vs official code (sheet section 3): base.yaml has dim 32, the follow-up commit 241e398 dim 16.
OFFICIAL_ADAPTOR = AdaptorConfig(dim=32)
FORK_ADAPTOR = AdaptorConfig(dim=16)


def _silu(x: torch.Tensor) -> torch.Tensor:
    # the code's swish, x * sigmoid(x) (rounds differently from the fused F.silu in float32)
    return x * torch.sigmoid(x)


class _SelfAttention(nn.Module):
    """Multi-head self-attention over tokens [B, N, dim] (softmax(q kᵀ / sqrt(head width)) v, then ``proj``)."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool, dropout: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.attn_drop = nn.Dropout(dropout)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, width = x.shape
        q, k, v = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, width // self.num_heads).permute(2, 0, 3, 1, 4)
        weights = (q @ k.transpose(-2, -1)) * (width // self.num_heads) ** -0.5
        weights = self.attn_drop(weights.softmax(dim=-1))
        return self.proj_drop(self.proj((weights @ v).transpose(1, 2).reshape(batch, tokens, width)))


class _Mlp(nn.Module):
    """Linear → GELU → dropout → Linear → dropout."""

    def __init__(self, dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class TransformerBlock(nn.Module):
    """Pre-norm transformer block: x + attn(norm1(x)), then + mlp(norm2(x))."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool, dropout: float, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = _SelfAttention(dim, num_heads, qkv_bias, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = _Mlp(dim, int(dim * mlp_ratio), dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class Adaptor(nn.Module):
    """Maps a block's input [B, in_channels, H, W] (and time embedding [B, temb_channels]) to an additive
    correction [B, out_channels, H, W] of that block's output; see the module docstring for the layers."""

    def __init__(self, in_channels: int, out_channels: int, temb_channels: int | None = None,
                 config: AdaptorConfig | Mapping[str, Any] | None = None) -> None:
        super().__init__()
        cfg = AdaptorConfig.from_dict(config)
        self.config = cfg
        self.in_channels, self.out_channels, self.temb_channels = in_channels, out_channels, temb_channels
        # GroupNorm over channel pairs; the code falls back to BatchNorm2d for an odd channel count
        self.norm1: nn.Module = (nn.GroupNorm(in_channels // 2, in_channels, eps=1e-6) if in_channels % 2 == 0
                                 else nn.BatchNorm2d(in_channels, eps=1e-6))
        self.down_conv = nn.Conv2d(in_channels, cfg.dim, 3, padding=1)
        if temb_channels is not None:
            self.temb_proj = nn.Linear(temb_channels, cfg.dim)
        self.attention_block = TransformerBlock(cfg.dim, cfg.num_heads, cfg.qkv_bias, cfg.dropout, cfg.mlp_ratio)
        self.norm2 = nn.GroupNorm(cfg.dim // 4, cfg.dim, eps=1e-6)
        self.up_conv = nn.Conv2d(cfg.dim, out_channels, 3, padding=1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw the weights as ``config.init`` says (uses the global torch RNG)."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(module.weight, 0.0, self.config.init_std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, (nn.LayerNorm, nn.GroupNorm)):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        if self.config.init == "zeros":
            with torch.no_grad():
                self.up_conv.weight.zero_()
                self.up_conv.bias.zero_()  # type: ignore[union-attr]  # the conv has a bias

    def forward(self, x: torch.Tensor, temb: torch.Tensor | None = None) -> torch.Tensor:
        batch, _, height, width = x.shape
        p = self.config.patch_size
        if height % p or width % p:
            raise ValueError(f"adaptor input {height}x{width} is not divisible by patch_size {p}: every block an "
                             f"adaptor sits in must work at a resolution that is a multiple of {p} (the official "
                             "code fails the same way); use a larger image size or a smaller patch_size")
        h = self.norm1(F.avg_pool2d(x, p))
        tokens = self.down_conv(h).flatten(2).transpose(1, 2)  # [B, (H/p)(W/p), dim]
        if temb is not None:
            if self.temb_channels is None:
                raise ValueError("this adaptor has no time-embedding projection (temb_channels=None); pass temb=None")
            tokens = tokens + self.temb_proj(_silu(temb))[:, None]
        tokens = self.attention_block(tokens)
        h = tokens.transpose(1, 2).reshape(batch, self.config.dim, height // p, width // p)
        h = F.interpolate(h, scale_factor=p, mode="nearest")
        return self.up_conv(self.norm2(h))


def expected_output_rms(config: AdaptorConfig) -> float:
    """Typical per-element size of a fresh ``"official"`` adaptor's output: ``up_conv`` sums 9·dim unit-scale
    inputs (``norm2`` output) with N(0, std²) weights, so its output has RMS ≈ std·sqrt(9·dim)."""
    return config.init_std * math.sqrt(9 * config.dim)
