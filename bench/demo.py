"""``bench demo``: run the shipped demo configs end to end on CPU and print their leaderboard.

Each file ``configs/demo/<group>_<name>.py`` is one demo; ``--only`` keeps the groups named (a paper slug,
or ``harness`` for the core's own demo). Demos resume, so running the suite again only re-scores.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.config import configs_root, load_config
from bench.runner import evaluate
from bench.tables import runs_table


def demo_configs(only: list[str] | None = None) -> list[Path]:
    paths = sorted(p for p in (configs_root() / "demo").glob("*.py") if p.name != "__init__.py")
    if only:
        paths = [p for p in paths if any(p.stem == g or p.stem.startswith(f"{g}_") for g in only)]
        if not paths:
            raise ValueError(f"no demo config matches {only}; available: "
                             f"{', '.join(p.stem for p in sorted((configs_root() / 'demo').glob('*.py')))}")
    return paths


def run_demo(only: list[str] | None = None, wandb_mode: str | None = None, work_root: Path | None = None) -> pd.DataFrame:
    run_dirs = []
    for path in demo_configs(only):
        options = {"run.work_dir": str(work_root / path.stem)} if work_root else None
        cfg = load_config(path, options)
        run_dirs.append(evaluate(cfg, resume=True, wandb_mode=wandb_mode))
    return runs_table(run_dirs)
