"""The linear datamodeling score (LDS; Park et al. 2023, TRAK): how well attribution scores, summed over a training
subset, rank the losses of models retrained on many subsets, per query.

Protocol of D-TRAK's LDS benchmark (``sail-sg/D-TRAK`` ``methods/04_if/01_IF_*.ipynb``; Jinxu-Lin/DAS
``07_score.py`` does the same): the prediction for subset ``s`` and query ``q`` is ``masks[s] · (−scores[q])`` and the
ground truth is the retrained models' diffusion loss of ``q``. The sign flip is the benchmark's convention: a
positive score means the training sample *supports* the query, and support lowers the query's loss, so the summed
negated scores should rise with the loss. LDS of one query is the Spearman ρ across subsets (average ranks for
ties, as ``scipy.stats.spearmanr``); the benchmark's number is the mean over queries.

A query whose predictions or losses are constant across subsets has no ρ: it is NaN here (scipy's answer too) and
is counted by :func:`lds_summary`, never taken as 0; the mean is over the other queries (the notebooks' ``np.mean``
would make the whole score NaN).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np


def _as_2d(name: str, value: Any) -> np.ndarray:
    array = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value)
    if array.ndim != 2:
        raise ValueError(f"linear_datamodel_score: {name} must be 2-D, got shape {array.shape}")
    return array


def linear_datamodel_score(scores: Any, masks: Any, outputs: Any) -> np.ndarray:
    """Per-query Spearman ρ (float64 [Q]) between ``masks @ (−scores).T`` and ``outputs``.

    Args:
        scores: [Q, N] attribution score of each training sample for each query (positive: supports the query).
        masks: [S, N] bool (or 0/1): which training samples subset ``s`` holds.
        outputs: [S, Q] model output of each subset's retrained model(s) on each query (the diffusion loss,
            lower is better).

    ρ of a query is NaN when its predictions or its outputs do not vary across subsets. Non-finite scores or
    outputs are an error naming the queries, not a NaN that a mean would hide.
    """
    scores, masks, outputs = _as_2d("scores", scores), _as_2d("masks", masks), _as_2d("outputs", outputs)
    (q, n), (s, n_masks) = scores.shape, masks.shape
    if n_masks != n:
        raise ValueError(f"linear_datamodel_score: scores cover {n} training samples but the masks {n_masks}")
    if outputs.shape != (s, q):
        raise ValueError(f"linear_datamodel_score: outputs must be [subsets, queries] = [{s}, {q}], got "
                         f"{list(outputs.shape)}")
    if s < 2:
        raise ValueError(f"linear_datamodel_score: a rank correlation needs at least 2 subsets, got {s}")
    if masks.dtype != bool and not np.isin(masks, (0, 1)).all():
        raise ValueError("linear_datamodel_score: masks must be bool or 0/1")
    for name, array, axis in (("scores", scores, 1), ("outputs", outputs, 0)):
        bad = ~np.isfinite(array).all(axis=axis)
        if bad.any():
            raise ValueError(f"linear_datamodel_score: {name} hold NaN or Inf for {int(bad.sum())} queries "
                             f"(first: {np.flatnonzero(bad)[:10].tolist()})")
    predictions = masks.astype(np.float64) @ (-scores.astype(np.float64)).T  # [S, Q]
    return columnwise_spearman(predictions, outputs.astype(np.float64))


def columnwise_spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman ρ of each column pair of ``a`` and ``b`` ([S, Q] each): the Pearson correlation of their average
    ranks, NaN for a column pair in which either side is constant."""
    from scipy.stats import rankdata

    ranks_a = rankdata(a, method="average", axis=0)
    ranks_b = rankdata(b, method="average", axis=0)
    ranks_a -= ranks_a.mean(axis=0)
    ranks_b -= ranks_b.mean(axis=0)
    denominator = np.sqrt((ranks_a ** 2).sum(axis=0) * (ranks_b ** 2).sum(axis=0))
    numerator = (ranks_a * ranks_b).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), np.nan)
    return np.clip(rho, -1.0, 1.0)


def lds_summary(rho: np.ndarray, scale: float = 100.0) -> dict[str, float]:
    """``LDS`` (mean ρ over the queries that have one, × ``scale``: papers report %), ``LDS_stderr`` (its standard
    error, same unit; NaN with fewer than 2 such queries) and ``LDS_nan_queries`` (how many queries had no ρ)."""
    rho = np.asarray(rho, dtype=np.float64)
    finite = rho[np.isfinite(rho)]
    count = len(finite)
    mean = float(finite.mean()) * scale if count else math.nan
    stderr = float(finite.std(ddof=1) / math.sqrt(count)) * scale if count > 1 else math.nan
    return {"LDS": mean, "LDS_stderr": stderr, "LDS_nan_queries": float(len(rho) - count)}
