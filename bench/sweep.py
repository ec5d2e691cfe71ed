"""``bench sweep``: every grid point is an ordinary run, scheduled as a Ray task.

A point is the config with the point's values set; it runs like ``bench run`` would, into
``<results root>/runs/<paper>/<name>-<hash>/`` (the values change the config, so the hash), where ``bench table``
finds the cells it fills. Points that share a train stage (they differ only in eval-only keys) share its train
folder, trained once before the points run. Re-running a sweep skips the points whose results are complete and
resumes the rest. The sweep folder keeps only ``summary.csv``/``summary.md`` and ``manifest.json`` (each point's
values and run directory). Ray runs locally by default (``--address`` joins a cluster); each trial asks for one
GPU where the cluster has GPUs; Ray's session files go under the sweep folder (or a short temporary path when
that folder's path is too long for Ray's unix sockets).
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
from bench.io import atomic_write_json, atomic_write_text, sha256_json
from bench.results import RESULTS_FILE, read_results, results_root, run_dir_for, train_dir_for


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


def point_label(point: dict[str, Any]) -> str:
    """A point's short name in the summary and manifest: ``key-value`` pairs, last key part only."""
    label = "_".join(f"{k.split('.')[-1]}-{_short(v)}" for k, v in point.items())
    return re.sub(r"[^A-Za-z0-9_.-]+", "", label)[:60]


def plan_points(config: str, points: list[dict[str, Any]], cfg_options: dict[str, Any] | None = None
                ) -> list[dict[str, Any]]:
    """Each point's options, config hash, run directory and train directory (None without a train stage).

    A sweep point is a run under the results root: a ``run.work_dir`` would put every point in one folder, and
    points whose configs hash alike (a swept key that changes no output) would be one run; both are refused.
    """
    planned: list[dict[str, Any]] = []
    seen: dict[str, dict[str, Any]] = {}
    for position, point in enumerate(points):
        options = {**(cfg_options or {}), **point}
        cfg = load_config(config, options)
        if cfg.run.work_dir:
            raise ValueError(f"sweep of {config}: run.work_dir is set ({cfg.run.work_dir}); sweep points are runs "
                             f"under the results root ($BENCH_RESULTS_DIR/runs): drop run.work_dir")
        chash = config_hash(cfg)
        if chash in seen:
            raise ValueError(f"sweep of {config}: points {seen[chash]} and {point} give the same config hash; the "
                             "swept key changes no output (run keys other than seed and precision are not hashed)")
        seen[chash] = point
        planned.append({"position": position, "point": point, "label": point_label(point), "options": options,
                        "config_sha256": chash, "run_dir": str(run_dir_for(cfg, chash)),
                        "train_dir": str(train_dir_for(cfg)) if cfg.get("train") else None})
    return planned


def _finished(run_dir: Path, chash: str) -> bool:
    """results.json is written only once every sample is stored, so its presence (same hash) means done."""
    return (run_dir / RESULTS_FILE).is_file() and read_results(run_dir)["config_sha256"] == chash


def run_point(config: str, options: dict[str, Any], wandb_mode: str | None) -> str:
    """One point (inside a Ray worker, or in-process): a resumable ``bench run`` of the config with ``options``,
    skipped when its results are complete; returns the run directory."""
    from bench.runner import evaluate
    from bench.upstream import UpstreamError, resolve

    cfg = load_config(config, options)
    try:  # a finished run's hash includes its upstreams' products: resolve them before comparing
        resolve(cfg, mode="require")
    except UpstreamError:  # not made yet: the run makes them and cannot be finished
        return str(evaluate(cfg, resume=True, wandb_mode=wandb_mode, progress=False))
    run_dir = run_dir_for(cfg, config_hash(cfg))
    if _finished(run_dir, config_hash(cfg)):
        return str(run_dir)
    return str(evaluate(cfg, resume=True, wandb_mode=wandb_mode, progress=False))


def train_point(config: str, options: dict[str, Any]) -> str:
    """The train stage a group of points shares (resumable; a finished one returns its checkpoint at once)."""
    from bench.runner import train

    return str(train(load_config(config, options)))


def _ray_temp_dir(sweep_dir: Path) -> str:
    candidate = sweep_dir.resolve() / "ray"
    if len(str(candidate)) <= 60:  # Ray appends ~45 characters of socket path; unix sockets allow 107
        candidate.mkdir(parents=True, exist_ok=True)
        return str(candidate)
    return tempfile.mkdtemp(prefix="bench-ray-")


def sweep(config: str, grid: dict[str, list[Any]], cfg_options: dict[str, Any] | None = None,
          address: str | None = None, wandb_mode: str | None = None, sweep_dir: Path | None = None,
          local: bool = False) -> pd.DataFrame:
    """Run every grid point (on Ray, or one after another in this process with ``local``) and write
    ``summary.csv``, ``summary.md`` and ``manifest.json`` in the sweep folder."""
    base = load_config(config, cfg_options)
    planned = plan_points(config, grid_points(grid), cfg_options)
    if sweep_dir is None:
        tag = sha256_json({"config": config_hash(base), "grid": grid})[:12]
        sweep_dir = results_root() / "sweeps" / f"{base.name}-{tag}"
    sweep_dir = Path(sweep_dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    todo = [p for p in planned if not _finished(Path(p["run_dir"]), p["config_sha256"])]
    trainings = list({p["train_dir"]: p for p in todo if p["train_dir"]}.values())  # one per shared train folder
    if local:
        for p in trainings:
            train_point(config, p["options"])
        run_dirs = [Path(run_point(config, p["options"], wandb_mode)) for p in planned]
    else:
        run_dirs = _run_on_ray(config, planned, trainings, address, wandb_mode, sweep_dir)
    rows = []
    for p, run_dir in zip(planned, run_dirs, strict=True):
        results = read_results(run_dir)
        rows.append({**p["point"], **results["metrics"], "status": results["status"], "run_dir": str(run_dir)})
    frame = pd.DataFrame(rows)
    atomic_write_text(sweep_dir / "summary.csv", frame.to_csv(index=False))
    atomic_write_text(sweep_dir / "summary.md", frame.drop(columns=["run_dir"]).to_markdown(index=False) + "\n")
    atomic_write_json(sweep_dir / "manifest.json", {
        "config": config, "grid": grid, "cfg_options": cfg_options or {},
        "points": [{k: p[k] for k in ("position", "label", "point", "config_sha256", "run_dir", "train_dir")}
                   for p in planned]})
    return frame


def _run_on_ray(config: str, planned: list[dict[str, Any]], trainings: list[dict[str, Any]], address: str | None,
                wandb_mode: str | None, sweep_dir: Path) -> list[Path]:
    """Shared train stages first (one trial each), then every point as its own trial."""
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, logging_level=logging.WARNING)
        else:
            ray.init(num_cpus=max(1, min(len(planned), os.cpu_count() or 1)), include_dashboard=False,
                     logging_level=logging.WARNING, _temp_dir=_ray_temp_dir(sweep_dir), log_to_driver=False)
    try:
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        if trainings:
            trainer = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=1)(train_point)
            ray.get([trainer.remote(config, p["options"]) for p in trainings])
        trial = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=1)(run_point)
        return [Path(d) for d in ray.get([trial.remote(config, p["options"], wandb_mode) for p in planned])]
    finally:
        if started_here:
            ray.shutdown()
