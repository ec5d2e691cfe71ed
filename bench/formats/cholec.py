"""CAMMA's CholecT45/CholecT50 triplet mapping (``dict/maps.txt``, ``label_mapping.txt``): triplet id → component
ids, read by the dataset readers, the triplet metrics and DiffTriplet alike."""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

NUM_TRIPLETS = 100
MAPPING_COLUMNS = ("ivt", "i", "v", "t", "iv", "it")
#: first line of dict/maps.txt (and label_mapping.txt), as CAMMA ships it
MAPPING_HEADER = "# IVT, I, V, T, IV, IT"


def read_mapping(path: str | Path) -> np.ndarray:
    """int64 [100, 6] triplet → component ids (columns ivt, i, v, t, iv, it) from ``dict/maps.txt`` or
    ``label_mapping.txt``; ``#`` lines (the header) and blank lines are skipped, row k must be triplet k."""
    expected = "6 comma-separated integers 'ivt,i,v,t,iv,it'"
    rows: list[list[int]] = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        fields = [field.strip() for field in text.split(",")]
        try:
            row = [int(field) for field in fields]
        except ValueError:
            raise ValueError(f"{path}, line {number}: expected {expected}, got {text!r}") from None
        if len(row) != len(MAPPING_COLUMNS):
            raise ValueError(f"{path}, line {number}: expected {expected}, got {len(row)} fields in {text!r}")
        if row[0] != len(rows):
            raise ValueError(f"{path}, line {number}: triplet id {row[0]} where {len(rows)} was expected (rows must "
                             f"list triplet ids 0..{NUM_TRIPLETS - 1} in order)")
        for column, size in zip(("i", "v", "t"), (6, 10, 15), strict=True):
            value = row[MAPPING_COLUMNS.index(column)]
            if not 0 <= value < size:
                raise ValueError(f"{path}, line {number}: {column} id {value} is outside 0..{size - 1}")
        rows.append(row)
    if len(rows) != NUM_TRIPLETS:
        raise ValueError(f"{path}: {len(rows)} triplet rows, expected {NUM_TRIPLETS} (ids 0..{NUM_TRIPLETS - 1})")
    return np.asarray(rows, dtype=np.int64)


def format_mapping(mapping: np.ndarray) -> str:
    """``dict/maps.txt`` text: the CAMMA header line, then one ``ivt,i,v,t,iv,it`` line per triplet."""
    return MAPPING_HEADER + "\n" + "".join(",".join(map(str, row)) + "\n" for row in np.asarray(mapping).tolist())


@functools.lru_cache(maxsize=1)
def _official_mapping() -> np.ndarray:
    try:
        import ivtmetrics  # the CAMMA metric package ships the official mapping table
    except ImportError as error:
        raise ImportError("the official triplet mapping comes from ivtmetrics (pip install ivtmetrics), or pass "
                          "mapping=") from error
    return np.asarray(ivtmetrics.Disentangle().bank, dtype=np.int64)


def official_mapping() -> np.ndarray:
    """The official CholecT50 triplet → component table as shipped by ivtmetrics (``Disentangle().bank``)."""
    return _official_mapping().copy()
