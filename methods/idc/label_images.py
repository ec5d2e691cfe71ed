"""IDC's label images ("prototypes"): one fixed image per class, made from an orthonormal random basis, and the
mean-absolute-difference distances that turn a translated image into a class.

The recipe must match the official one bit for bit (CPU normal draws from seed 0, reduced QR, per-image min-max),
since released checkpoints were trained to translate into exactly these images. It runs on a private
``torch.Generator``, so building label images never disturbs the global RNG.
"""
from __future__ import annotations

import hashlib

import torch


def label_images(num_classes: int, image_size: int = 32, channels: int = 3, seed: int = 0) -> torch.Tensor:
    """The ``[K, C, H, W]`` float32 label images in [0, 1] (each image spans exactly 0..1).

    ``randn(K, C*H*W)`` from a CPU generator seeded with ``seed`` → reduced QR of its transpose → column ``k``
    reshaped to ``C×H×W`` and min-max normalised on its own. The columns are orthonormal; after the per-image affine
    normalisation only the mean-centred images stay (nearly) orthogonal.
    """
    dims = channels * image_size * image_size
    if num_classes < 1 or num_classes > dims:
        raise ValueError(f"num_classes must be in 1..{dims} (C*H*W) for an orthonormal basis, got {num_classes}")
    generator = torch.Generator(device="cpu").manual_seed(seed)
    draws = torch.randn(num_classes, dims, generator=generator, dtype=torch.float32)
    basis, _ = torch.linalg.qr(draws.T, mode="reduced")  # [dims, K], orthonormal columns
    images = basis.T.reshape(num_classes, channels, image_size, image_size)
    low = images.amin(dim=(1, 2, 3), keepdim=True)
    high = images.amax(dim=(1, 2, 3), keepdim=True)
    return ((images - low) / (high - low)).contiguous()


def label_distances(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``[N, K]`` mean absolute difference over C, H, W between each image ``[N, C, H, W]`` (in [0, 1]) and each
    label image ``[K, C, H, W]``: the official classification distance."""
    if images.ndim != 4 or labels.ndim != 4 or images.shape[1:] != labels.shape[1:]:
        raise ValueError(f"expected images [N, C, H, W] and labels [K, C, H, W] of the same C, H, W, got "
                         f"{tuple(images.shape)} and {tuple(labels.shape)}")
    labels = labels.to(device=images.device, dtype=images.dtype)
    return (images[:, None] - labels[None]).abs().mean(dim=(2, 3, 4))


def nearest_label(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``[N]`` index of the nearest label image (ties go to the lowest index)."""
    distances = label_distances(images, labels)
    # argmin's tie rule is not documented for every device; take the first index attaining the minimum explicitly.
    is_min = distances == distances.min(dim=1, keepdim=True).values
    index = torch.arange(distances.shape[1], device=distances.device).expand_as(distances)
    return torch.where(is_min, index, distances.shape[1]).min(dim=1).values


def label_images_digest(labels: torch.Tensor) -> str:
    """sha256 of the label images' float32 bytes (C order), recorded in provenance so that label images differing
    from a checkpoint's training label images are visible."""
    data = labels.detach().to(device="cpu", dtype=torch.float32).contiguous()
    return hashlib.sha256(data.numpy().tobytes()).hexdigest()
