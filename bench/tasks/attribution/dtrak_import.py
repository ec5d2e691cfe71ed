"""Import the retrained-model losses of D-TRAK's LDS benchmark (its scripts' outputs, or the same files from its
released data repository) into a :class:`bench.tasks.attribution.ground_truth.RetrainedLosses` folder.

Expected layout, as D-TRAK's scripts write it (``CIFAR2/00_EDA.ipynb``, ``scripts/run_lds_val_sub.sh``,
``scripts/run_eval_lds_val_sub.sh`` → ``eval_unconditional.py``)::

    <indices>/                       data/indices/<N>-<alpha>, e.g. data/indices/5000-0.5
      idx-train.pkl                  pickled list: the training set's dataset indices, in training-set order
      idx-val.pkl                    pickled list: the validation queries' dataset indices (CIFAR-10 test split)
      lds-val/sub-idx-<k>.pkl        pickled list: the dataset indices of subset k
    <saved>/                         saved/<N>-<alpha>/lds-val
      ddpm-sub-<k>-<seed>/           the model retrained on subset k with training seed <seed>
        e-<e_seed>-val.pkl           its losses on the val queries, noise seed <e_seed>
        e-<e_seed>-gen.pkl           the same on the generated queries (saved/<N>-<alpha>/gen/<i>.png, i < 1000)

Each ``e-*.pkl`` holds a pickled list over query batches (in query order) of lists over the timesteps of float
arrays [batch]: the per-sample ε-MSE of that batch at that timestep. An entry (k, seed) of the artefact is the mean
over timesteps, then over the noise seeds; the benchmark's ground truth (the notebooks' ``loss_array / (3*3)``,
then the mean over timesteps) is the mean of those entries over the training seeds, which the LDS metric takes.
Entries whose files are all absent stay NaN (an import of a partial sweep); some noise seeds present and others
absent is an error, since a mean over fewer noise seeds is another ground truth.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.data import DatasetLayoutError
from bench.tasks.attribution.ground_truth import RetrainedLosses
from bench.tasks.attribution.subsets import read_dtrak_subsets

LAYOUT = """\
<saved>/ddpm-sub-<k>-<seed>/e-<e_seed>-<val|gen>.pkl   (D-TRAK's saved/<N>-<alpha>/lds-val)
<indices>/idx-train.pkl, lds-val/sub-idx-<k>.pkl        (D-TRAK's data/indices/<N>-<alpha>)"""
OBTAIN = ("run D-TRAK's scripts/run_lds_val_sub.sh and run_eval_lds_val_sub.sh, or copy saved/<N>-<alpha>/lds-val "
          "from its data repository")


def read_dtrak_loss_file(path: Path) -> np.ndarray:
    """float64 [T, Q]: one ``e-<e_seed>-<set>.pkl``, the per-timestep losses of every query."""
    from bench.safe_pickle import load_pickle

    def bad(problem: str) -> DatasetLayoutError:
        return DatasetLayoutError("D-TRAK retrained losses", path, problem, LAYOUT, OBTAIN)

    try:
        batches = load_pickle(path)
        per_batch = [np.asarray(batch, dtype=np.float64) for batch in batches]
    except (ValueError, TypeError) as error:
        raise bad(f"expected a pickled list over batches of lists over timesteps of float arrays ({error})") from error
    if not per_batch or any(b.ndim != 2 for b in per_batch) or len({b.shape[0] for b in per_batch}) != 1:
        raise bad("expected a pickled list over batches of equally long lists over timesteps of [batch] arrays, got "
                  f"batch shapes {[b.shape for b in per_batch][:5]}")
    return np.concatenate(per_batch, axis=1)


def import_dtrak_losses(saved: str | Path, indices: str | Path, folder: str | Path, *, train_fingerprint: str,
                        query_sets: Sequence[str] = ("val", "gen"), num_subsets: int = 64,
                        seeds: Sequence[int] = (0, 1, 2), noise_seeds: Sequence[int] = (0, 1, 2),
                        query_ids: dict[str, Sequence[Any]] | None = None, group: str = "lds-val",
                        alpha: float = 0.5) -> RetrainedLosses:
    """Build (or complete) the artefact in ``folder`` from D-TRAK's files (module docstring) and return it.

    ``train_fingerprint`` is the fingerprint of this harness's reader of the same training set (its order must be
    ``idx-train.pkl``'s). ``query_ids`` maps a query set to its sample ids in D-TRAK's query order (``idx-val.pkl``
    order; generated image ``i`` is query ``i``); without it the ids are the positions ``"0"``, ``"1"``, ..., which
    the LDS metric matches with ``match="index"``. The training config is D-TRAK's, recorded as
    ``dtrak:<group>`` instead of a hash of a harness config."""
    saved, indices = Path(saved), Path(indices)
    masks = read_dtrak_subsets(indices, group=group, count=num_subsets)
    losses: dict[tuple[int, int], dict[str, np.ndarray]] = {}
    sizes: dict[str, tuple[int, ...]] = {}  # query set -> [timesteps, queries] of its files
    for k in range(num_subsets):
        for seed in seeds:
            entry = {}
            for name in query_sets:
                paths = [saved / f"ddpm-sub-{k}-{seed}" / f"e-{e}-{name}.pkl" for e in noise_seeds]
                present = [p for p in paths if p.is_file()]
                if not present:
                    continue
                if len(present) != len(paths):
                    absent = next(p for p in paths if not p.is_file())
                    raise DatasetLayoutError("D-TRAK retrained losses", absent,
                                             f"noise seeds {list(noise_seeds)} are all needed for an entry, but only "
                                             f"{len(present)} files exist", LAYOUT, OBTAIN)
                tables = [read_dtrak_loss_file(p) for p in paths]
                shape = sizes.setdefault(name, tables[0].shape)
                if any(table.shape != shape for table in tables):
                    raise DatasetLayoutError("D-TRAK retrained losses", paths[0],
                                             f"the files of query set {name!r} disagree on [timesteps, queries]: "
                                             f"{sorted({t.shape for t in tables} | {shape})}", LAYOUT, OBTAIN)
                rows = [table.mean(axis=0) for table in tables]
                entry[name] = np.mean(rows, axis=0)
            if entry:
                losses[(k, seed)] = entry
    absent_sets = [name for name in query_sets if name not in sizes]
    if absent_sets:
        raise DatasetLayoutError("D-TRAK retrained losses", saved,
                                 f"no loss file of query set(s) {absent_sets} for any subset and seed", LAYOUT, OBTAIN)
    ids = query_ids or {}
    specs = {}
    for name in query_sets:
        names = [str(i) for i in ids.get(name, range(sizes[name][1]))]
        if len(names) != sizes[name][1]:
            raise ValueError(f"import_dtrak_losses: query_ids[{name!r}] holds {len(names)} ids but the loss files "
                             f"hold {sizes[name][1]} queries")
        specs[name] = {"sample_ids": names}
    steps = {shape[0] for shape in sizes.values()}
    if len(steps) != 1:
        raise ValueError(f"import_dtrak_losses: the query sets' files hold different numbers of timesteps "
                         f"{ {name: shape[0] for name, shape in sizes.items()} }")
    artefact = RetrainedLosses.create(
        folder, masks=masks, seeds=seeds, alpha=alpha, train_fingerprint=train_fingerprint, query_sets=specs,
        training_config_sha256=f"dtrak:{group}",
        protocol={"source": "D-TRAK eval_unconditional.py", "timesteps": steps.pop(), "batch_size": 256,
                  "noise_seeds": [int(e) for e in noise_seeds]})
    for (k, seed), entry in losses.items():
        artefact.write(k, seed, entry)
    return artefact
