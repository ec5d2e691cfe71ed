"""Generated images in and out of a run: uint8 conversion, PNG shards, guided-diffusion npz, sample grids, MP4
videos."""
from __future__ import annotations

import io
import itertools
import os
import uuid
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


def write_mp4(path: str | Path, frames: np.ndarray | torch.Tensor, fps: float) -> Path:
    """Write RGB uint8 frames [T, H, W, 3] as an MP4 (OpenCV ``VideoWriter``, fourcc ``mp4v``); returns ``path``.

    Atomic: frames go to a hidden temporary file in the same folder, which replaces ``path`` only once OpenCV
    reads back T frames, so an interrupted write never leaves a truncated video under the final name. mp4v is
    lossy (a few grey levels on flat content, more on fine detail); keep the frame array where exact pixels matter.
    """
    path = Path(path)
    array = frames.detach().cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[-1] != 3 or array.shape[0] < 1:
        raise ValueError(f"write_mp4({path}): frames must be RGB uint8 [T, H, W, 3] with T >= 1, got "
                         f"{array.dtype} {tuple(array.shape)}")
    if not (isinstance(fps, (int, float)) and not isinstance(fps, bool) and np.isfinite(fps) and fps > 0):
        raise ValueError(f"write_mp4({path}): fps must be a positive number, got {fps!r}")
    if array.shape[1] % 2 or array.shape[2] % 2:
        # mp4v stores 4:2:0 chroma: OpenCV would silently crop an odd side by one pixel
        raise ValueError(f"write_mp4({path}): mp4v needs an even height and width, got {array.shape[1]} x "
                         f"{array.shape[2]}; pad or crop the frames by one pixel first")
    if path.suffix.lower() != ".mp4":
        raise ValueError(f"write_mp4({path}): the file name must end in .mp4 (OpenCV picks the container from it)")
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp.mp4")
    height, width = array.shape[1:3]
    fourcc = cv2.VideoWriter_fourcc(*"mp4v")  # type: ignore[attr-defined]  # absent from OpenCV's stubs
    writer = cv2.VideoWriter(str(tmp), fourcc, float(fps), (width, height))
    try:
        if not writer.isOpened():
            raise OSError(f"write_mp4({path}): OpenCV cannot open an mp4v writer (this OpenCV build lacks FFMPEG; "
                          "check cv2.getBuildInformation())")
        for frame in array:
            writer.write(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2BGR))
        writer.release()
        written = _reported_frame_count(tmp)
        if written != array.shape[0]:
            raise OSError(f"write_mp4({path}): OpenCV wrote {written} of {array.shape[0]} frames; the disk may be "
                          "full or the codec refused the frame size")
        os.replace(tmp, path)
    finally:
        writer.release()
        tmp.unlink(missing_ok=True)
    return path


def _reported_frame_count(path: Path) -> int:
    """The frame count the container reports (``CAP_PROP_FRAME_COUNT``), -1 if OpenCV cannot open it."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        return int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else -1
    finally:
        capture.release()
