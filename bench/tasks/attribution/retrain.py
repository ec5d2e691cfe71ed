"""The LDS ground truth's retraining loop: train one model per missing (subset, training seed) entry of a
:class:`bench.tasks.attribution.ground_truth.RetrainedLosses` artefact and store its query losses.

The loop knows nothing of a model family: the caller's ``train_model(subset_dataset, seed, work_dir)`` trains one
model and returns ``(unet, scheduler)``; the artefact computes the losses by its manifest's protocol. It is
resumable at entry granularity: an entry is written (atomically, under the artefact's lock) as soon as its model is
trained, so a run stopped anywhere redoes only the entry in flight, whose ``work_dir`` the callable may resume from;
entries already written are never retrained, and entries another worker wrote meanwhile are skipped.
"""
from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Subset

from bench.tasks.attribution.ground_truth import RetrainedLosses

TrainModel = Callable[[Subset, int, Path], tuple[torch.nn.Module, Any]]
#: ``inputs(dataset, positions)``: the model inputs of those items (what ``diffusion_losses`` takes as ``images``)
QueryInputs = Callable[[Any, list[int]], Any]


def entry_dir(work_dir: str | Path, subset: int, seed: int) -> Path:
    """Where the model of one (subset, seed) entry is trained: ``<work_dir>/subset-<k>-seed-<s>``."""
    return Path(work_dir) / f"subset-{subset:04d}-seed-{seed}"


def query_images(artefact: RetrainedLosses, name: str, dataset: Any, image_key: str = "image",
                 inputs: QueryInputs | None = None) -> tuple[list[str], Any]:
    """``(sample_ids, images)`` of query set ``name`` in the artefact's column order (what
    :meth:`RetrainedLosses.write_model` takes): images float [Q, C, H, W] read from ``dataset[i][image_key]``, or
    ``inputs(dataset, positions)`` when given (a latent model's encoded images and captions), found by
    ``dataset.sample_id``. A query the dataset lacks is an error naming the set and the first missing ids."""
    wanted = artefact.query_ids(name)
    position = {str(dataset.sample_id(i)): i for i in range(len(dataset))}
    lacking = [sample_id for sample_id in wanted if sample_id not in position]
    if lacking:
        raise ValueError(f"{artefact.folder / 'queries' / (name + '.json')}: {len(lacking)} of the {len(wanted)} "
                         f"queries of set {name!r} are not in the dataset given for it ({type(dataset).__name__}, "
                         f"{len(dataset)} samples; first missing: {lacking[:5]}); give the dataset the artefact was "
                         "created with")
    positions = [position[sample_id] for sample_id in wanted]
    if inputs is not None:
        return wanted, inputs(dataset, positions)
    return wanted, torch.stack([torch.as_tensor(dataset[i][image_key]) for i in positions])


def retrain_subsets(artefact: RetrainedLosses, train_set: Any, query_sets: Mapping[str, Any],
                    train_model: TrainModel, work_dir: str | Path, *, subsets: Iterable[int] | None = None,
                    seeds: Iterable[int] | None = None, keep_models: bool = False, image_key: str = "image",
                    inputs: QueryInputs | None = None, progress: bool = True) -> dict[str, Any]:
    """Train and store every missing (subset, seed) entry of ``artefact``; returns a summary.

    Args:
        artefact: the folder the losses go to; its ``subsets.npy`` masks select the training samples.
        train_set: the training set the masks index (training-set order, ``len`` = the artefact's ``num_train``).
        query_sets: the dataset serving each of the artefact's query sets (every set the artefact holds).
        train_model: ``(Subset(train_set, kept positions), seed, entry folder) -> (unet, scheduler)``; it must seed
            what it draws from ``seed`` (the entry's training seed) so an entry is reproducible.
        work_dir: holds one folder per entry (:func:`entry_dir`), deleted once its losses are stored unless
            ``keep_models``.
        subsets, seeds: restrict the loop to these subsets / training seeds (default: all of the artefact's), so
            workers of a sweep can split the entries of one shared artefact.
        image_key: the key of the query datasets' items holding the image (float [C, H, W] in [0, 1]).
        inputs: ``inputs(dataset, positions)`` makes the queries' model inputs instead (computed once per query set,
            e.g. VAE latents and caption embeddings of a text-conditional latent model; see :func:`query_images`).
        progress: show a progress bar over the entries (on a terminal, :func:`bench.progress.progress`).

    Returns:
        ``{"trained": [...], "skipped": entries already present, "remaining": entries of the artefact still
        missing after this call (other workers' share)}``; each trained entry is ``{"subset", "seed", "seconds",
        "train_seconds", "loss_seconds"}``.
    """
    from bench.progress import progress as progress_bar

    masks = artefact.masks()
    if len(train_set) != masks.shape[1]:
        raise ValueError(f"retrain_subsets: the artefact's subsets ({artefact.folder / 'subsets.npy'}) cover "
                         f"{masks.shape[1]} training samples but the training set has {len(train_set)}; give the "
                         "training set the artefact was created with")
    lacking = sorted(set(artefact.query_sets) - set(query_sets))
    if lacking:
        raise ValueError(f"retrain_subsets: no dataset for query set(s) {lacking} of {artefact.folder}; give one per "
                         f"set ({', '.join(artefact.query_sets)})")
    chosen_subsets = _chosen("subsets", subsets, list(range(masks.shape[0])))
    chosen_seeds = _chosen("seeds", seeds, artefact.seeds)
    todo = _missing_entries(artefact, chosen_subsets, chosen_seeds)
    skipped = len(chosen_subsets) * len(chosen_seeds) - len(todo)
    queries = {name: query_images(artefact, name, query_sets[name], image_key, inputs)
               for name in {name for names in todo.values() for name in names}}
    trained = []
    for subset, seed in progress_bar(list(todo), desc="retrain subsets", unit="model", show=progress):
        names = _missing_entries(artefact, [subset], [seed]).get((subset, seed))
        if not names:  # another worker stored it since the loop started
            skipped += 1
            continue
        folder = entry_dir(work_dir, subset, seed)
        start = time.perf_counter()
        unet, scheduler = train_model(Subset(train_set, np.flatnonzero(masks[subset]).tolist()), seed, folder)
        trained_at = time.perf_counter()
        artefact.write_model(subset, seed, unet, scheduler, {name: queries[name] for name in names})
        done = time.perf_counter()
        trained.append({"subset": subset, "seed": seed, "seconds": round(done - start, 4),
                        "train_seconds": round(trained_at - start, 4), "loss_seconds": round(done - trained_at, 4)})
        if not keep_models:
            shutil.rmtree(folder, ignore_errors=True)
    if not keep_models and Path(work_dir).is_dir() and not any(Path(work_dir).iterdir()):
        with contextlib.suppress(OSError):  # leave no empty folder; one that filled meanwhile stays
            Path(work_dir).rmdir()
    remaining = len({(s, seed) for _, s, seed in artefact.missing()})
    return {"trained": trained, "skipped": skipped, "remaining": remaining}


def _chosen(what: str, values: Iterable[int] | None, allowed: list[int]) -> list[int]:
    """``values`` (default all of ``allowed``), checked to be distinct members of ``allowed``."""
    if values is None:
        return list(allowed)
    chosen = [int(v) for v in values]
    outside = [v for v in chosen if v not in allowed]
    if outside or len(set(chosen)) != len(chosen):
        problem = f"{outside} are not among them" if outside else "some are repeated"
        raise ValueError(f"retrain_subsets: {what} {chosen} must be distinct values among the artefact's {what} "
                         f"({_span(allowed)}); {problem}")
    return chosen


def _span(values: list[int]) -> str:
    """``0..63`` for a contiguous range, else the list."""
    contiguous = len(values) > 2 and values == list(range(values[0], values[0] + len(values)))
    return f"{values[0]}..{values[-1]}" if contiguous else str(values)


def _missing_entries(artefact: RetrainedLosses, subsets: list[int], seeds: list[int],
                     ) -> dict[tuple[int, int], list[str]]:
    """``{(subset, seed): query sets without losses}`` among the chosen entries, in subset then seed order."""
    wanted = {(s, seed) for s in subsets for seed in seeds}
    found: dict[tuple[int, int], list[str]] = {}
    for name, subset, seed in artefact.missing():
        if (subset, seed) in wanted:
            found.setdefault((subset, seed), []).append(name)
    return dict(sorted(found.items()))
