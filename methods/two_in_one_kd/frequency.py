"""The teacher's frequency input: DCT band decomposition in the spirit of F3-Net's frequency-aware decomposition.

Each channel's orthonormal 2-D DCT-II is split into bands by the diagonal index ``(u + v) / (2 (n - 1))`` (0 = DC,
1 = highest frequency), each band transformed back to the image domain, and the bands stacked as channels:
``[B, C, H, W] -> [B, C * len(bands), H, W]``. F3-Net learns a residual on top of fixed low/middle/high filters;
here the filters are fixed (an option of this re-implementation; the paper's teacher is unknown).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

DEFAULT_BANDS = ((0.0, 1 / 16), (1 / 16, 1 / 8), (1 / 8, 1.0))  # F3-Net's low / middle / high split


def dct_matrix(n: int, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> torch.Tensor:
    """The orthonormal DCT-II matrix D [n, n]: ``D @ x`` is ``scipy.fft.dct(x, norm="ortho")``."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    matrix = torch.cos(torch.pi * (2 * i + 1) * k / (2 * n)) * (2.0 / n) ** 0.5
    matrix[0] /= 2**0.5
    return matrix.to(dtype=dtype, device=device)


def band_masks(height: int, width: int, bands: Sequence[tuple[float, float]]) -> torch.Tensor:
    """[len(bands), H, W] 0/1 masks over DCT coefficients; a band (lo, hi) keeps lo <= r < hi (hi = 1 includes 1)."""
    u = torch.arange(height, dtype=torch.float64)[:, None]
    v = torch.arange(width, dtype=torch.float64)[None, :]
    radius = (u + v) / max(height + width - 2, 1)
    masks = [((radius >= lo) & ((radius < hi) | ((hi >= 1.0) & (radius <= 1.0)))) for lo, hi in bands]
    return torch.stack(masks).float()


def band_decompose(images: torch.Tensor, bands: Sequence[tuple[float, float]] = DEFAULT_BANDS) -> torch.Tensor:
    """Images [B, C, H, W] -> band images [B, C * len(bands), H, W] (band-major: all channels of band 0 first);
    the bands sum back to the input when they tile [0, 1]."""
    _, channels, height, width = images.shape
    dh = dct_matrix(height, images.dtype, images.device)
    dw = dct_matrix(width, images.dtype, images.device)
    coefficients = dh @ images @ dw.T
    masks = band_masks(height, width, bands).to(images)
    parts = [dh.T @ (coefficients * mask) @ dw for mask in masks]
    return torch.cat(parts, dim=1)
