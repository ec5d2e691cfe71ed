"""Random training subsets of the LDS benchmark, drawn exactly as D-TRAK draws them, and D-TRAK's index files.

D-TRAK's ``CIFAR2/00_EDA.ipynb`` (and Jinxu-Lin/DAS ``CIFAR2/00_dataset.ipynb``) draw each subset with scikit-learn's
``train_test_split(df_train, train_size=0.5, random_state=r, stratify=df_train["label"])`` on the training set's
frame, whose rows are in ``idx-train.pkl`` order. The split depends only on the number of rows, the labels and
``r``, so calling it on row positions gives the same subset; the masks here are over the training set in that
order. Subset ``k`` of a group gets ``r = 42 + count + k`` where ``count`` has already been incremented ``k`` times
in that group after the earlier groups: ``r = 42 + offset + 2k`` (``DTRAK_GROUP_SEEDS``: ``lds-val`` 42 + 2k,
``lds-test`` 298 + 2k, ``retrain`` 554 + 2k). The benchmark uses the first 64 ``lds-val`` subsets.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from bench.data import DatasetLayoutError
from bench.io import atomic_write_bytes

#: ``seed`` argument of :func:`sample_subsets` that reproduces each of D-TRAK's subset groups (and their sizes)
DTRAK_GROUP_SEEDS: dict[str, int] = {"lds-val": 42, "lds-test": 42 + 256, "retrain": 42 + 512}
DTRAK_GROUP_SIZES: dict[str, int] = {"lds-val": 256, "lds-test": 256, "retrain": 1024}
DTRAK_LAYOUT = """\
<N>-<alpha>/                 e.g. 5000-0.5 (D-TRAK's data/indices/5000-0.5)
  idx-train.pkl              list of the training set's dataset indices, in training-set order
  idx-val.pkl                list of the validation queries' dataset indices
  lds-val/sub-idx-<k>.pkl    list of the dataset indices in subset k (k = 0, 1, ...)
  lds-test/, retrain/        the other subset groups, same files"""
_OBTAIN = ("run D-TRAK's CIFAR2/00_EDA.ipynb, copy data/indices/<N>-<alpha> from its data repository, or write the "
           "files with bench.tasks.attribution.subsets.write_dtrak_subsets")


def sample_subsets(num_train: int, num_subsets: int, alpha: float = 0.5, seed: int = 42,
                   labels: Any = None) -> np.ndarray:
    """Bool masks [num_subsets, num_train]: subset ``k`` holds ``floor(alpha · num_train)`` training samples, drawn
    by ``train_test_split(range(num_train), train_size=alpha, random_state=seed + 2k, stratify=labels)``, i.e. D-TRAK's
    draw (module docstring) when ``seed`` is a :data:`DTRAK_GROUP_SEEDS` value and ``labels`` the training labels in
    training-set order (None: not stratified). The same arguments give the same masks."""
    from sklearn.model_selection import train_test_split

    if num_train < 2 or num_subsets < 1:
        raise ValueError(f"sample_subsets: need num_train >= 2 and num_subsets >= 1, got {num_train}, {num_subsets}")
    if not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"sample_subsets: alpha is the kept fraction, strictly between 0 and 1; got {alpha}")
    stratify = None
    if labels is not None:
        stratify = np.asarray(labels)
        if stratify.shape != (num_train,):
            raise ValueError(f"sample_subsets: labels must hold one label per training sample ({num_train}), got "
                             f"shape {stratify.shape}")
    positions = np.arange(num_train)
    masks = np.zeros((num_subsets, num_train), dtype=bool)
    for k in range(num_subsets):
        kept, _ = train_test_split(positions, train_size=float(alpha), random_state=seed + 2 * k, stratify=stratify)
        masks[k, kept] = True
    return masks


def subset_file(folder: str | Path, k: int, group: str = "lds-val") -> Path:
    """D-TRAK's file of subset ``k``: ``<folder>/<group>/sub-idx-<k>.pkl``."""
    return Path(folder) / group / f"sub-idx-{k}.pkl"


def write_dtrak_subsets(folder: str | Path, masks: Any, train_indices: Any, group: str = "lds-val") -> list[Path]:
    """Write ``masks`` [S, N] as D-TRAK's ``<folder>/<group>/sub-idx-<k>.pkl`` (a pickled list of the dataset indices
    ``train_indices[masks[k]]``, in training-set order: D-TRAK's lists are in the split's shuffled order, which no
    reader uses) and ``<folder>/idx-train.pkl`` (``train_indices``), each file atomically."""
    masks = np.asarray(masks, dtype=bool)
    train = [int(i) for i in np.asarray(train_indices).reshape(-1)]
    if masks.ndim != 2 or masks.shape[1] != len(train):
        raise ValueError(f"write_dtrak_subsets: masks must be [subsets, {len(train)}] (one column per training "
                         f"index), got {masks.shape}")
    folder = Path(folder)
    atomic_write_bytes(folder / "idx-train.pkl", pickle.dumps(train))
    written = []
    for k, mask in enumerate(masks):
        members = [train[i] for i in np.flatnonzero(mask)]
        written.append(atomic_write_bytes(subset_file(folder, k, group), pickle.dumps(members)))
    return written


def _index_list(path: Path) -> list[int]:
    """A pickled list of non-negative, distinct ints (restricted unpickling: no file can run code)."""
    from bench.safe_pickle import load_pickle

    def bad(problem: str) -> DatasetLayoutError:
        return DatasetLayoutError("D-TRAK subset indices", path, problem, DTRAK_LAYOUT, _OBTAIN)

    if not path.is_file():
        raise bad("file not found")
    try:
        value = load_pickle(path)
    except ValueError as error:
        raise bad(str(error)) from error
    if not isinstance(value, (list, tuple, np.ndarray)) or not all(
            isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in value):
        raise bad(f"expected a pickled list of int dataset indices, got {type(value).__name__}")
    indices = [int(i) for i in value]
    if len(set(indices)) != len(indices) or any(i < 0 for i in indices):
        raise bad("the indices must be distinct and non-negative")
    return indices


def read_dtrak_subsets(folder: str | Path, group: str = "lds-val", count: int | None = None,
                       train_indices: Any = None) -> np.ndarray:
    """Bool masks [S, N] over the training set in ``idx-train.pkl`` order (or ``train_indices``) from D-TRAK's
    ``<folder>/<group>/sub-idx-<k>.pkl`` for k = 0 .. ``count`` − 1 (None: every file from 0 up to the first
    missing one), as D-TRAK's notebooks build them (``np.in1d(idx_train, sub_idx)``).

    An index outside the training set, a missing file among the first ``count`` or an unreadable one is a
    :class:`bench.data.DatasetLayoutError` naming the file, the expected layout and where to get it."""
    folder = Path(folder)
    if train_indices is None:
        train = np.asarray(_index_list(folder / "idx-train.pkl"), dtype=np.int64)
    else:
        train = np.asarray(train_indices, dtype=np.int64).reshape(-1)
    if count is None:
        count = 0
        while subset_file(folder, count, group).is_file():
            count += 1
        if count == 0:
            raise DatasetLayoutError("D-TRAK subset indices", subset_file(folder, 0, group),
                                     "no subset files found", DTRAK_LAYOUT, _OBTAIN)
    masks = np.zeros((count, len(train)), dtype=bool)
    for k in range(count):
        path = subset_file(folder, k, group)
        members = np.asarray(_index_list(path), dtype=np.int64)
        outside = np.setdiff1d(members, train)
        if len(outside):
            raise DatasetLayoutError("D-TRAK subset indices", path,
                                     f"{len(outside)} indices are not in the training set (first: "
                                     f"{outside[:5].tolist()}); the subsets and idx-train.pkl come from different "
                                     "splits", DTRAK_LAYOUT, _OBTAIN)
        masks[k] = np.isin(train, members)
    return masks
