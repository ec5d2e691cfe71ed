"""Pixel-level memorization: the normalised nearest-neighbour distance nL2 of generated images to a training pool, and
the greedy deduplication of that pool (AMG, Chen et al. 2024, after Carlini et al. 2023).

Definitions (AMG-iddpm ``scripts/data.py`` and ``scripts/image_sample_guided.py``), images in [-1, 1]:
``l2(a, b) = sqrt(mean((a - b)²)) / 2``; ``nL2(x) = l2(x, n₀) / (α · mean of the k smallest l2 to the pool)``,
n₀ the nearest pool image, k = 50, α = 0.5. A generation is "memorized" when nL2 < 1.4 (secondary 1.6).

Search runs as matrix products (``|a|² + |b|² − 2 a·b``) in blocks of rows, so a 50,000-image pool never needs a
[B, P, D] difference tensor; the k nearest candidates of each row (plus a small margin) are then recomputed from
their pixel differences in float64, so an exact copy gets l2 = 0 rather than the expansion's rounding residue.
Where the official code divides 0 by 0 (an image with at least k exact copies in the pool: ``mL2`` raises
ZeroDivisionError), nL2 is 0 here: the image is a copy.

Measured on the 2 shared CPU cores of the development machine (load ≈ 3): deduplicating 5,000 random 3×32×32
images takes 6.7 s on one thread (7.8 s on two); the official per-row loop (a full difference tensor per image)
extrapolates to ≈ 930 s for the same 5,000.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.io import atomic_write_bytes, sha256_file, sha256_json

DEFAULT_K = 50
DEFAULT_ALPHA = 0.5
DEFAULT_BLOCK = 512  # rows per matrix product: 512 x 50,000 float32 distances are 100 MB
CANDIDATE_MARGIN = 16  # extra candidates recomputed exactly, against float32 ordering noise at the k-th neighbour


def _flat(images: torch.Tensor, name: str) -> torch.Tensor:
    images = torch.as_tensor(images)
    if images.ndim < 2:
        raise ValueError(f"{name} must be a batch of images [N, C, H, W] (or [N, D]), got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"{name} must be float images in [-1, 1], got dtype {images.dtype}; map uint8 pixels with "
                         "x / 127.5 - 1 first")
    return images.reshape(len(images), int(np.prod(images.shape[1:])))


def _check_pair(images: torch.Tensor, pool: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    flat_images, flat_pool = _flat(images, "images"), _flat(pool, "pool")
    if flat_images.shape[1] != flat_pool.shape[1]:
        raise ValueError(f"images {tuple(images.shape[1:])} and pool images {tuple(pool.shape[1:])} differ in size "
                         "(C·H·W); compare generations with a training pool of the same resolution and channels")
    return flat_images, flat_pool


def _squared_l2(rows: torch.Tensor, pool: torch.Tensor, pool_sq: torch.Tensor) -> torch.Tensor:
    """Mean squared difference [R, P] of ``rows`` to ``pool`` (both flat, one dtype) by one matrix product."""
    sq = (rows * rows).sum(dim=1, keepdim=True) + pool_sq[None, :] - 2.0 * (rows @ pool.T)
    return sq.clamp_min_(0.0) / rows.shape[1]


def pixel_l2(images: torch.Tensor, pool: torch.Tensor, block_size: int = DEFAULT_BLOCK,
             dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The official ``l2`` of every image to every pool image, [B, P]: ``sqrt(mean((a - b)²)) / 2``.

    Args:
        images: float [B, ...] in [-1, 1].
        pool: float [P, ...] in [-1, 1], same per-image size as ``images``.
        block_size: image rows per matrix product (bounds the temporaries, not the [B, P] result).
        dtype: precision of the products (float64: about 1e-7 absolute error on l2 for near-identical images).
    """
    flat_images, flat_pool = _check_pair(images, pool)
    flat_pool = flat_pool.to(dtype)
    pool_sq = (flat_pool * flat_pool).sum(dim=1)
    out = torch.empty(len(flat_images), len(flat_pool), dtype=dtype, device=flat_pool.device)
    for start in range(0, len(flat_images), block_size):
        rows = flat_images[start:start + block_size].to(device=flat_pool.device, dtype=dtype)
        out[start:start + len(rows)] = _squared_l2(rows, flat_pool, pool_sq).sqrt_() / 2
    return out


# rows whose candidates are recomputed at once: on the CPU few, so the differences stay in cache (measured: 8 rows
# 3.4x faster than 32 for CIFAR-sized images); on an accelerator many, so the kernels are large (256 x 66 x 3,072
# float64 differences are 415 MB)
REFINE_ROWS = {"cpu": 8}
REFINE_ROWS_ACCELERATOR = 256


def _refine(rows: torch.Tensor, pool: torch.Tensor, approx_sq: torch.Tensor, k: int, alpha: float
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """nL2 [R] (float64), nearest pool index [R] and the denominator α · mean of the k smallest l2 [R] of flat
    ``rows``, given approximate squared distances [R, P] to the flat ``pool`` (``inf`` where an image must not count,
    the same number of finite entries in every row): the k nearest candidates (+ margin) are recomputed from their
    pixel differences in float64."""
    available = int(torch.isfinite(approx_sq[0]).sum())
    kk = min(k, available)
    take = min(available, kk + CANDIDATE_MARGIN)
    candidates = torch.topk(approx_sq, take, dim=1, largest=False).indices.sort(dim=1).values  # ties: lowest index
    nl2 = torch.empty(len(rows), dtype=torch.float64, device=rows.device)
    nearest = torch.empty(len(rows), dtype=torch.int64, device=rows.device)
    denominators = torch.empty(len(rows), dtype=torch.float64, device=rows.device)
    chunk = REFINE_ROWS.get(rows.device.type, REFINE_ROWS_ACCELERATOR)
    for start in range(0, len(rows), chunk):
        block = candidates[start:start + chunk]
        differences = pool[block].double() - rows[start:start + chunk, None].double()
        exact = (differences ** 2).mean(dim=2).sqrt() / 2
        order = torch.argsort(exact, dim=1, stable=True)[:, :kk]
        nearest_k = exact.gather(1, order)
        denominator = alpha * nearest_k.mean(dim=1)
        # ≥ k exact copies: 0 / 0 in the official code, 0 (a copy) here
        nl2[start:start + len(block)] = torch.where(denominator > 0, nearest_k[:, 0] / denominator.clamp_min(1e-300),
                                                    torch.zeros_like(denominator))
        nearest[start:start + len(block)] = block.gather(1, order[:, :1])[:, 0]
        denominators[start:start + len(block)] = denominator
    return nl2, nearest, denominators


def normalized_l2(images: torch.Tensor, pool: torch.Tensor, k: int = DEFAULT_K, alpha: float = DEFAULT_ALPHA,
                  block_size: int = DEFAULT_BLOCK, with_denominator: bool = False) -> tuple[torch.Tensor, ...]:
    """AMG's nL2 of each image against ``pool``: ``(nl2 [B] float64, nearest_index [B] int64)``, returned on the CPU,
    and with ``with_denominator`` also the denominator α · mean of the k smallest l2 [B] float64 (what AMG's guidance
    holds fixed when it differentiates nL2).

    ``nl2 = l2(x, n₀) / (alpha · mean of the k smallest l2)``, k clipped to the pool size; an exact copy of at
    least k identical pool images has nL2 0 (the official code divides 0 by 0 there). Images and pool are float in
    [-1, 1]; the work runs on the pool's device (float32 search, float64 recomputation of the candidates).
    """
    flat_images, flat_pool = _check_pair(images, pool)
    if len(flat_pool) == 0:
        raise ValueError("normalized_l2: the pool is empty; nL2 needs at least one training image")
    if k < 1 or alpha <= 0:
        raise ValueError(f"normalized_l2: k must be >= 1 and alpha > 0, got k={k}, alpha={alpha}")
    search = flat_pool.float()
    pool_sq = (search * search).sum(dim=1)
    nl2: list[torch.Tensor] = []
    nearest: list[torch.Tensor] = []
    denominators: list[torch.Tensor] = []
    for start in range(0, len(flat_images), block_size):
        rows = flat_images[start:start + block_size].to(device=search.device)
        block = _refine(rows, flat_pool, _squared_l2(rows.float(), search, pool_sq), k, alpha)
        for out, value in zip((nl2, nearest, denominators), block, strict=True):
            out.append(value.cpu())
    if not nl2:
        empty = (torch.empty(0, dtype=torch.float64), torch.empty(0, dtype=torch.int64),
                 torch.empty(0, dtype=torch.float64))
        return empty if with_denominator else empty[:2]
    result = (torch.cat(nl2), torch.cat(nearest), torch.cat(denominators))
    return result if with_denominator else result[:2]


def deduplicate(pool: torch.Tensor, threshold: float = 1.0, k: int = DEFAULT_K, alpha: float = DEFAULT_ALPHA,
                block_size: int = DEFAULT_BLOCK) -> torch.Tensor:
    """Indices (ascending, int64) of the images AMG's greedy rule keeps (``scripts/data.py``).

    Walk the images in order; image i's nL2 is taken against the current pool without itself (the images kept so
    far and every later one, none of which has been removed yet); below ``threshold`` it is removed. Of a group of
    near-identical images the last one survives. Rows are searched a block at a time with one matrix product
    against the whole pool; the alive mask is applied row by row, so a removal inside a block counts for the rows
    after it. A pool of one image keeps it (the official code fails on the empty list).
    """
    flat = _flat(pool, "pool")
    if k < 1 or alpha <= 0:
        raise ValueError(f"deduplicate: k must be >= 1 and alpha > 0, got k={k}, alpha={alpha}")
    search = flat.float()
    pool_sq = (search * search).sum(dim=1)
    alive = torch.ones(len(flat), dtype=torch.bool, device=flat.device)
    for start in range(0, len(flat), block_size):
        approx = _squared_l2(search[start:start + block_size], search, pool_sq)
        for offset in range(len(approx)):
            i = start + offset
            row = approx[offset].masked_fill(~alive, float("inf"))
            row[i] = float("inf")
            if not bool(torch.isfinite(row).any()):
                continue
            if float(_refine(flat[i:i + 1], flat, row[None], k, alpha)[0][0]) < threshold:
                alive[i] = False
    return torch.nonzero(alive).flatten().cpu()


def images_to_model_range(images: torch.Tensor, where: str) -> torch.Tensor:
    """Images in [-1, 1] as float32 [N, C, H, W] from uint8 [N, H, W, C] (``x / 127.5 - 1``, the generated images'
    and guided-diffusion's mapping) or float [N, C, H, W] in [0, 1] (the dataset readers' convention: ``2x - 1``)."""
    images = torch.as_tensor(images)
    if images.ndim != 4:
        raise ValueError(f"{where}: images must be uint8 [N, H, W, C] or float [N, C, H, W], got shape "
                         f"{tuple(images.shape)}")
    if images.dtype == torch.uint8:
        return images.permute(0, 3, 1, 2).float() / 127.5 - 1.0
    if not images.is_floating_point():
        raise ValueError(f"{where}: images must be uint8 or float, got {images.dtype}")
    low, high = float(images.min()), float(images.max())
    if low < 0.0 or high > 1.0:
        raise ValueError(f"{where}: float images must lie in [0, 1] (the dataset readers' convention), got values in "
                         f"[{low:.3g}, {high:.3g}]; a reader of [-1, 1] images must serve them as (x + 1) / 2")
    return images.float() * 2.0 - 1.0


@dataclass
class NeighbourPool:
    """A training pool for nL2, deduplicated or not, with the facts a result records.

    ``images``: float32 [N, C, H, W] in [-1, 1] (the kept images); ``kept``: their indices in the source dataset;
    ``facts``: the dataset spec and fingerprint, sizes before and after deduplication, settings, cache path,
    sha256 and size in bytes of the cache file.
    """

    images: torch.Tensor
    kept: torch.Tensor
    k: int = DEFAULT_K
    alpha: float = DEFAULT_ALPHA
    facts: dict[str, Any] = field(default_factory=dict)

    def nearest(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """nL2 [B] and nearest index [B] (into this pool) of float images in [-1, 1] (:func:`normalized_l2`)."""
        nl2, nearest = normalized_l2(images, self.images, self.k, self.alpha)[:2]
        return nl2, nearest

    def to(self, device: Any) -> NeighbourPool:
        self.images = self.images.to(device)
        return self

    @classmethod
    def build(cls, dataset: dict[str, Any], cache_dir: str | Path, dedup: float | None = 1.0, k: int = DEFAULT_K,
              alpha: float = DEFAULT_ALPHA, image_key: str = "image", limit: int | None = None,
              log: Callable[[str], None] | None = None) -> NeighbourPool:
        """The pool of a ``bench.registry.DATASETS`` spec, read once, deduplicated with ``threshold=dedup`` (None:
        every image) and cached as ``<cache_dir>/neighbours-<Reader>-<key>.npz``; the key hashes the dataset's
        fingerprint, ``limit`` and the dedup settings, so a changed dataset or setting builds a new file."""
        from bench.config import to_plain
        from bench.registry import DATASETS

        spec = to_plain(dict(dataset))
        reader = DATASETS.build(dict(spec))
        fingerprint = reader.fingerprint()
        settings = {"dedup": None if dedup is None else float(dedup), "k": int(k), "alpha": float(alpha),
                    "image_key": image_key, "limit": limit}
        key = sha256_json({"dataset": fingerprint, **settings})[:20]
        path = Path(cache_dir) / f"neighbours-{type(reader).__name__}-{key}.npz"
        if not path.is_file():
            count = min(len(reader), limit) if limit else len(reader)
            if count == 0:
                raise ValueError(f"neighbour pool: dataset {spec} has no images")
            stored = torch.stack([torch.as_tensor(reader[i][image_key]) for i in range(count)])
            images = images_to_model_range(stored, f"neighbour pool {spec.get('type')}")
            began = time.perf_counter()
            kept = torch.arange(count) if dedup is None else deduplicate(images, float(dedup), k, alpha)
            seconds = time.perf_counter() - began
            meta = {"dataset": spec, "fingerprint": fingerprint, **settings, "size_before": count,
                    "size_after": len(kept), "dedup_seconds": round(seconds, 3),
                    "rule": "AMG scripts/data.py: drop image i when its nL2 to the current pool without it < dedup"}
            if log is not None:
                log(f"neighbour pool: {count} -> {len(kept)} images after deduplication ({seconds:.1f} s)")
            _save(path, stored[kept].numpy(), kept.numpy(), meta)
        return cls.load(path)

    @classmethod
    def load(cls, path: str | Path) -> NeighbourPool:
        """A pool file :meth:`build` wrote, with its sha256 and size recorded in ``facts``."""
        path = Path(path)
        with np.load(path, allow_pickle=False) as archive:
            stored, kept, meta = archive["images"], archive["kept"], json.loads(str(archive["meta"][()]))
        images = images_to_model_range(torch.from_numpy(stored), str(path))
        facts = {**meta, "path": str(path), "sha256": sha256_file(path), "bytes": path.stat().st_size}
        return cls(images=images, kept=torch.from_numpy(kept).long(), k=int(meta["k"]), alpha=float(meta["alpha"]),
                   facts=facts)


def _save(path: Path, images: np.ndarray, kept: np.ndarray, meta: dict[str, Any]) -> None:
    """The kept images in the dataset's own form (uint8 stays uint8), their indices and the facts, atomically."""
    import io

    buffer = io.BytesIO()
    np.savez(buffer, images=images, kept=kept.astype(np.int64), meta=np.array(json.dumps(meta, sort_keys=True)))
    atomic_write_bytes(path, buffer.getvalue())


NEIGHBOUR_KEYS = ("pool", "dedup", "k", "alpha", "image_key", "limit")


def check_neighbours_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """A ``neighbours`` spec (the generation task's, AMG's sampler's) checked and turned into
    :meth:`NeighbourPool.build` keywords: ``pool`` (a dataset spec) becomes ``dataset``."""
    spec = dict(spec)
    unknown = sorted(set(spec) - set(NEIGHBOUR_KEYS))
    if unknown or not isinstance(spec.get("pool"), dict):
        raise ValueError(f"neighbours must be dict(pool=<dataset spec>, dedup=1.0, k=50, alpha=0.5)"
                         f" (keys {', '.join(NEIGHBOUR_KEYS)}); got keys {sorted(spec)}"
                         + (f", unknown {unknown}" if unknown else ", no 'pool' dataset dict"))
    spec["dataset"] = spec.pop("pool")
    return spec


def neighbour_pool(spec: dict[str, Any], cache_dir: str | Path | None = None) -> NeighbourPool:
    """The pool of a ``neighbours`` spec, built or read from the cache (default: the results root's
    ``references/``, where the generation task keeps it too, so a sampler and the evaluation share one file)."""
    from bench.results import results_root

    return NeighbourPool.build(cache_dir=cache_dir or results_root() / "references", **check_neighbours_spec(spec))
