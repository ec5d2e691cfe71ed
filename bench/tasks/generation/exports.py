"""Generated images in and out of a run: uint8 conversion, PNG shards, guided-diffusion npz, sample grids."""
from __future__ import annotations

import io
import itertools
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from bench.io import atomic_write_bytes, atomic_writer

PNG_SHARD_SIZE = 1000


def to_uint8_images(images: torch.Tensor, rounding: str = "nearest") -> torch.Tensor:
    """Model-space images [B, C, H, W] in [-1, 1] to uint8 [B, H, W, C].

    ``nearest`` rounds as diffusers' ``numpy_to_pil`` does (torchvision's ``save_image``, which the official AMS
    sampler uses, rounds halves up instead: the two differ only for values exactly halfway between two levels);
    ``guided_diffusion`` truncates ``(x + 1) * 127.5`` (ADM's sampling scripts); ``dit`` truncates
    ``127.5 * x + 128`` (DiT's ``sample_ddp.py``). The rounding shifts FID slightly, so samplers keep their own.
    """
    images = images.float()
    if rounding == "nearest":
        scaled = ((images / 2 + 0.5).clamp(0, 1) * 255).round()
    elif rounding == "guided_diffusion":
        scaled = ((images + 1) * 127.5).clamp(0, 255)
    elif rounding == "dit":
        scaled = (127.5 * images + 128.0).clamp(0, 255)
    else:
        raise ValueError(f"rounding must be 'nearest', 'guided_diffusion' or 'dit', got {rounding!r}")
    return scaled.to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def dataset_images_uint8(images: torch.Tensor) -> torch.Tensor:
    """Dataset images [B, C, H, W] as floats in [0, 1] (the readers' convention) to uint8 [B, H, W, C]; readers of
    image files that serve the decoded uint8 [B, H, W, C] (``CaptionedImageFolder``) pass through unchanged."""
    if images.dtype == torch.uint8 and images.ndim == 4 and images.shape[-1] in (1, 3):
        return images.contiguous()
    return (images.float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def _png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buffer, format="PNG")
    return buffer.getvalue()


def write_png(path: Path, image: torch.Tensor) -> Path:
    """One uint8 (H, W, C) image as a PNG, written atomically."""
    atomic_write_bytes(path, _png_bytes(image.numpy()))
    return path


def write_png_shards(directory: Path, sample_ids: list[str], indices: torch.Tensor, images: torch.Tensor) -> Path:
    """``<directory>/<index // 1000:05d>/<sample_id>.png``; files already there are kept (a sample's image is
    fixed by its id and seed, so a rescore need not rewrite 50,000 PNGs)."""
    for sample_id, index, image in zip(sample_ids, indices.tolist(), images.numpy(), strict=True):
        path = directory / f"{index // PNG_SHARD_SIZE:05d}" / f"{sample_id}.png"
        if not path.is_file():
            atomic_write_bytes(path, _png_bytes(image))
    return directory


def write_samples_npz(run_dir: Path, images: torch.Tensor | Iterable[torch.Tensor], labels: torch.Tensor | None,
                      count: int | None = None) -> Path:
    """guided-diffusion's ``samples_NxHxWxC.npz``: ``arr_0`` uint8 images and, for class-conditional runs,
    ``arr_1`` labels (what its ``image_sample.py`` writes and its evaluator reads).

    ``images`` is one tensor or an iterable of row blocks (then ``count`` gives the total rows): the file is
    written block by block, byte for byte what ``np.savez`` writes for the whole array, without holding it.
    """
    if isinstance(images, torch.Tensor):
        images, count = [images], len(images)
    blocks = iter(images)
    first = next(blocks)
    if count is None:
        raise ValueError("write_samples_npz: pass count (the total number of images) with an iterable of blocks")
    n, (h, w, c) = count, tuple(first.shape[1:])
    header = {"shape": (n, h, w, c), "fortran_order": False,
              "descr": np.lib.format.dtype_to_descr(first.numpy().dtype)}
    path = run_dir / f"samples_{n}x{h}x{w}x{c}.npz"
    written = 0
    with atomic_writer(path) as handle, zipfile.ZipFile(handle, mode="w", compression=zipfile.ZIP_STORED,
                                                        allowZip64=True) as archive:
        with archive.open("arr_0.npy", "w", force_zip64=True) as member:  # as np.savez opens its members
            np.lib.format.write_array_header_1_0(member, header)
            for block in itertools.chain([first], blocks):
                if tuple(block.shape[1:]) != (h, w, c):
                    raise ValueError(f"write_samples_npz: image blocks of shape {tuple(block.shape[1:])} and "
                                     f"{(h, w, c)} do not stack")
                member.write(np.ascontiguousarray(block.numpy()).tobytes("C"))
                written += len(block)
        if labels is not None:
            with archive.open("arr_1.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, labels.numpy())
        if written != n:
            raise ValueError(f"write_samples_npz: {written} images written, {n} announced")
    return path


def sample_grid(images: torch.Tensor, path: Path, nrow: int = 8) -> Path:
    """The first images as one PNG grid (uint8 [B, H, W, C] in, 2-pixel padding)."""
    from torchvision.utils import make_grid

    grid = make_grid(images.permute(0, 3, 1, 2), nrow=nrow, padding=2, pad_value=255)
    return atomic_write_bytes(path, _png_bytes(grid.permute(1, 2, 0).contiguous().numpy()))
