"""``bench sweep``: every grid point is its own resumable run, scheduled as a Ray task.

Ray runs locally by default (``--address`` joins a cluster); each trial asks for one GPU where the cluster
has GPUs. A point's run directory is fixed by its position and values, so re-running a sweep skips the
points whose results are complete and resumes the rest. Ray's session files go under the sweep folder
(or a short temporary path when that folder's path is too long for Ray's unix sockets).
"""
from __future__ import annotations

import itertools
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from bench.config import config_hash, load_config, parse_cli_value
from bench.io import atomic_write_text, sha256_json
from bench.results import RESULTS_FILE, read_results, results_root


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """``["a.b=1,2", "c=x,y"]`` -> ``{"a.b": [1, 2], "c": ["x", "y"]}`` (values parsed as python literals)."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--grid takes key=v1,v2,...; got {item!r}")
        key, values = item.split("=", 1)
        grid[key.strip()] = [parse_cli_value(v.strip()) for v in values.split(",") if v.strip()]
    return grid


def config_grid(cfg: Any) -> dict[str, list[Any]]:
    """The grid of a config's ``sweep = dict(grid={"key": [values]})`` section."""
    grid = (cfg.get("sweep") or {}).get("grid")
    if not grid:
        raise ValueError(f"config {cfg.name!r} has no sweep.grid; pass --grid key=v1,v2")
    return {str(k): list(v) for k, v in grid.items()}


def grid_points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = list(grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(grid[k] for k in keys))]


def _short(value: Any) -> Any:
    """A grid value as it appears in a point's folder name: a registry dict by its type."""
    return value.get("type", value) if isinstance(value, dict) else value


def point_dir(sweep_dir: Path, position: int, point: dict[str, Any]) -> Path:
    label = "_".join(f"{k.split('.')[-1]}-{_short(v)}" for k, v in point.items())
    return sweep_dir / f"{position:03d}-{re.sub(r'[^A-Za-z0-9_.-]+', '', label)[:60]}"


def _run_point(config: str, options: dict[str, Any], wandb_mode: str | None) -> str:
    """One trial (runs inside a Ray worker): a resumable ``bench run``."""
    from bench.runner import evaluate

    cfg = load_config(config, options)
    run_dir = Path(cfg.run.work_dir)
    if (run_dir / RESULTS_FILE).is_file() and read_results(run_dir)["config_sha256"] == config_hash(cfg):
        return str(run_dir)  # finished earlier: results.json is written only once every sample is stored
    return str(evaluate(cfg, resume=True, wandb_mode=wandb_mode, progress=False))


def _ray_temp_dir(sweep_dir: Path) -> str:
    candidate = sweep_dir.resolve() / "ray"
    if len(str(candidate)) <= 60:  # Ray appends ~45 characters of socket path; unix sockets allow 107
        candidate.mkdir(parents=True, exist_ok=True)
        return str(candidate)
    return tempfile.mkdtemp(prefix="bench-ray-")


def sweep(config: str, grid: dict[str, list[Any]], cfg_options: dict[str, Any] | None = None,
          address: str | None = None, wandb_mode: str | None = None, sweep_dir: Path | None = None) -> pd.DataFrame:
    """Run every grid point on Ray and write ``summary.csv`` / ``summary.md`` in the sweep folder."""
    import ray

    base = load_config(config, cfg_options)
    points = grid_points(grid)
    if sweep_dir is None:
        tag = sha256_json({"config": config_hash(base), "grid": grid})[:12]
        sweep_dir = results_root() / "sweeps" / f"{base.name}-{tag}"
    sweep_dir = Path(sweep_dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, logging_level=logging.WARNING)
        else:
            ray.init(num_cpus=max(1, min(len(points), os.cpu_count() or 1)), include_dashboard=False,
                     logging_level=logging.WARNING, _temp_dir=_ray_temp_dir(sweep_dir), log_to_driver=False)
    try:
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        trial = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=1)(_run_point)
        futures = []
        for position, point in enumerate(points):
            options = {**(cfg_options or {}), **point, "run.work_dir": str(point_dir(sweep_dir, position, point))}
            futures.append(trial.remote(config, options, wandb_mode))
        run_dirs = [Path(p) for p in ray.get(futures)]
    finally:
        if started_here:
            ray.shutdown()
    rows = []
    for point, run_dir in zip(points, run_dirs, strict=True):
        results = read_results(run_dir)
        rows.append({**point, **results["metrics"], "status": results["status"], "run_dir": str(run_dir)})
    frame = pd.DataFrame(rows)
    atomic_write_text(sweep_dir / "summary.csv", frame.to_csv(index=False))
    atomic_write_text(sweep_dir / "summary.md", frame.drop(columns=["run_dir"]).to_markdown(index=False) + "\n")
    return frame
