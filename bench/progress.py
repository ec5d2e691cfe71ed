"""Progress bars for long loops (training epochs and steps, sampling, evaluation): one helper, one behaviour.

Bars are drawn on stderr only when stderr is a terminal, so CI logs, pipes and ``bench demo`` summaries stay free
of carriage-return noise; ``BENCH_PROGRESS=1`` forces them on and ``BENCH_PROGRESS=0`` off.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress_enabled() -> bool:
    """Whether bars are drawn: ``$BENCH_PROGRESS`` when set (``0``/``1``), else whether stderr is a terminal."""
    forced = os.environ.get("BENCH_PROGRESS")
    if forced in ("0", "1"):
        return forced == "1"
    return sys.stderr.isatty()


def progress(iterable: Iterable[T] | None = None, *, total: int | None = None, desc: str = "", unit: str = "it",
             leave: bool = False, show: bool = True, **kwargs: Any) -> tqdm:
    """A ``tqdm`` bar over ``iterable`` (or a manual one with ``total``), hidden unless :func:`progress_enabled`
    and ``show`` (e.g. only rank 0 shows)."""
    return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave, dynamic_ncols=True,
                disable=not (show and progress_enabled()), **kwargs)
