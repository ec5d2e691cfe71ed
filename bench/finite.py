"""Non-finite values (NaN, ±Inf): find them per output column, name the samples, refuse them.

A model that overflows (fp16 logits, a diverged checkpoint) gives NaN or Inf outputs; metrics of those are
meaningless (a binned ECE silently drops NaN rows, an argmax picks a class). The runner checks each batch's
outputs at the store boundary (``EvalTask.nonfinite``) and ``run.nonfinite`` decides what happens: ``"error"``
stops the run, ``"flag"`` stores them and marks ``results.json``. Metrics refuse non-finite input through
:func:`require_finite`. Integer and label columns cannot hold such values and are never checked.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

POLICIES = ("error", "flag")
SHOWN_IDS = 20  # sample ids listed per column in results.json
ERROR_IDS = 5  # sample ids named in an error message


class NonFiniteError(ValueError):
    """NaN or infinite values where finite ones are required (a model output column or a metric's input)."""


def nonfinite_mask(column: Any) -> torch.Tensor | None:
    """Bool [rows]: rows of ``column`` holding a NaN or ±Inf anywhere; ``None`` for a column that cannot hold one
    (integers, booleans, strings). A list column (ragged per-image boxes, per-video scores) is checked entry by
    entry."""
    if isinstance(column, np.ndarray):
        column = torch.from_numpy(column)
    if isinstance(column, torch.Tensor):
        if not (column.is_floating_point() or column.is_complex()):
            return None
        if all_finite(column):  # the common case, at the cost of one sum
            return torch.zeros(column.shape[0] if column.ndim else 1, dtype=torch.bool)
        finite = torch.isfinite(column)
        return ~finite.flatten(1).all(dim=1) if column.ndim > 1 else ~finite.reshape(-1)
    if isinstance(column, (list, tuple)):
        rows = [_entry_nonfinite(entry) for entry in column]
        if all(row is None for row in rows):
            return None
        return torch.tensor([bool(row) for row in rows], dtype=torch.bool)
    return None


def all_finite(values: torch.Tensor) -> bool:
    """Whether every value is finite, from one sum: a NaN or ±Inf anywhere makes the sum NaN or ±Inf (Inf - Inf is
    NaN), so a finite sum proves all values finite; a non-finite sum (or an overflow of large finite values) falls
    back to the elementwise test. On CPU 0.8 ms against 17 ms for ``isfinite(...).all()`` (10M float32 here)."""
    if values.numel() == 0 or bool(torch.isfinite(values.sum())):
        return True
    return bool(torch.isfinite(values).all())


def _entry_nonfinite(entry: Any) -> bool | None:
    """Whether one ragged entry (a tensor or array of any shape, empty included) holds a NaN/Inf; None if it cannot."""
    if isinstance(entry, np.ndarray):
        entry = torch.from_numpy(entry)
    if not isinstance(entry, torch.Tensor) or not (entry.is_floating_point() or entry.is_complex()):
        return None
    return not all_finite(entry)


def describe(record: dict[str, dict[str, Any]], shown: int = ERROR_IDS) -> str:
    """``'logits': 2 samples (e.g. 'a', 'b')`` for each column of a :func:`merge_record` record."""
    parts = []
    for column, entry in record.items():
        ids = ", ".join(repr(i) for i in entry["sample_ids"][:shown])
        more = ", ..." if entry["count"] > min(shown, len(entry["sample_ids"])) else ""
        parts.append(f"{column!r}: {entry['count']} sample(s) (ids {ids}{more})")
    return "; ".join(parts)


def merge_record(record: dict[str, dict[str, Any]], masks: dict[str, torch.Tensor], sample_ids: Sequence[str],
                 shown: int = SHOWN_IDS) -> dict[str, dict[str, Any]]:
    """Add one block's ``{column: bool [rows]}`` masks to ``record`` ``{column: {"count", "sample_ids"}}`` (the
    first ``shown`` ids in reading order); columns without a non-finite row are left out."""
    for column, mask in masks.items():
        rows = torch.nonzero(mask).flatten().tolist()
        if not rows:
            continue
        entry = record.setdefault(column, {"count": 0, "sample_ids": []})
        entry["count"] += len(rows)
        entry["sample_ids"].extend(str(sample_ids[r]) for r in rows[:shown - len(entry["sample_ids"])])
    return record


def merge_records(record: dict[str, dict[str, Any]], other: dict[str, dict[str, Any]],
                  shown: int = SHOWN_IDS) -> dict[str, dict[str, Any]]:
    """Add another record (a later block's) to ``record``: counts add up, the first ``shown`` ids are kept."""
    for column, entry in other.items():
        into = record.setdefault(column, {"count": 0, "sample_ids": []})
        into["count"] += entry["count"]
        into["sample_ids"].extend(entry["sample_ids"][:max(shown - len(into["sample_ids"]), 0)])
    return record


def check_policy(policy: Any) -> str:
    if policy not in POLICIES:
        raise ValueError(f"run.nonfinite must be one of {POLICIES}, got {policy!r}")
    return str(policy)


def output_error(record: dict[str, dict[str, Any]], where: str) -> NonFiniteError:
    """The ``run.nonfinite="error"`` refusal: which columns, how many samples, their first ids, and the fix."""
    return NonFiniteError(
        f"{where}: non-finite (NaN/Inf) model outputs in {describe(record)}. Metrics of such outputs are "
        "meaningless. Fix the model or its numerics (e.g. run.precision='fp32', another checkpoint), or pass "
        "--cfg-options run.nonfinite=flag to store them and mark the run 'flagged' (metrics that read them are "
        "written as null)")


def require_finite(outputs: dict[str, Any], column: str, who: str) -> None:
    """Refuse a metric's input ``outputs[column]`` holding NaN/Inf: the error counts the samples and names the
    first (by ``outputs["sample_id"]`` when present, else by row)."""
    mask = nonfinite_mask(outputs[column])
    if mask is None or not bool(mask.any()):
        return
    ids = outputs.get("sample_id") or [f"row {i}" for i in range(len(mask))]
    record = merge_record({}, {column: mask}, ids, ERROR_IDS)
    raise NonFiniteError(f"{who}: {record[column]['count']} of {len(mask)} samples have non-finite (NaN/Inf) "
                         f"{describe(record)}; it refuses them rather than report a number")


def require_finite_values(values: torch.Tensor, what: str) -> None:
    """Refuse a tensor holding NaN/Inf, counting them (for functions given bare tensors, not a column table)."""
    bad = int((~torch.isfinite(values)).sum()) if values.is_floating_point() and not all_finite(values) else 0
    if bad:
        raise NonFiniteError(f"{what}: {bad} of {values.numel()} values are NaN or infinite; refused (a number "
                             "computed from them would be meaningless)")
