"""The MS-TCN data release's text files that scoring also reads or writes: ``mapping.txt`` (class names) and the
per-video prediction files DiffAct and MS-TCN write (``results/<video>.txt``), as their official code does."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from bench.io import atomic_write_text


def read_mapping(path: str | Path) -> list[str]:
    """Class names from an MS-TCN ``mapping.txt`` (lines ``<id> <name>``), in file order; blank lines skipped.

    As in DiffAct's ``main.py`` only the names are used: a class's index is its line's position, not its id.
    """
    names: list[str] = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise ValueError(f"{path}, line {number}: expected '<id> <name>' (two fields), got {line.strip()!r}")
        names.append(fields[1])
    if len(set(names)) != len(names):
        duplicates = sorted({name for name in names if names.count(name) > 1})
        raise ValueError(f"{path}: class names appear twice ({', '.join(duplicates)}); each needs its own line")
    if not names:
        raise ValueError(f"{path}: no '<id> <name>' lines")
    return names


PREDICTION_HEADER = "### Frame level recognition: ###"


def write_prediction_file(path: str | Path, labels: Sequence[int] | torch.Tensor,
                          class_names: Sequence[str] | None) -> Path:
    """One video's prediction as DiffAct/MS-TCN write it: the header line, then the frame labels' names
    separated by spaces (ids when no names are known)."""
    ids = [int(v) for v in (labels.tolist() if isinstance(labels, torch.Tensor) else labels)]
    names = [class_names[i] for i in ids] if class_names else [str(i) for i in ids]
    return atomic_write_text(path, f"{PREDICTION_HEADER}\n{' '.join(names)}")


def read_prediction_file(path: str | Path) -> list[str]:
    """The frame labels of a prediction file (the second line, split on whitespace), as ``func_eval`` reads it."""
    lines = Path(path).read_text().split("\n")
    if len(lines) < 2 or lines[0].strip() != PREDICTION_HEADER:
        raise ValueError(f"{path}: not a prediction file (first line must be {PREDICTION_HEADER!r})")
    return lines[1].split()
