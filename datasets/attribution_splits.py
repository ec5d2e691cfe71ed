"""Train/val selections of the data-attribution benchmarks (D-TRAK, DAS), and their released index pickles.

D-TRAK (``sail-sg/D-TRAK``, ``*/00_EDA.ipynb``) and DAS (``Jinxu-Lin/DAS``, ``*/00_dataset.ipynb``) build every
split with one call: ``train_test_split(df, train_size=n, random_state=42, stratify=df["label"])`` on a pandas
frame whose index is the sample's position in the source (HuggingFace CIFAR-10 row, ``ArtBench-10.csv`` row,
``list_eval_partition.txt`` line), and pickle ``df_selected.index.to_list()``. The selection is returned in
sklearn's shuffled order, not sorted: the released features and LDS subsets index the selected dataset in that order,
so the readers keep it. :func:`official_selection` makes the same call on positions (checked equal to the frame
call in the tests); :func:`read_index_file` reads a released pickle instead.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.data import BenchDataset
from bench.safe_pickle import load_pickle

SPLIT_SEED = 42  # random_state of every official selection


def official_selection(candidates: np.ndarray, size: int, labels: np.ndarray | None = None,
                       random_state: int = SPLIT_SEED) -> np.ndarray:
    """``candidates`` (source positions) selected as ``train_test_split(frame, train_size=size,
    random_state=random_state, stratify=labels)`` selects the frame rows: the first returned part, in its order.

    ``size`` equal to ``len(candidates)`` keeps them all in source order (the notebooks' ``df.copy()`` branch).
    """
    from sklearn.model_selection import train_test_split

    candidates = np.asarray(candidates, dtype=np.int64)
    if not 0 < size <= len(candidates):
        raise ValueError(f"cannot select {size} samples out of {len(candidates)}: the size must be in "
                         f"1..{len(candidates)}")
    if size == len(candidates):
        return candidates.copy()
    chosen, _ = train_test_split(np.arange(len(candidates)), train_size=size, random_state=random_state,
                                 stratify=None if labels is None else np.asarray(labels))
    return candidates[np.asarray(chosen, dtype=np.int64)]


def read_index_file(reader: BenchDataset, path: str | Path, allowed: np.ndarray, what: str) -> np.ndarray:
    """The source positions pickled in ``path`` (a list of ints, as the notebooks write ``idx-*.pkl``), each one
    of ``allowed`` and none twice; a layout error naming the file otherwise. ``what`` names the positions'
    meaning for the message (e.g. "HuggingFace cifar10 train rows of classes 1 and 7")."""
    path = reader.require(path, "index file")
    with reader.reading(path, "an index pickle (a list of ints)"):
        content = load_pickle(path)
    if isinstance(content, np.ndarray):
        content = content.tolist()
    if not isinstance(content, list) or not content or not all(isinstance(v, (int, np.integer)) and
                                                               not isinstance(v, bool) for v in content):
        found = type(content).__name__ if not isinstance(content, list) else "a list that is empty or not all ints"
        raise reader.layout_error(path, f"an index file must pickle a non-empty list of ints, found {found}")
    positions = np.asarray(content, dtype=np.int64)
    outside = positions[~np.isin(positions, allowed)]
    if len(outside):
        raise reader.layout_error(path, f"{len(outside)} of {len(positions)} indices are not {what} (first "
                                        f"{int(outside[0])}): the file belongs to another dataset or split")
    unique, counts = np.unique(positions, return_counts=True)
    if (counts > 1).any():
        raise reader.layout_error(path, f"index {int(unique[counts > 1][0])} appears {int(counts.max())} times: "
                                        "an index file lists each sample once")
    return positions


def split_rows(reader: BenchDataset, split: str, candidates: np.ndarray, what: str, source: Path, *,
               index_file: Path | None, wanted: int, labels: np.ndarray | None = None) -> tuple[np.ndarray, bool]:
    """The rows ``reader`` serves for ``split``: the released ``index_file`` when given, every candidate for
    ``test``, else :func:`official_selection` of ``wanted`` candidates (stratified by ``labels`` when given; a size
    out of range is a layout error naming ``source``). The flag says whether the rows are a computed selection (the
    caller then checks it against the released head it knows)."""
    if index_file is not None:
        return read_index_file(reader, index_file, candidates, what), False
    if split == "test":
        return candidates, False
    if not 0 < wanted <= len(candidates):
        raise reader.layout_error(source, f"the {split} split selects {wanted} of the {len(candidates)} {what}")
    return official_selection(candidates, wanted, labels), True
