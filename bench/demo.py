"""``bench demo``: run the shipped demo configs end to end on CPU and print their leaderboard.

Each file ``configs/demo/<group>_<name>.py`` is one demo; ``--only`` keeps the groups named (a paper slug,
or ``harness`` for the core's own demo). Demos run in file-name order and resume, so running the suite again
only re-scores. ``--results-dir`` moves the whole results root (runs read each other's outputs through it).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bench.config import configs_root, load_config
from bench.runner import evaluate
from bench.tables import runs_table


@dataclass
class DemoSummary:
    """What one demo group showed, for the summary table ``bench demo`` ends with.

    A group's summariser (registered in ``bench.registry.DEMOS`` under the group's name) receives
    ``{config stem: results.json dict with "run_dir" added}`` for the group's runs and returns this.
    """

    headline: dict[str, float]  # at most four numbers, named as a reader would say them ("ECE after CC")
    sentence: str  # one sentence computed from the numbers: what they show, or that the paper's effect is absent
    figures: list[str] = field(default_factory=list)  # paths of the figures worth opening


def demo_configs(only: list[str] | None = None) -> list[Path]:
    paths = sorted(p for p in (configs_root() / "demo").glob("*.py") if p.name != "__init__.py")
    if only:
        paths = [p for p in paths if any(p.stem == g or p.stem.startswith(f"{g}_") for g in only)]
        if not paths:
            raise ValueError(f"no demo config matches {only}; available: "
                             f"{', '.join(p.stem for p in sorted((configs_root() / 'demo').glob('*.py')))}")
    return paths


def run_demo(only: list[str] | None = None, wandb_mode: str | None = None,
             results_dir: Path | None = None) -> pd.DataFrame:
    """Run the demos in file-name order (a demo may read the runs of an earlier one, e.g. cached logits)."""
    saved = os.environ.get("BENCH_RESULTS_DIR")
    if results_dir is not None:
        os.environ["BENCH_RESULTS_DIR"] = str(results_dir)
    try:
        run_dirs = [evaluate(load_config(path), resume=True, wandb_mode=wandb_mode) for path in demo_configs(only)]
        return runs_table(run_dirs)
    finally:
        if results_dir is not None:
            if saved is None:
                os.environ.pop("BENCH_RESULTS_DIR", None)
            else:
                os.environ["BENCH_RESULTS_DIR"] = saved
