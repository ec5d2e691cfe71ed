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
