"""The OLTR ImageNet-LT split files (``ImageNet_LT_<subset>.txt``, lines ``<path> <label>``) and the
many/medium/few-shot buckets their training counts define, read by the ImageNet-LT reader and the bucket metrics."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

SHOT_BUCKETS = ("many", "medium", "few")  # code i of shot_buckets() is SHOT_BUCKETS[i]


def read_split_file(path: Path, layout_error: Callable[[Path, str], Exception] | None = None) -> list[tuple[str, int]]:
    """(relative path, label) per line of an OLTR split file; malformed lines raise ``layout_error`` or ValueError."""
    entries = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            problem = f"line {number} is not '<path> <label>': {line!r}"
            raise layout_error(Path(path), problem) if layout_error else ValueError(f"{path}: {problem}")
        entries.append((parts[0], int(parts[1])))
    return entries


def shot_buckets(train_file: str | Path, num_classes: int | None = None, *, many_above: int = 100,
                 few_below: int = 20) -> torch.Tensor:
    """Per-class codes into SHOT_BUCKETS from training counts: many if count > 100, few if < 20, else medium.

    Strict inequalities, as in the OLTR paper's text (>100 / 20-100 / <20) and the widely reused
    classifier-balancing ``shot_acc`` (Kang et al. 2020). OLTR's own ``utils.shot_acc`` uses ``>= 100`` and
    ``<= 20``; pass ``many_above=99, few_below=21`` to reproduce it on integer counts.
    """
    labels = [label for _, label in read_split_file(Path(train_file))]
    counts = torch.bincount(torch.tensor(labels, dtype=torch.int64), minlength=num_classes or 0)
    if num_classes is not None and len(counts) != num_classes:
        raise ValueError(f"{train_file} has labels up to {len(counts) - 1}, more than num_classes={num_classes}")
    return buckets_from_counts(counts, many_above=many_above, few_below=few_below)


def buckets_from_counts(counts: torch.Tensor, *, many_above: int = 100, few_below: int = 20) -> torch.Tensor:
    """Codes into SHOT_BUCKETS for a per-class table of training-image counts (see :func:`shot_buckets`)."""
    counts = torch.as_tensor(counts)
    codes = torch.full(counts.shape, SHOT_BUCKETS.index("medium"), dtype=torch.int64)
    codes[counts > many_above] = SHOT_BUCKETS.index("many")
    codes[counts < few_below] = SHOT_BUCKETS.index("few")
    return codes
