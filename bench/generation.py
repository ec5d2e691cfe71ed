"""Generated images in and out of a run: uint8 conversion, PNG shards, guided-diffusion npz, sample grids, and the
reference statistics a generation run is scored against (a file, or built from a dataset and cached)."""
from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.io import atomic_write_bytes, sha256_json
from bench.reference_stats import ReferenceStatistics, build_reference

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
    """Dataset images [B, C, H, W] as floats in [0, 1] (the readers' convention) to uint8 [B, H, W, C]."""
    return (images.float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def _png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buffer, format="PNG")
    return buffer.getvalue()


def write_png_shards(directory: Path, sample_ids: list[str], indices: torch.Tensor, images: torch.Tensor) -> Path:
    """``<directory>/<index // 1000:05d>/<sample_id>.png``; files already there are kept (a sample's image is
    fixed by its id and seed, so a rescore need not rewrite 50,000 PNGs)."""
    for sample_id, index, image in zip(sample_ids, indices.tolist(), images.numpy(), strict=True):
        path = directory / f"{index // PNG_SHARD_SIZE:05d}" / f"{sample_id}.png"
        if not path.is_file():
            atomic_write_bytes(path, _png_bytes(image))
    return directory


def write_samples_npz(run_dir: Path, images: torch.Tensor, labels: torch.Tensor | None) -> Path:
    """guided-diffusion's ``samples_NxHxWxC.npz``: ``arr_0`` uint8 images and, for class-conditional runs,
    ``arr_1`` labels (what its ``image_sample.py`` writes and its evaluator reads)."""
    n, h, w, c = images.shape
    arrays = {"arr_0": images.numpy()}
    if labels is not None:
        arrays["arr_1"] = labels.numpy()
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return atomic_write_bytes(run_dir / f"samples_{n}x{h}x{w}x{c}.npz", buffer.getvalue())


def sample_grid(images: torch.Tensor, path: Path, nrow: int = 8) -> Path:
    """The first images as one PNG grid (uint8 [B, H, W, C] in, 2-pixel padding)."""
    from torchvision.utils import make_grid

    grid = make_grid(images.permute(0, 3, 1, 2), nrow=nrow, padding=2, pad_value=255)
    return atomic_write_bytes(path, _png_bytes(grid.permute(1, 2, 0).contiguous().numpy()))


def _dataset_batches(dataset: Any, image_key: str, batch_size: int, limit: int | None) -> Iterator[torch.Tensor]:
    count = min(len(dataset), limit) if limit else len(dataset)
    for start in range(0, count, batch_size):
        batch = torch.stack([dataset[i][image_key] for i in range(start, min(start + batch_size, count))])
        yield dataset_images_uint8(batch)


def resolve_reference(spec: str | dict[str, Any], extractor: Any, cache_dir: Path, *, need_features: bool,
                      batch_size: int = 256) -> tuple[ReferenceStatistics, dict[str, Any]]:
    """The reference statistics a run is scored against, and how they were obtained (for ``results.json``).

    ``spec`` is a statistics file (a guided-diffusion ``VIRTUAL_*.npz`` or one ``bench reference build``
    wrote), or ``{"dataset": {...}, "image_key": "image", "limit": None}``: a dataset reader whose images are
    featurised with the run's extractor once and cached under ``cache_dir``. A VIRTUAL file keeps its own
    ``mu``/``sigma``/``mu_s``/``sigma_s``; when precision/recall or KID need per-image features, the file's
    ``arr_0`` images are featurised once and cached next to the other references.
    """
    extractor_facts = extractor.describe()
    # caches are keyed by what the extractor computes (name, weights hash, resize), not where its file lies
    identity = {k: v for k, v in extractor_facts.items() if k != "weights"}
    if isinstance(spec, (str, Path)):
        reference = ReferenceStatistics.load(spec, load_images=False)  # a 256x256 VIRTUAL arr_0 is 2 GB
        facts = {"path": str(spec), "sha256": reference.sha256, "format": reference.format,
                 "num_samples": reference.num_samples}
        if need_features and reference.pool is None:
            key = sha256_json({"reference": reference.sha256, "extractor": identity})[:20]
            cached = cache_dir / f"features-{key}.npz"
            if cached.is_file():
                features = ReferenceStatistics.load(cached)
            else:
                images = torch.from_numpy(ReferenceStatistics.load(spec).images)
                batches = (images[i:i + batch_size] for i in range(0, len(images), batch_size))
                features = build_reference(batches, extractor, {"extractor": extractor_facts,
                                                                "source": str(spec), "source_sha256": reference.sha256})
                features.save(cached)
            reference.pool, reference.logits = features.pool, features.logits
            facts["features_cache"] = str(cached)
        _check_extractor(reference, extractor_facts, str(spec))
        return reference, facts
    from bench.config import to_plain
    from bench.registry import DATASETS

    spec = to_plain(dict(spec))
    dataset = DATASETS.build(dict(spec["dataset"]))
    limit = spec.get("limit")
    fingerprint = dataset.fingerprint()  # hashes every image of some readers: once
    key = sha256_json({"dataset": fingerprint, "limit": limit, "extractor": identity})[:20]
    path = cache_dir / f"{type(dataset).__name__}-{key}.npz"
    if not path.is_file():
        batches = _dataset_batches(dataset, spec.get("image_key", "image"), batch_size, limit)
        meta = {"extractor": extractor_facts, "source": {"dataset": spec["dataset"], "limit": limit,
                                                         "fingerprint": fingerprint}}
        build_reference(batches, extractor, meta).save(path)
    reference = ReferenceStatistics.load(path)
    return reference, {"path": str(path), "sha256": reference.sha256, "format": reference.format,
                       "num_samples": reference.num_samples, "built_from": spec["dataset"]}


def _check_extractor(reference: ReferenceStatistics, extractor_facts: dict[str, Any], where: str) -> None:
    """A reference we built records its extractor's weights; scoring against it with other weights is refused."""
    recorded = (reference.meta or {}).get("extractor", {}).get("weights_sha256")
    current = extractor_facts.get("weights_sha256")
    if recorded and current and recorded != current:
        raise ValueError(f"{where}: the reference statistics were built with extractor weights {recorded[:12]}..., "
                         f"but this run's extractor has {current[:12]}...; rebuild the reference with "
                         "`bench reference build` and this extractor, or point the task at the matching weights")
