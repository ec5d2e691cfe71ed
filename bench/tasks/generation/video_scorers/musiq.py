"""MUSIQ (Ke et al., ICCV 2021, "MUSIQ: Multi-scale Image Quality Transformer") as pyiqa builds it for VBench's
imaging quality: ``pyiqa.archs.musiq_arch.MUSIQ(pretrained_model_path=musiq_spaq_ckpt-358bb6af.pth)`` (one output, the
SPAQ quality score, 0-100), written for that checkpoint (module names follow its state dict).

Input: one image [1, 3, H, W] in [0, 1], mapped to [-1, 1]. It is cut into 32 x 32 patches at three scales: resized
(bicubic, aspect kept, ``round``ed sides) to longer side 224 and 384, each padded or cut to ceil(L / 32)² patches, and
the original resolution with all its patches (TF "SAME" zero padding). Each patch carries a hashed spatial position
on a 10 x 10 grid (nearest-neighbour hash of its row and column), its scale index and a mask bit. Patches go through
a weight-standardised ResNet root (7 x 7 stride-2 conv, group norm, max-pool, one bottleneck), a linear embedding
(TF channel order), position and scale embeddings, a class token and 14 pre-norm transformer blocks (masked
attention); the class token's linear head is the score.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

PATCH = 32
GRID = 10
LONGER_SIDES = (224, 384)


def same_padding(x: torch.Tensor, kernel: int, stride: int, value: float = 0.0) -> torch.Tensor:
    """TensorFlow "SAME" padding of [B, C, H, W] for a ``kernel`` x ``kernel`` window at ``stride``."""
    h, w = x.shape[-2:]
    rows = (math.ceil(h / stride) - 1) * stride + kernel - h
    cols = (math.ceil(w / stride) - 1) * stride + kernel - w
    return F.pad(x, (cols // 2, cols - cols // 2, rows // 2, rows - rows // 2), value=value)


def hashed_positions(count_h: int, count_w: int, grid: int = GRID) -> torch.Tensor:
    """Each patch's spatial index on a ``grid`` x ``grid`` table: rows and columns hashed by nearest-neighbour
    resizing of ``arange(grid)`` to the patch counts; shape [count_h * count_w], row-major."""
    table = torch.arange(grid).float().reshape(1, 1, grid)
    cols = F.interpolate(table, count_w, mode="nearest").reshape(count_w)
    rows = F.interpolate(table, count_h, mode="nearest").reshape(count_h)
    return (rows[:, None] * grid + cols[None, :]).reshape(-1)


def scale_patches(image: torch.Tensor, scale_id: int, max_len: int | None) -> torch.Tensor:
    """[n, 3·32·32 + 3, L]: the patches of ``image`` [n, 3, h, w] (TF "SAME" padded ``unfold``) with their hashed
    position, scale index and mask, zero-padded or cut to ``max_len`` patches (None keeps them all)."""
    n, c, h, w = image.shape
    patches = F.unfold(same_padding(image, PATCH, PATCH), PATCH, stride=PATCH)
    spatial = hashed_positions(math.ceil(h / PATCH), math.ceil(w / PATCH))[None, None].repeat(n, 1, 1).to(patches)
    out = torch.cat([patches, spatial, torch.full_like(spatial, float(scale_id)), torch.ones_like(spatial)], dim=1)
    if max_len is not None:
        out = torch.cat([out, torch.zeros(n, out.shape[1], max_len, dtype=out.dtype, device=out.device)], -1)
        out = out[:, :, :max_len]
    return out


def multiscale_patches(image: torch.Tensor) -> torch.Tensor:
    """[n, L, 3·32·32 + 3]: the patches of every scale (longer side 224, 384, then the original), concatenated."""
    n, c, h, w = image.shape
    parts = []
    for scale_id, side in enumerate(sorted(LONGER_SIDES)):
        ratio = side / max(h, w)
        resized = F.interpolate(image, (round(h * ratio), round(w * ratio)), mode="bicubic", align_corners=False)
        parts.append(scale_patches(resized, scale_id, int(math.ceil(side / PATCH) ** 2)))
    parts.append(scale_patches(image, len(LONGER_SIDES), None))
    return torch.cat(parts, dim=-1).transpose(1, 2)


class StdConv(nn.Conv2d):
    """A convolution with weight standardisation (per output channel: minus mean, over std + 1e-5) and SAME padding."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size[0], self.stride[0]
        w = self.weight - self.weight.mean((1, 2, 3), keepdim=True)
        w = w / (w.std((1, 2, 3), keepdim=True) + 1e-5)
        return F.conv2d(same_padding(x, k, s), w, self.bias, self.stride)


class Bottleneck(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = StdConv(cin, cin, 1, 1, bias=False)
        self.gn1 = nn.GroupNorm(32, cin, eps=1e-4)
        self.conv2 = StdConv(cin, cin, 3, 1, bias=False)
        self.gn2 = nn.GroupNorm(32, cin, eps=1e-4)
        self.conv3 = StdConv(cin, cout, 1, 1, bias=False)
        self.gn3 = nn.GroupNorm(32, cout, eps=1e-4)
        self.relu = nn.ReLU(True)
        self.conv_proj = StdConv(cin, cout, 1, 1, bias=False)
        self.gn_proj = nn.GroupNorm(32, cout, eps=1e-4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = self.gn_proj(self.conv_proj(x))
        y = self.relu(self.gn1(self.conv1(x)))
        y = self.relu(self.gn2(self.conv2(y)))
        return self.relu(self.gn3(self.conv3(y)) + identity)


class Attention(nn.Module):
    """Multi-head self-attention whose masked pairs get a logit of -1000 (as MUSIQ's TF code)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.query, self.key, self.value = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(b, n, self.heads, c // self.heads).permute(0, 2, 1, 3)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        logits = (q @ k.transpose(-2, -1)) * self.scale
        pairs = mask.reshape(b, 1, n, 1) * mask.reshape(b, 1, 1, n)
        logits = logits.masked_fill(pairs == 0, -1e3)
        return self.out((logits.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, mlp_dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attention = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, mlp_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm1(x), mask)
        return x + self.mlp(self.norm2(x))


class PositionEmbedding(nn.Module):
    def __init__(self, grid: int, dim: int) -> None:
        super().__init__()
        self.position_emb = nn.Parameter(torch.zeros(1, grid * grid, dim))


class ScaleEmbedding(nn.Module):
    def __init__(self, scales: int, dim: int) -> None:
        super().__init__()
        self.scale_emb = nn.Parameter(torch.zeros(scales, dim))


class Encoder(nn.Module):
    def __init__(self, dim: int, mlp_dim: int, heads: int, layers: int, scales: int) -> None:
        super().__init__()
        self.posembed_input = PositionEmbedding(GRID, dim)
        self.scaleembed_input = ScaleEmbedding(scales, dim)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.encoder_norm = nn.LayerNorm(dim, eps=1e-6)
        self.transformer = nn.ModuleDict({f"encoderblock_{i}": Block(dim, mlp_dim, heads) for i in range(layers)})

    def forward(self, x: torch.Tensor, spatial: torch.Tensor, scale: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.posembed_input.position_emb.squeeze(0)[spatial.long()]
        x = x + self.scaleembed_input.scale_emb[scale.long()]
        x = torch.cat([self.cls.repeat(len(x), 1, 1), x], dim=1)
        mask = torch.cat([torch.ones((len(x), 1)).to(mask), mask], dim=1)
        for block in self.transformer.values():
            x = block(x, mask)
        return self.encoder_norm(x)


class MUSIQ(nn.Module):
    """MUSIQ with pyiqa's defaults for the SPAQ checkpoint (hidden 384, MLP 1152, 6 heads, 14 layers, 3 scales, one
    output): ``forward`` takes one image [1, 3, H, W] in [0, 1] and returns its score [1, 1]."""

    def __init__(self, hidden: int = 384, mlp_dim: int = 1152, heads: int = 6, layers: int = 14) -> None:
        super().__init__()
        token = 64
        self.conv_root = StdConv(3, token, 7, 2, bias=False)
        self.gn_root = nn.GroupNorm(32, token, eps=1e-6)
        self.block1 = Bottleneck(token, 4 * token)
        self.embedding = nn.Linear(4 * token * (PATCH // 4) ** 2, hidden)
        self.transformer_encoder = Encoder(hidden, mlp_dim, heads, layers, len(LONGER_SIDES) + 1)
        self.head = nn.Linear(hidden, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = multiscale_patches((image - 0.5) * 2)
        b, length, _ = x.shape
        spatial, scale, mask = x[:, :, -3], x[:, :, -2], x[:, :, -1].bool()
        x = x[:, :, :-3].reshape(-1, 3, PATCH, PATCH)
        x = F.relu(self.gn_root(self.conv_root(x)))
        x = F.max_pool2d(same_padding(x, 3, 2), 3, 2)
        x = self.block1(x).permute(0, 2, 3, 1).reshape(b, length, -1)  # TF's channel-last order
        x = self.transformer_encoder(self.embedding(x), spatial, scale, mask)
        return self.head(x[:, 0])
