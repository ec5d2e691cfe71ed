"""Reference statistics that generative metrics compare against: guided-diffusion's ``VIRTUAL_*.npz`` or our own npz.

A guided-diffusion reference batch (``VIRTUAL_imagenet64_labeled.npz`` etc.) holds ``arr_0`` uint8 images and the
pool / spatial Inception statistics ``mu``, ``sigma``, ``mu_s``, ``sigma_s``. Our files hold the same statistics,
optionally the per-image ``pool`` features and ``logits`` (precision/recall and KID need the features, not just
mean and covariance), and a JSON ``meta`` (extractor, resize, source, N, date) so a score names what it used.
"""
from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.data import DatasetLayoutError
from bench.io import atomic_write_bytes, sha256_file, sha256_json
from bench.tasks.generation.exports import dataset_images_uint8

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
VIRTUAL_KEYS = ("arr_0", "mu", "sigma", "mu_s", "sigma_s")
BENCH_KEYS = ("mu", "sigma", "meta", "[mu_s, sigma_s]", "[pool]", "[logits]", "[arr_0]")
FIX = ("download VIRTUAL_imagenet64_labeled.npz (or the 128/256 one) from openai/guided-diffusion's evaluations "
       "README, or build one with `bench reference IMAGES_DIR --out FILE.npz [--extractor JSON]`")


class ReferenceStatsError(ValueError):
    """Reference statistics are unusable (missing keys, inconsistent shapes, lacking what a metric needs)."""


class ReferenceNotFoundError(FileNotFoundError):
    """The reference statistics file does not exist; the message says how to obtain one."""


class ImageSizeError(ValueError):
    """An image folder mixes image sizes; the message names the odd file."""


def _formats_help() -> str:
    return (f"expected either guided-diffusion's reference batch (keys {', '.join(VIRTUAL_KEYS)}) or a bench "
            f"reference file (keys {', '.join(BENCH_KEYS)}; [..] optional); to get one, {FIX}")


def _numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        return obj.item()
    raise TypeError(f"reference meta: object of type {type(obj).__name__} is not JSON serialisable")


def _npy_shape(path: Path, key: str) -> tuple[int, ...] | None:
    """Shape of ``key`` in an npz from its header only (a 256x256 VIRTUAL batch's images are 2 GB)."""
    with zipfile.ZipFile(path) as archive, archive.open(f"{key}.npy") as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, _, _ = np.lib.format.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, _, _ = np.lib.format.read_array_header_2_0(handle)
        else:
            return None
    return tuple(shape)


@dataclass
class ReferenceStatistics:
    """Mean and covariance of reference features (float64), optionally the features and images themselves."""

    mu: np.ndarray
    sigma: np.ndarray
    mu_s: np.ndarray | None = None
    sigma_s: np.ndarray | None = None
    pool: np.ndarray | None = None
    logits: np.ndarray | None = None
    images: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    path: str | None = None
    sha256: str | None = None
    format: str = "bench"  # "guided-diffusion" for a VIRTUAL reference batch, "bench" for ours

    def __post_init__(self) -> None:
        self.validate()

    def validate(self, where: str = "reference statistics") -> None:
        """Consistent shapes: mu [D], sigma [D, D], mu_s [S] with sigma_s [S, S], pool [M, D], images [M, H, W, C]."""
        self.mu = np.asarray(self.mu, dtype=np.float64)
        self.sigma = np.asarray(self.sigma, dtype=np.float64)
        dim = self.mu.shape[0] if self.mu.ndim == 1 else -1
        if self.mu.ndim != 1 or self.sigma.shape != (dim, dim):
            raise ReferenceStatsError(f"{where}: mu must be [D] and sigma [D, D], got mu {self.mu.shape} and "
                                      f"sigma {self.sigma.shape}")
        if (self.mu_s is None) != (self.sigma_s is None):
            raise ReferenceStatsError(f"{where}: mu_s and sigma_s come together; got only one of them")
        if self.mu_s is not None:
            self.mu_s = np.asarray(self.mu_s, dtype=np.float64)
            self.sigma_s = np.asarray(self.sigma_s, dtype=np.float64)
            dim_s = self.mu_s.shape[0] if self.mu_s.ndim == 1 else -1
            if self.mu_s.ndim != 1 or self.sigma_s.shape != (dim_s, dim_s):
                raise ReferenceStatsError(f"{where}: mu_s must be [S] and sigma_s [S, S], got mu_s {self.mu_s.shape} "
                                          f"and sigma_s {self.sigma_s.shape}")
        if self.pool is not None:
            self.pool = _numpy(self.pool)
            if self.pool.ndim != 2 or self.pool.shape[1] != dim:
                raise ReferenceStatsError(f"{where}: pool features must be [M, {dim}] (mu has {dim} dims), got "
                                          f"{self.pool.shape}")
        if self.logits is not None:
            self.logits = _numpy(self.logits)
            if self.logits.ndim != 2:
                raise ReferenceStatsError(f"{where}: logits must be [M, K], got {self.logits.shape}")
        if self.images is not None:
            self.images = _numpy(self.images)
            if self.images.ndim != 4 or self.images.dtype != np.uint8:
                raise ReferenceStatsError(f"{where}: images must be uint8 [M, H, W, C], got {self.images.dtype} "
                                          f"{self.images.shape}")

    @property
    def num_samples(self) -> int | None:
        """M, the number of reference images: from the stored features, else the images, else ``meta``."""
        if self.pool is not None:
            return int(self.pool.shape[0])
        if self.images is not None:
            return int(self.images.shape[0])
        count = self.meta.get("num_samples")
        return int(count) if count is not None else None

    @property
    def feature_dim(self) -> int:
        return int(self.mu.shape[0])

    @classmethod
    def load(cls, path: str | os.PathLike, *, load_images: bool = True) -> ReferenceStatistics:
        """Read a VIRTUAL npz or ours (``allow_pickle=False``), recording the path and the file's sha256.

        ``load_images=False`` skips ``arr_0`` (FID needs only the statistics; a 256x256 batch's images are 2 GB).
        """
        path = Path(path)
        if not path.is_file():
            raise ReferenceNotFoundError(f"reference statistics file {path} does not exist "
                                         f"({'a folder' if path.is_dir() else 'no such file'}); {_formats_help()}")
        try:
            archive = np.load(path, allow_pickle=False)
        except (OSError, ValueError, zipfile.BadZipFile) as error:
            raise ReferenceStatsError(f"{path} is not a readable npz file ({error}); {_formats_help()}") from error
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ReferenceStatsError(f"{path} holds a single array, not an npz archive; {_formats_help()}")
        with archive:
            keys = sorted(archive.files)
            missing = [k for k in ("mu", "sigma") if k not in keys]
            if missing:
                hint = (" (an npz with only arr_0 is a batch of images, e.g. guided-diffusion samples: build "
                        "statistics from it first)" if "arr_0" in keys else "")
                raise ReferenceStatsError(f"{path}: missing key(s) {missing}; found {keys}{hint}; {_formats_help()}")
            try:
                arrays = {k: archive[k] for k in keys if k != "arr_0" or load_images}
            except ValueError as error:  # object arrays need pickle, which we refuse
                raise ReferenceStatsError(f"{path}: cannot read without pickle ({error}); {_formats_help()}") from error
        is_bench = "meta" in arrays
        meta: dict[str, Any] = {}
        if is_bench:
            try:
                meta = json.loads(str(arrays["meta"][()]))
            except (json.JSONDecodeError, IndexError) as error:
                raise ReferenceStatsError(f"{path}: 'meta' is not a JSON string ({error})") from error
        elif "arr_0" in keys and not load_images:
            shape = _npy_shape(path, "arr_0")
            if shape:
                meta = {"num_samples": shape[0], "image_shape": list(shape[1:])}
        elif "arr_0" in arrays:
            meta = {"num_samples": int(arrays["arr_0"].shape[0]), "image_shape": list(arrays["arr_0"].shape[1:])}
        stats = cls(mu=arrays["mu"], sigma=arrays["sigma"], mu_s=arrays.get("mu_s"), sigma_s=arrays.get("sigma_s"),
                    pool=arrays.get("pool") if is_bench else None, logits=arrays.get("logits") if is_bench else None,
                    images=arrays.get("arr_0"), meta=meta, path=str(path), sha256=sha256_file(path),
                    format="bench" if is_bench else "guided-diffusion")
        return stats

    @classmethod
    def from_features(cls, features: Mapping[str, np.ndarray | torch.Tensor],
                      meta: dict[str, Any] | None = None) -> ReferenceStatistics:
        """Statistics of per-image features ``{"pool": [M, D], "logits"?: [M, K], "spatial"?: [M, S]}``.

        mu/sigma (and mu_s/sigma_s from ``spatial``) come from :func:`bench.metrics.generation.feature_statistics`;
        ``pool`` and ``logits`` are kept, the spatial features are not (only sFID uses them, through mu_s/sigma_s).
        """
        from bench.metrics.generation import feature_statistics

        if "pool" not in features:
            raise ReferenceStatsError(f"reference features need 'pool'; got {sorted(features)}")
        pool = _numpy(features["pool"])
        mu, sigma = feature_statistics(pool)
        mu_s = sigma_s = None
        if features.get("spatial") is not None:
            mu_s, sigma_s = feature_statistics(features["spatial"])
        logits = _numpy(features["logits"]) if features.get("logits") is not None else None
        meta = dict(meta or {})
        meta.setdefault("num_samples", int(pool.shape[0]))
        return cls(mu=mu, sigma=sigma, mu_s=mu_s, sigma_s=sigma_s, pool=pool, logits=logits, meta=meta)

    def save(self, path: str | os.PathLike, *, include_images: bool = False) -> Path:
        """Write our npz format atomically (``images`` as ``arr_0`` only if asked); sets ``path`` and ``sha256``."""
        arrays: dict[str, Any] = {"mu": self.mu, "sigma": self.sigma,
                                  "meta": np.array(json.dumps(self.meta, sort_keys=True,
                                                              default=_json_default))}
        for name in ("mu_s", "sigma_s", "pool", "logits"):
            if getattr(self, name) is not None:
                arrays[name] = getattr(self, name)
        if include_images:
            if self.images is None:
                raise ReferenceStatsError("save(include_images=True): these statistics hold no images")
            arrays["arr_0"] = self.images
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        written = atomic_write_bytes(path, buffer.getvalue())
        self.path, self.sha256 = str(written), sha256_file(written)
        return written


def build_reference(batches: Iterable[torch.Tensor],
                    extractor: Callable[[torch.Tensor], Mapping[str, torch.Tensor]],
                    meta: dict[str, Any] | None = None) -> ReferenceStatistics:
    """Run uint8 image batches [B, H, W, C] through ``extractor`` and keep the statistics of the features."""
    collected: dict[str, list[np.ndarray]] = {}
    with torch.no_grad():
        for batch in batches:
            features = extractor(batch)
            if "pool" not in features:
                raise ReferenceStatsError(f"the extractor returned {sorted(features)}; a reference needs 'pool'")
            for name, value in features.items():
                if value is not None:
                    collected.setdefault(name, []).append(_numpy(value))
    if not collected:
        raise ReferenceStatsError("build_reference: no image batches (is the image source empty?)")
    joined = {name: np.concatenate(parts, axis=0) for name, parts in collected.items()}
    meta = dict(meta or {})
    meta["num_samples"] = int(joined["pool"].shape[0])
    return ReferenceStatistics.from_features(joined, meta)


def _folder_error(folder: Path, problem: str) -> DatasetLayoutError:
    return DatasetLayoutError(
        "reference image folder", folder, problem,
        f"{folder.name or folder}/\n  **/*.png | *.jpg | *.jpeg | *.webp | *.bmp   (any nesting, all one size)",
        "point at a folder of images (e.g. the dataset's train or val images, center-cropped and resized to the "
        "generation resolution)")


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Every image file (.png/.jpg/.jpeg/.webp/.bmp, any case) under ``folder``, sorted by relative path; hidden
    entries (``._x.png`` AppleDouble files, ``.ipynb_checkpoints``) are not images of the set."""
    from bench.data import visible

    folder = Path(folder)
    if not folder.is_dir():
        raise _folder_error(folder, "the folder does not exist" if not folder.exists() else "not a folder")
    found = [p for p in visible(folder.rglob("*"), folder) if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    if not found:
        raise _folder_error(folder, f"no images ({'/'.join(IMAGE_SUFFIXES)}) found in the folder or below it")
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def center_crop(image: Any, size: int) -> np.ndarray:
    """ADM's ``center_crop_arr``: halve with a box filter while the short side is at least ``2 * size``, resize the
    short side to ``size`` (bicubic), then cut the central ``size`` x ``size`` square; uint8 RGB [size, size, 3]."""
    from PIL import Image

    image = image.convert("RGB")
    while min(*image.size) >= 2 * size:
        image = image.resize(tuple(x // 2 for x in image.size), resample=Image.Resampling.BOX)
    scale = size / min(*image.size)
    image = image.resize(tuple(round(x * scale) for x in image.size), resample=Image.Resampling.BICUBIC)
    array = np.asarray(image, dtype=np.uint8)
    top, left = (array.shape[0] - size) // 2, (array.shape[1] - size) // 2
    return array[top:top + size, left:left + size]


def image_folder_batches(folder: str | os.PathLike, batch_size: int = 64,
                         crop_size: int | None = None) -> Iterator[torch.Tensor]:
    """uint8 RGB batches [B, H, W, 3] of :func:`list_images`. Without ``crop_size`` every size is checked (from
    headers) before any decoding, so a mixed folder fails at once rather than after hours of feature extraction;
    with it every image is :func:`center_crop`-ped to ``crop_size`` (a COCO-style folder of mixed sizes)."""
    from PIL import Image

    paths = list_images(folder)
    expected: tuple[int, int] | None = None
    for path in paths if crop_size is None else ():
        with Image.open(path) as image:
            size = image.size
        if expected is None:
            expected = size
        elif size != expected:
            raise ImageSizeError(
                f"{path} is {size[0]}x{size[1]} (WxH) but {paths[0]} and the images before it are "
                f"{expected[0]}x{expected[1]}; resize or center-crop every image to one size first (the reference "
                "must be preprocessed like the generated images), e.g. `bench reference --center-crop SIZE`")

    def batches() -> Iterator[torch.Tensor]:
        for start in range(0, len(paths), batch_size):
            arrays = []
            for path in paths[start:start + batch_size]:
                with Image.open(path) as image:
                    arrays.append(center_crop(image, crop_size) if crop_size is not None
                                  else np.asarray(image.convert("RGB"), dtype=np.uint8))
            yield torch.from_numpy(np.stack(arrays))

    return batches()


def _dataset_batches(dataset: Any, image_key: str, batch_size: int, limit: int | None) -> Iterator[torch.Tensor]:
    count = min(len(dataset), limit) if limit else len(dataset)
    for start in range(0, count, batch_size):
        batch = torch.stack([dataset[i][image_key] for i in range(start, min(start + batch_size, count))])
        yield dataset_images_uint8(batch)


def resolve_reference(spec: str | Path | dict[str, Any], extractor: Any, cache_dir: Path, *, need_features: bool,
                      batch_size: int = 256) -> tuple[ReferenceStatistics, dict[str, Any]]:
    """The reference statistics a run is scored against, and how they were obtained (for ``results.json``).

    ``spec`` is a statistics file (a guided-diffusion ``VIRTUAL_*.npz`` or one ``bench reference IMAGES --out FILE``
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
                batches: Iterator[torch.Tensor] = (images[i:i + batch_size] for i in range(0, len(images), batch_size))
                features = build_reference(batches, extractor, {"extractor": extractor_facts,
                                                                "source": str(spec), "source_sha256": reference.sha256})
                features.save(cached)
            reference.pool, reference.logits = features.pool, features.logits
            facts["features_cache"] = str(cached)
        _check_extractor(reference, extractor_facts, str(spec))
        return reference, facts
    from bench.config import to_plain
    from bench.registry import DATASETS

    source: dict[str, Any] = to_plain(dict(spec))
    dataset = DATASETS.build(dict(source["dataset"]))
    limit = source.get("limit")
    fingerprint = dataset.fingerprint()  # hashes every image of some readers: once
    key = sha256_json({"dataset": fingerprint, "limit": limit, "extractor": identity})[:20]
    path = cache_dir / f"{type(dataset).__name__}-{key}.npz"
    if not path.is_file():
        batches = _dataset_batches(dataset, source.get("image_key", "image"), batch_size, limit)
        meta = {"extractor": extractor_facts, "source": {"dataset": source["dataset"], "limit": limit,
                                                         "fingerprint": fingerprint}}
        build_reference(batches, extractor, meta).save(path)
    reference = ReferenceStatistics.load(path)
    return reference, {"path": str(path), "sha256": reference.sha256, "format": reference.format,
                       "num_samples": reference.num_samples, "built_from": source["dataset"]}


def _check_extractor(reference: ReferenceStatistics, extractor_facts: dict[str, Any], where: str) -> None:
    """A reference we built records its extractor's weights; scoring against it with other weights is refused."""
    recorded = (reference.meta or {}).get("extractor", {}).get("weights_sha256")
    current = extractor_facts.get("weights_sha256")
    if recorded and current and recorded != current:
        raise ValueError(f"{where}: the reference statistics were built with extractor weights {recorded[:12]}..., "
                         f"but this run's extractor has {current[:12]}...; rebuild the reference with `bench reference "
                         "IMAGES_DIR --out FILE.npz` and this extractor, or point the task at the matching weights")
