"""The SwinFusion-style cross-attention network over the two modalities' latents, and the fused RGB image.

The official ``add_fusion.py`` builds ``SwinFusion(img_size=128, window_size=8, depths=[6, 6, 6, 6], embed_dim=60,
num_heads=[6, 6, 6, 6], mlp_ratio=2, upsampler='', resi_connection='1conv')`` and calls ``model(vis_emb,
inf_emb)``, which returns one luminance channel; the network's code is not in the repository. This re-implementation
follows SwinFusion's published structure (Ma et al. 2022): per-modality shallow convolution and Swin self-attention
(extraction), window cross-attention in both directions (fusion), Swin self-attention on the merged features
(reconstruction), a convolution to one channel. How the four ``depths`` split over those stages is not published;
here ``depths[0]`` is extraction, ``depths[1]`` cross-attention, ``depths[2:]`` reconstruction stages. Windows use
relative position bias and alternate with shifted windows (shift 0 when the map fits in one window, as Swin); maps
whose sides are not multiples of the window are padded by replication and cropped back (SwinIR pads similarly).
The fusion losses are unknown (sheet §3.4): here SwinFusion's intensity (max of the two) and gradient (max of
the two Sobel magnitudes) L1 terms, weights as options; SwinFusion's SSIM term is not used.

The fused image is the official recipe: fused luminance + the visible image's Lab chroma, back to RGB. The network
works at the latents' resolution; its luminance is upsampled bilinearly to the image size (the official shapes
imply an upsampling that the repository does not show).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def window_partition(x: Tensor, window: int) -> Tensor:
    """[B, H, W, C] (H, W multiples of ``window``) -> [B·nW, window², C]."""
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window * window, c)


def window_reverse(windows: Tensor, window: int, h: int, w: int) -> Tensor:
    """Inverse of :func:`window_partition`: [B·nW, window², C] -> [B, H, W, C]."""
    b = windows.shape[0] // ((h // window) * (w // window))
    x = windows.view(b, h // window, w // window, window, window, -1)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, -1)


def shift_mask(h: int, w: int, window: int, shift: int, device: torch.device) -> Tensor:
    """Swin's attention mask for cyclically shifted windows: [nW, window², window²], -100 between tokens that came
    from different regions of the unshifted map, 0 elsewhere."""
    region = torch.zeros(1, h, w, 1, device=device)
    count = 0
    for hs in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
        for ws in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
            region[:, hs, ws, :] = count
            count += 1
    ids = window_partition(region, window).squeeze(-1)
    mask = ids.unsqueeze(1) - ids.unsqueeze(2)
    return mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)


class WindowAttention(nn.Module):
    """Multi-head attention inside windows with a learned relative position bias; ``context`` (cross-attention)
    gives the keys and values, otherwise the queries' own tokens do."""

    def __init__(self, dim: int, window: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"fusion embed_dim {dim} is not divisible by num_heads {num_heads}")
        self.window, self.num_heads, self.scale = window, num_heads, (dim // num_heads) ** -0.5
        self.q, self.kv, self.proj = nn.Linear(dim, dim), nn.Linear(dim, 2 * dim), nn.Linear(dim, dim)
        self.bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, num_heads))
        nn.init.trunc_normal_(self.bias_table, std=0.02)
        coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
        self.register_buffer("bias_index", rel[..., 0] * (2 * window - 1) + rel[..., 1], persistent=False)

    def forward(self, x: Tensor, context: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        """``x``, ``context``: [B·nW, N, C]; ``mask``: [nW, N, N] or None."""
        bw, n, c = x.shape
        heads = self.num_heads
        q = self.q(x).view(bw, n, heads, -1).transpose(1, 2)
        k, v = self.kv(x if context is None else context).view(bw, n, 2, heads, -1).permute(2, 0, 3, 1, 4)
        attention = (q * self.scale) @ k.transpose(-2, -1)
        attention = attention + self.bias_table[self.bias_index.reshape(-1)].view(n, n, -1).permute(2, 0, 1)
        if mask is not None:
            windows = mask.shape[0]
            attention = attention.view(bw // windows, windows, heads, n, n) + mask[None, :, None]
            attention = attention.view(bw, heads, n, n)
        return self.proj((attention.softmax(-1) @ v).transpose(1, 2).reshape(bw, n, c))


class SwinBlock(nn.Module):
    """Pre-norm (shifted-)window attention + MLP with residuals; with ``cross`` the keys/values come from a second
    map (SwinFusion's cross-domain attention)."""

    def __init__(self, dim: int, num_heads: int, window: int, shifted: bool, mlp_ratio: float,
                 cross: bool = False) -> None:
        super().__init__()
        self.window, self.shifted, self.cross = window, shifted, cross
        self.norm1 = nn.LayerNorm(dim)
        self.norm_context = nn.LayerNorm(dim) if cross else None
        self.attn = WindowAttention(dim, window, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``x``, ``context``: [B, H, W, C] with H, W multiples of the window."""
        b, h, w, c = x.shape
        shift = self.window // 2 if self.shifted and min(h, w) > self.window else 0
        y = self.norm1(x)
        ctx = self.norm_context(context) if self.norm_context is not None and context is not None else None
        if shift:
            y = torch.roll(y, (-shift, -shift), dims=(1, 2))
            ctx = torch.roll(ctx, (-shift, -shift), dims=(1, 2)) if ctx is not None else None
        mask = shift_mask(h, w, self.window, shift, x.device) if shift else None
        out = self.attn(window_partition(y, self.window),
                        window_partition(ctx, self.window) if ctx is not None else None, mask)
        out = window_reverse(out, self.window, h, w)
        if shift:
            out = torch.roll(out, (shift, shift), dims=(1, 2))
        x = x + out
        return x + self.mlp(self.norm2(x))


def _stage(dim: int, depth: int, heads: int, window: int, mlp_ratio: float, cross: bool = False) -> nn.ModuleList:
    return nn.ModuleList(SwinBlock(dim, heads, window, bool(i % 2), mlp_ratio, cross) for i in range(depth))


class SwinFusion(nn.Module):
    """Cross-attention fusion of two latent maps [B, C, h, w] into one luminance channel [B, 1, h, w].

    Args:
        in_channels: channels of each modality's latent (the VQ models' ``latent_channels``).
        embed_dim: token width (official 60).
        depths: blocks per stage: extraction, cross-attention, then one or more reconstruction stages (official
            [6, 6, 6, 6]).
        num_heads: heads per stage, same length as ``depths`` (official 6 each).
        window_size: attention window side (official 8).
        mlp_ratio: MLP hidden width / ``embed_dim`` (official 2).
    """

    def __init__(self, in_channels: int, embed_dim: int = 60, depths: Sequence[int] = (6, 6, 6, 6),
                 num_heads: Sequence[int] = (6, 6, 6, 6), window_size: int = 8, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        if len(depths) < 3 or len(num_heads) != len(depths):
            raise ValueError(f"fusion depths {list(depths)} / num_heads {list(num_heads)}: need at least 3 stages "
                             "(extraction, cross-attention, reconstruction) and one head count per stage")
        self.window = window_size
        self.embed_vis = nn.Conv2d(in_channels, embed_dim, 3, padding=1)
        self.embed_inf = nn.Conv2d(in_channels, embed_dim, 3, padding=1)
        self.extract_vis = _stage(embed_dim, depths[0], num_heads[0], window_size, mlp_ratio)
        self.extract_inf = _stage(embed_dim, depths[0], num_heads[0], window_size, mlp_ratio)
        self.cross_vis = _stage(embed_dim, depths[1], num_heads[1], window_size, mlp_ratio, cross=True)
        self.cross_inf = _stage(embed_dim, depths[1], num_heads[1], window_size, mlp_ratio, cross=True)
        self.merge = nn.Linear(2 * embed_dim, embed_dim)
        self.reconstruct = nn.ModuleList(_stage(embed_dim, d, h, window_size, mlp_ratio)
                                         for d, h in zip(depths[2:], num_heads[2:], strict=True))
        self.norm = nn.LayerNorm(embed_dim)
        self.to_luminance = nn.Conv2d(embed_dim, 1, 3, padding=1)

    def fused_features(self, vis: Tensor, inf: Tensor) -> Tensor:
        """The merged, reconstructed features [B, embed_dim, h, w] (what the SAM adapter injects)."""
        if vis.shape != inf.shape:
            raise ValueError(f"visible latents {tuple(vis.shape)} and infrared latents {tuple(inf.shape)} differ")
        h, w = vis.shape[-2:]
        pad_h, pad_w = -h % self.window, -w % self.window
        a = F.pad(self.embed_vis(vis), (0, pad_w, 0, pad_h), mode="replicate").permute(0, 2, 3, 1)
        b = F.pad(self.embed_inf(inf), (0, pad_w, 0, pad_h), mode="replicate").permute(0, 2, 3, 1)
        for block_a, block_b in zip(self.extract_vis, self.extract_inf, strict=True):
            a, b = block_a(a), block_b(b)
        for block_a, block_b in zip(self.cross_vis, self.cross_inf, strict=True):
            a, b = block_a(a, b), block_b(b, a)
        x = self.merge(torch.cat([a, b], dim=-1))
        for stage in self.reconstruct:
            shortcut = x
            for block in stage:
                x = block(x)
            x = x + shortcut
        return self.norm(x)[:, :h, :w].permute(0, 3, 1, 2)

    def forward(self, vis: Tensor, inf: Tensor) -> Tensor:
        """Fused luminance [B, 1, h, w] (target range [0, 1]; clamp before use)."""
        return self.to_luminance(self.fused_features(vis, inf))


SOBEL = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def sobel_magnitude(image: Tensor) -> Tensor:
    """|∂x| + |∂y| of [B, 1, H, W] by Sobel kernels (SwinFusion's gradient operator), replicate-padded."""
    kernel = torch.stack([SOBEL, SOBEL.t()]).unsqueeze(1).to(image)
    grad = F.conv2d(F.pad(image, (1, 1, 1, 1), mode="replicate"), kernel)
    return grad.abs().sum(1, keepdim=True)


def fusion_loss(fused: Tensor, visible_y: Tensor, infrared: Tensor, intensity: float = 1.0,
                gradient: float = 1.0) -> dict[str, Tensor]:
    """SwinFusion's max-intensity and max-gradient L1 terms for a fused luminance and its two sources (each
    [B, 1, h, w] in [0, 1])."""
    l_int = F.l1_loss(fused, torch.maximum(visible_y, infrared))
    l_grad = F.l1_loss(sobel_magnitude(fused), torch.maximum(sobel_magnitude(visible_y), sobel_magnitude(infrared)))
    return {"loss": intensity * l_int + gradient * l_grad, "intensity": l_int.detach(), "gradient": l_grad.detach()}


# sRGB (D65) <-> CIE Lab, float, the conversion OpenCV's COLOR_RGB2Lab applies to float images
_RGB_TO_XYZ = torch.tensor([[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169],
                            [0.019334, 0.119193, 0.950227]])
_WHITE = torch.tensor([0.950456, 1.0, 1.088754])


def rgb_to_lab(rgb: Tensor) -> Tensor:
    """[B, 3, H, W] sRGB in [0, 1] -> Lab (L in [0, 100])."""
    linear = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = torch.einsum("ij,bjhw->bihw", _RGB_TO_XYZ.to(rgb), linear) / _WHITE.to(rgb).view(1, 3, 1, 1)
    f = torch.where(xyz > 0.008856, xyz.clamp_min(1e-12) ** (1 / 3), 7.787 * xyz + 16 / 116)
    return torch.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], dim=1)


def lab_to_rgb(lab: Tensor) -> Tensor:
    """Inverse of :func:`rgb_to_lab`, clamped to [0, 1]."""
    fy = (lab[:, 0] + 16) / 116
    f = torch.stack([fy + lab[:, 1] / 500, fy, fy - lab[:, 2] / 200], dim=1)
    xyz = torch.where(f > 0.206893, f ** 3, (f - 16 / 116) / 7.787) * _WHITE.to(lab).view(1, 3, 1, 1)
    linear = torch.einsum("ij,bjhw->bihw", torch.linalg.inv(_RGB_TO_XYZ).to(lab), xyz).clamp(0, 1)
    return torch.where(linear > 0.0031308, 1.055 * linear ** (1 / 2.4) - 0.055, 12.92 * linear).clamp(0, 1)


def visible_luminance(image: Tensor) -> Tensor:
    """Lab lightness / 100 [B, 1, H, W] of a uint8-range RGB image [B, 3, H, W]."""
    return rgb_to_lab(image.float() / 255)[:, :1] / 100


def fused_image(luminance: Tensor, visible: Tensor) -> Tensor:
    """The fused RGB image (uint8 range, float) from a fused luminance [B, 1, h, w] in [0, 1] (upsampled to the
    image size) and the visible image's Lab chroma [B, 3, H, W], as the official ``add_fusion.py``."""
    lab = rgb_to_lab(visible.float() / 255)
    y = F.interpolate(luminance, size=visible.shape[-2:], mode="bilinear", align_corners=False).clamp(0, 1)
    return lab_to_rgb(torch.cat([y * 100, lab[:, 1:]], dim=1)) * 255
