"""Plain helpers the tests import (``from helpers import REPO``); fixtures stay in conftest.py.

A test module importing ``conftest`` gets whichever conftest.py was imported first under that name (tests/ or
tests/benchmarks/), so ``pytest tests`` failed to collect; a helper module has one unambiguous name.
"""
from __future__ import annotations

from pathlib import Path

from bench.config import load_config

REPO = Path(__file__).resolve().parents[1]
DEMO = "demo/harness_digits"


def eval_config(work_dir: Path, checkpoint: Path, **options):  # noqa: ANN201 - an mmengine Config
    """The demo config without its train stage, evaluating ``checkpoint`` into ``work_dir``."""
    cfg = load_config(DEMO, {"run.work_dir": str(work_dir), "method.checkpoint": str(checkpoint), **options})
    cfg.pop("train")
    return cfg


def rounding_tolerance(dtype, magnitude: float, roundings: int = 1) -> float:  # noqa: ANN001 - a torch dtype
    """``roundings`` x eps(dtype) x ``magnitude``: the most that many round-offs can move a result of that magnitude
    (a sum's magnitude is the sum of its terms' absolute values). For golden values a reimplementation matched bit
    for bit: another BLAS or summation order moves a result by about one rounding per dependent step."""
    import torch

    return roundings * torch.finfo(dtype).eps * magnitude
