"""Counterfactual evaluation of attributions (DAS paper §6, after D-TRAK): per generated query, retrain the model
WITHOUT the query's top-k attributed training samples, regenerate with the same noise seed and sampler, and measure
how far the image moved (pixel L2); a method whose top-k matters more moves it further. As the control the paper
lacks, the same retraining without k RANDOM training samples (seeded per query, the seed recorded).

The :class:`CounterfactualEdits` artefact is a folder like :class:`~bench.tasks.attribution.ground_truth.
RetrainedLosses`: ``manifest.json`` (written last), ``originals.npy`` (the queries' images from the full model),
``removals.npz`` (per removal kind, the [Q, k] training positions removed) and one ``entries/<kind>/<q>.npy`` per
(removal kind, query): the regenerated image, written atomically under the folder's lock as soon as its model is
trained, so a stopped run redoes only the entry in flight. Images are floats [C, H, W] in [0, 1]; the L2 is the
Euclidean norm of the difference over all pixels and channels at that scale. :meth:`CounterfactualEdits.similarity`
gives the paper's second measure, the cosine of the two images' embeddings (CLIP, or any image embedder).

The loop knows no model family: the caller's ``train_model(subset, seed, work_dir) -> (model, scheduler)`` (what
:func:`~bench.tasks.attribution.retrain.retrain_subsets` takes) trains, and ``generate(model, scheduler, seed)``
samples one image with the project's sampler.
"""
from __future__ import annotations

import contextlib
import json
import re
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Subset

from bench.io import atomic_write_json, atomic_writer, sha256_json
from bench.store import StoreError
from bench.tasks.attribution.ground_truth import read_manifest
from bench.tasks.attribution.retrain import TrainModel

FORMAT = "bench-counterfactual-edits"
VERSION = 1
MANIFEST = "manifest.json"
RANDOM_KIND = "random"
Generate = Callable[[torch.nn.Module, Any, int], torch.Tensor]
Embed = Callable[[np.ndarray], Any]  # float images [B, C, H, W] in [0, 1] -> embeddings [B, D]
_LAYOUT = ("a counterfactual-edits folder holds manifest.json, originals.npy, removals.npz and entries/<kind>/"
           "<query>.npy (bench.tasks.attribution.counterfactual)")


def top_k_removals(scores: Any, k: int) -> np.ndarray:
    """Per query (row of ``scores`` [Q, N]), the positions of its ``k`` highest-scored training samples [Q, k], best
    first; equal scores are taken in ascending position (deterministic ties)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(f"top_k_removals: scores must be [queries, train], got shape {list(scores.shape)}")
    _check_k(k, scores.shape[1], "top_k_removals")
    return rank_top_k(scores, k, "top_k_removals")


def rank_top_k(scores: Any, k: int, where: str = "rank_top_k") -> np.ndarray:
    """Per row of ``scores`` [Q, N], the positions of its ``k`` (1..N) highest values [Q, k] int64, highest first,
    equal values in ascending position; a NaN / inf is a ValueError naming ``where`` (a NaN has no rank)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or not 0 < int(k) <= scores.shape[1]:
        raise ValueError(f"{where}: expected scores [queries, train] and k in 1..train, got shape "
                         f"{list(scores.shape)} and k = {k}")
    if not np.isfinite(scores).all():
        rows = sorted({int(q) for q in np.argwhere(~np.isfinite(scores))[:, 0]})
        raise ValueError(f"{where}: scores of queries {rows[:5]} are not finite; a NaN has no rank, fix the "
                         "attribution run")
    position = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
    order = np.lexsort((position, -scores), axis=1)  # last key first: descending score, then ascending position
    return order[:, :int(k)].astype(np.int64)


def random_removals(num_queries: int, num_train: int, k: int, seed: int) -> np.ndarray:
    """The control: per query ``q``, ``k`` distinct training positions drawn uniformly by ``default_rng([seed, q])``
    [Q, k], sorted (the same draw for query q whatever the number of queries)."""
    _check_k(k, num_train, "random_removals")
    return np.stack([np.sort(np.random.default_rng([int(seed), q]).choice(num_train, size=k, replace=False))
                     for q in range(num_queries)]).astype(np.int64)


def _check_k(k: int, num_train: int, where: str) -> None:
    if not 0 < int(k) < num_train:
        raise ValueError(f"{where}: k must be in 1..{num_train - 1} (the training set has {num_train} samples), got "
                         f"{k}")


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """A sampler's output (≈ [−1, 1]) as floats in [0, 1], clamped as an exported image is."""
    return ((images.detach().float().cpu() + 1) / 2).clamp(0, 1)


class CounterfactualEdits:
    """The regenerated images of models retrained without each query's removal set (module docstring):
    :meth:`create` or :meth:`open` a folder, :meth:`write` one entry, :meth:`l2` and :meth:`similarity` once
    complete."""

    def __init__(self, folder: Path, manifest: dict[str, Any]) -> None:
        self.folder, self.manifest = folder, manifest

    @classmethod
    def create(cls, folder: str | Path, *, originals: Any, query_ids: Sequence[str], query_seeds: Sequence[int],
               removals: Mapping[str, Any], num_train: int, train_fingerprint: str, training_config_sha256: str,
               random_seed: int | None = None, train_seed: int = 0) -> CounterfactualEdits:
        """A new artefact, or the one in ``folder`` when its manifest is the same (a resume); another setting there
        is a :class:`bench.store.StoreError` naming what differs. Removal kinds the folder lacks are added to it
        (the configs of several attribution methods share one artefact, so the random control is trained once).

        ``originals``: the queries' images from the full model, float [Q, C, H, W] in [0, 1]; ``removals``: kind
        (``das1``, ``random``, a plain name) -> [Q, k] training positions; ``random_seed``: the seed of the
        ``random`` kind's draw (:func:`random_removals`), required with it; ``train_seed``: every retraining's seed
        (the full model's, so removing data is the only change)."""
        folder = Path(folder)
        originals = np.asarray(originals, dtype=np.float32)
        ids, seeds = [str(i) for i in query_ids], [int(s) for s in query_seeds]
        if originals.ndim != 4 or not (len(originals) == len(ids) == len(seeds)) or len(set(ids)) != len(ids):
            raise ValueError(f"CounterfactualEdits.create: originals [Q, C, H, W] ({list(originals.shape)}), "
                             f"{len(ids)} distinct query ids and {len(seeds)} seeds must agree on Q")
        arrays: dict[str, Any] = {}  # np.savez keywords
        for kind, rows in removals.items():
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", kind) or kind.startswith("."):
                raise ValueError(f"CounterfactualEdits.create: removal kind {kind!r} must be a plain file name")
            rows = np.asarray(rows, dtype=np.int64)
            if rows.ndim != 2 or len(rows) != len(ids) or rows.min(initial=0) < 0 or rows.max(initial=0) >= num_train:
                raise ValueError(f"CounterfactualEdits.create: removals[{kind!r}] must be [{len(ids)}, k] positions in "
                                 f"0..{num_train - 1}, got shape {list(rows.shape)}")
            arrays[kind] = rows
        if not arrays:
            raise ValueError("CounterfactualEdits.create: give at least one removal kind")
        if RANDOM_KIND in arrays and random_seed is None:
            raise ValueError("CounterfactualEdits.create: the 'random' removals need their random_seed recorded")
        manifest = {"format": FORMAT, "version": VERSION, "num_train": int(num_train), "query_ids": ids,
                    "query_seeds": seeds, "kinds": {kind: {"k": int(rows.shape[1]), "sha256": sha256_json(
                        rows.tolist())} for kind, rows in arrays.items()},
                    "random_seed": None if random_seed is None else int(random_seed), "train_seed": int(train_seed),
                    "originals_sha256": sha256_json(originals.round(6).tolist()),
                    "image_shape": list(originals.shape[1:]), "train_fingerprint": str(train_fingerprint),
                    "training_config_sha256": str(training_config_sha256)}
        manifest = json.loads(json.dumps(manifest))
        from bench.runlock import run_lock

        with run_lock(folder, what="counterfactual writer", wait=True):
            if (folder / MANIFEST).is_file():
                existing = cls.open(folder)
                differing = sorted(key for key in set(manifest) | set(existing.manifest) if key != "kinds"
                                   and existing.manifest.get(key) != manifest.get(key))
                differing += sorted(f"kinds.{kind}" for kind in manifest["kinds"] if kind in existing.manifest["kinds"]
                                    and existing.manifest["kinds"][kind] != manifest["kinds"][kind])
                if differing:
                    raise StoreError(f"{folder / MANIFEST}: the folder holds counterfactual edits of another setting "
                                     f"(different {', '.join(differing)}); use another folder, or delete this one to "
                                     "start afresh (its retrained images are then lost)")
                added = [kind for kind in manifest["kinds"] if kind not in existing.manifest["kinds"]]
                if not added:
                    return existing
                # another method's queries, same models and control: add its removal sets beside the stored ones
                arrays = {**{kind: existing.removals(kind) for kind in existing.kinds},
                          **{kind: arrays[kind] for kind in added}}
                manifest["kinds"] = {**existing.manifest["kinds"], **{kind: manifest["kinds"][kind] for kind in added}}
            else:
                with atomic_writer(folder / "originals.npy") as handle:
                    np.save(handle, originals)
            with atomic_writer(folder / "removals.npz") as handle:
                np.savez(handle, **arrays)
            atomic_write_json(folder / MANIFEST, manifest)  # last: a folder without it is not an artefact
        return cls(folder, manifest)

    @classmethod
    def open(cls, folder: str | Path) -> CounterfactualEdits:
        """The artefact in ``folder``; FileNotFoundError or StoreError naming the file and the fix."""
        folder = Path(folder)
        return cls(folder, read_manifest(folder / MANIFEST, FORMAT, VERSION, "counterfactual-edits", _LAYOUT,
                                         "re-create the artefact with this bench"))

    # -- reading -----------------------------------------------------------------------------------------------
    @property
    def kinds(self) -> list[str]:
        return list(self.manifest["kinds"])

    @property
    def query_ids(self) -> list[str]:
        return list(self.manifest["query_ids"])

    def _entry(self, kind: str, query: int) -> Path:
        return self.folder / "entries" / kind / f"{query:04d}.npy"

    def _load(self, path: Path) -> np.ndarray:
        from bench.safe_pickle import load_npy

        if not path.is_file():
            raise FileNotFoundError(f"{path}: not found, the counterfactual folder is incomplete; {_LAYOUT}")
        array = load_npy(path, allow_object=False)
        if list(array.shape)[-3:] != self.manifest["image_shape"] or array.dtype != np.float32:
            raise StoreError(f"{path}: expected float32 images {self.manifest['image_shape']} (from {MANIFEST}), "
                             f"found {array.dtype} {list(array.shape)}; restore it or re-create the artefact")
        return array

    def originals(self) -> np.ndarray:
        """The queries' images from the full model, float32 [Q, C, H, W] in [0, 1]."""
        return self._load(self.folder / "originals.npy")

    def removals(self, kind: str) -> np.ndarray:
        """The [Q, k] training positions removed for ``kind``."""
        if kind not in self.manifest["kinds"]:
            raise ValueError(f"{self.folder / MANIFEST}: no removal kind {kind!r}; it holds {', '.join(self.kinds)}")
        path = self.folder / "removals.npz"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not found, the counterfactual folder is incomplete; {_LAYOUT}")
        with np.load(path, allow_pickle=False) as stored:
            rows = np.asarray(stored[kind])
        if rows.shape != (len(self.query_ids), self.manifest["kinds"][kind]["k"]):
            raise StoreError(f"{path}: removals[{kind!r}] has shape {list(rows.shape)}, not the manifest's "
                             f"[{len(self.query_ids)}, {self.manifest['kinds'][kind]['k']}]; re-create the artefact")
        return rows

    def missing(self) -> list[tuple[str, int]]:
        """The (kind, query) entries without a regenerated image, kind then query order."""
        return [(kind, q) for kind in self.kinds for q in range(len(self.query_ids))
                if not self._entry(kind, q).is_file()]

    def write(self, kind: str, query: int, image: Any) -> None:
        """Store the regenerated image (float [C, H, W] in [0, 1]) of one entry, atomically under the lock."""
        from bench.runlock import run_lock

        image = np.asarray(image, dtype=np.float32)
        if list(image.shape) != self.manifest["image_shape"] or not np.isfinite(image).all():
            raise ValueError(f"CounterfactualEdits.write: entry ({kind}, {query}) must be a finite image "
                             f"{self.manifest['image_shape']}, got {list(image.shape)}")
        if kind not in self.manifest["kinds"] or not 0 <= query < len(self.query_ids):
            raise ValueError(f"CounterfactualEdits.write: no entry ({kind!r}, {query}) in {self.folder}")
        with run_lock(self.folder, what="counterfactual writer", wait=True):
            with atomic_writer(self._entry(kind, query)) as handle:
                np.save(handle, image)

    def images(self, kind: str) -> np.ndarray:
        """The regenerated images of ``kind`` [Q, C, H, W]; an incomplete kind is a StoreError naming its gaps."""
        gaps = [q for k, q in self.missing() if k == kind]
        if kind not in self.manifest["kinds"] or gaps:
            raise StoreError(f"{self.folder}: removal kind {kind!r} is not complete (missing queries {gaps[:10]}); "
                             "run the retraining (it resumes) before scoring")
        return np.stack([self._load(self._entry(kind, q)) for q in range(len(self.query_ids))])

    def l2(self, kind: str) -> np.ndarray:
        """Per query, ‖regenerated − original‖₂ over all pixels in [0, 1] [Q]."""
        diff = self.images(kind).astype(np.float64) - self.originals().astype(np.float64)
        return np.sqrt((diff.reshape(len(diff), -1) ** 2).sum(axis=1))

    def similarity(self, kind: str, embed: Embed) -> np.ndarray:
        """Per query, the cosine of the embeddings of the regenerated and of the original image [Q] (float64; 1 =
        the same embedding; the DAS paper's CLIP similarity, lower = the removal changed the image more).

        Args:
            kind: the removal kind.
            embed: float images [B, C, H, W] in [0, 1] -> embeddings [B, D] (e.g. an image extractor's ``pool``);
                normalised here, so an unnormalised embedder gives the same cosine.
        """
        regenerated, originals = self.images(kind), self.originals()
        pairs = [torch.as_tensor(embed(images)).detach().double().cpu() for images in (regenerated, originals)]
        if any(p.ndim != 2 or p.shape[0] != len(originals) for p in pairs) or pairs[0].shape != pairs[1].shape:
            raise ValueError(f"CounterfactualEdits.similarity: the embedder must map {len(originals)} images to "
                             f"[{len(originals)}, D] embeddings, got {[list(p.shape) for p in pairs]}")
        first, second = (torch.nn.functional.normalize(p, dim=-1) for p in pairs)
        return (first * second).sum(dim=-1).numpy()


def retrain_without(artefact: CounterfactualEdits, train_set: Any, train_model: TrainModel, generate: Generate,
                    work_dir: str | Path, *, kinds: Iterable[str] | None = None, keep_models: bool = False,
                    progress: bool = True) -> dict[str, Any]:
    """Train and regenerate every missing entry of ``artefact`` (of ``kinds``, default all); returns
    ``{"trained": [{"kind", "query", "seconds", "train_seconds"}], "skipped", "remaining"}``.

    Args:
        train_set: the training set the removal positions index (``len`` = the manifest's ``num_train``).
        train_model: ``(Subset(train_set, kept positions), seed, entry folder) -> (model, scheduler)``, seeded by
            ``seed`` (the manifest's ``train_seed``) so the removal is the only change from the full model.
        generate: ``(model, scheduler, noise seed) -> image`` float [C, H, W] in [0, 1], the sampler the originals
            came from.
        work_dir: one folder per entry (``<kind>-<query>``), deleted once its image is stored unless ``keep_models``.
    """
    from bench.progress import progress as progress_bar

    num_train = artefact.manifest["num_train"]
    if len(train_set) != num_train:
        raise ValueError(f"retrain_without: {artefact.folder / MANIFEST} removes positions of {num_train} training "
                         f"samples but the training set has {len(train_set)}; give the training set it was made for")
    chosen = artefact.kinds if kinds is None else [str(k) for k in kinds]
    unknown = [k for k in chosen if k not in artefact.kinds]
    if unknown:
        raise ValueError(f"retrain_without: kinds {unknown} are not in {artefact.folder} ({artefact.kinds})")
    todo = [(kind, q) for kind, q in artefact.missing() if kind in chosen]
    skipped = len(chosen) * len(artefact.query_ids) - len(todo)
    seeds, train_seed = artefact.manifest["query_seeds"], artefact.manifest["train_seed"]
    trained = []
    for kind, query in progress_bar(todo, desc="counterfactual retraining", unit="model", show=progress):
        if (kind, query) not in artefact.missing():  # another worker stored it meanwhile
            skipped += 1
            continue
        keep = np.setdiff1d(np.arange(num_train), artefact.removals(kind)[query])
        folder = Path(work_dir) / f"{kind}-{query:04d}"
        start = time.perf_counter()
        model, scheduler = train_model(Subset(train_set, keep.tolist()), train_seed, folder)
        trained_at = time.perf_counter()
        artefact.write(kind, query, torch.as_tensor(generate(model, scheduler, int(seeds[query]))).cpu().numpy())
        trained.append({"kind": kind, "query": query, "seconds": round(time.perf_counter() - start, 4),
                        "train_seconds": round(trained_at - start, 4)})
        if not keep_models:
            shutil.rmtree(folder, ignore_errors=True)
    if not keep_models and Path(work_dir).is_dir() and not any(Path(work_dir).iterdir()):
        with contextlib.suppress(OSError):
            Path(work_dir).rmdir()
    return {"trained": trained, "skipped": skipped, "remaining": len(artefact.missing())}
