"""``bench run`` / ``train`` / ``score`` / ``validate``: one evaluation path for any world size.

Samples are sharded by position in the list of unfinished samples (strided, no padding, no dropped tail);
every rank stores its outputs in the sample store, and rank 0 reads all of them back and runs the same
aggregation as a single process would.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path
from typing import Any

import torch
from mmengine import dist as mmdist
from mmengine.config import Config
from torch.utils.data import DataLoader, Dataset

from bench import dist, provenance, upstream
from bench.config import config_hash, config_text, load_config, to_plain
from bench.data import BenchDataset
from bench.finite import NonFiniteError, check_policy, output_error
from bench.io import atomic_write_json, atomic_write_text, read_json
from bench.method import Method
from bench.precision import autocast
from bench.progress import progress
from bench.registry import DATASETS, METHODS, TASKS
from bench.results import (CONFIG_FILE, PROVENANCE_FILE, finite_metrics, paper_cells, read_results, run_dir_for,
                           train_dir_for, train_settings, write_results)
from bench.seeding import sample_seed, seed_everything
from bench.store import SampleStore, StoreError
from bench.tasks.base import EvalTask

log = logging.getLogger("bench")


class RunExistsError(RuntimeError):
    """The run directory already holds outputs and neither ``--resume`` was given."""


class _Indexed(Dataset):
    """A view of ``dataset`` at ``indices`` whose items carry their dataset index and sample id."""

    def __init__(self, dataset: BenchDataset, indices: list[int]) -> None:
        self.dataset, self.indices = dataset, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> dict[str, Any]:
        index = self.indices[position]
        item = dict(self.dataset[index])
        item["index"] = index
        item["sample_id"] = self.dataset.sample_id(index)
        return item


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """The torch device ``run.device`` names (``auto``: CUDA when present); a device this machine lacks is an error
    naming the setting, before anything is built."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"run.device {name!r} is not a torch device ({error}); use auto, cpu or cuda") from error
    backend = getattr(torch, device.type, None) if device.type != "cpu" else None
    if backend is not None and hasattr(backend, "is_available") and not backend.is_available():
        raise ValueError(f"run.device {name!r}: this machine has no {device.type} device; use run.device=auto or "
                         "cpu (--cfg-options run.device=cpu)")
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", local_rank % max(torch.cuda.device_count(), 1))
    return device


def build(cfg: Config) -> tuple[BenchDataset, Method, EvalTask]:
    """Dataset, method and task of ``cfg``, its upstream references replaced by the resolved products (an
    unresolved reference is an error: resolve with :func:`bench.upstream.resolve` first)."""
    dataset = DATASETS.build(upstream.section(cfg, "dataset"))
    method = METHODS.build(upstream.section(cfg, "method"))
    task = TASKS.build(upstream.section(cfg, "task"))
    return dataset, method, task


def _train_stage(cfg: Config, method: Method, device: torch.device) -> dict[str, Any]:
    """Run the config's ``train`` section (resuming from its last checkpoint) and point the method at it; the
    final checkpoint and its sha256 are recorded beside it (what an ``upstream`` checkpoint product reads)."""
    train_cfg = train_settings(cfg, upstream.section(cfg, "train"))  # what train_dir_for keys by
    train_set = DATASETS.build(train_cfg.pop("dataset"))
    val_spec = train_cfg.pop("val_dataset", None)
    val_set = DATASETS.build(val_spec) if val_spec else None
    seed_everything(train_cfg["seed"])  # model init and shuffling follow it
    checkpoint = method.fit(train_set, val_set, train_dir_for(cfg), device, **train_cfg)
    method.use_checkpoint(checkpoint)
    if dist.detect().rank == 0:
        atomic_write_json(train_dir_for(cfg) / upstream.TRAINED_FILE,
                          {"checkpoint": str(checkpoint), "sha256": upstream.sha256_path(checkpoint)})
    return {"checkpoint": str(checkpoint)}


def train(cfg: Config) -> Path:
    """``bench train``: only the train stage, resumable; returns the final checkpoint. The train folder is keyed by
    content (``bench.results.train_dir_for``), so downstream configs find it; ``run.work_dir`` does not move it."""
    if not cfg.get("train"):
        raise ValueError(f"config {cfg.name!r} has no 'train' section")
    upstream.resolve(cfg)
    method = METHODS.build(upstream.section(cfg, "method"))
    device = pick_device(cfg.run.device)
    return Path(_train_stage(cfg, method, device)["checkpoint"])


def evaluate(cfg: Config, *, resume: bool = False, wandb_mode: str | None = None,
             progress: bool = True) -> Path:
    """``bench run``: evaluate every (unfinished) sample, aggregate on rank 0, write results; returns the run dir."""
    started = time.time()
    upstream_facts = upstream.resolve(cfg)  # before anything is built: may train or run other configs
    env = dist.init(cfg.run.device)
    device = pick_device(cfg.run.device, env.local_rank)
    chash = config_hash(cfg)
    run_dir = run_dir_for(cfg, chash)
    store = SampleStore(run_dir, chash, env.rank, int(cfg.run.flush_every), float(cfg.run.flush_seconds))
    try:
        dataset, method, task = build(cfg)
        indices = _selected_indices(len(dataset), cfg.run.limit)

        problem: list[str | None] = [None]
        dataset_facts: dict[str, Any] | None = None
        if env.rank == 0:
            existing = store.chunk_paths()
            if existing and not resume:
                problem[0] = (f"{run_dir} already holds {len(existing)} chunk(s) of outputs of this config; "
                              "pass --resume to continue it, or delete the folder to start afresh")
            else:
                dataset_facts = {**dataset.describe(), "fingerprint": dataset.fingerprint()}
                problem[0] = _record_dataset(run_dir, dataset_facts, resume)
                atomic_write_text(run_dir / CONFIG_FILE, config_text(cfg))
        mmdist.broadcast_object_list(problem)  # every rank raises, none waits at a barrier
        if problem[0]:
            raise RunExistsError(problem[0])
        done = store.finished_ids() if resume else set()
        mmdist.barrier()  # every rank has read the store before any rank writes to it
        todo = [i for i in indices if dataset.sample_id(i) not in done]
        mine = todo[env.rank::env.world_size]

        train_facts: dict[str, Any] = {}
        if cfg.get("train"):
            if env.rank == 0:
                train_facts = _train_stage(cfg, method, device)
            mmdist.barrier()
            if env.rank != 0:
                train_facts = _train_stage(cfg, method, device)  # finds the finished checkpoint
        seed_everything(int(cfg.run.seed))
        method.setup(device, seed=int(cfg.run.seed))
        if mine:
            task.prepare(device)
        predict_start = time.perf_counter()
        _predict(method, task, dataset, mine, store, cfg, device, show=progress and env.rank == 0,
                 desc=f"{cfg.name} [{len(done)} resumed]" if done else cfg.name)
        store.flush()
        predict_s = time.perf_counter() - predict_start
        mmdist.barrier()

        if env.rank == 0:
            facts = {
                "launcher": env.launcher, "world_size": env.world_size, "device": provenance.device_info(device),
                "numerics": provenance.numerics(cfg.run.precision), "seeds": {"base_seed": int(cfg.run.seed),
                "per_sample": "sha256(base_seed:sample_id:repeat), stored in samples/"},
                "resumed_samples": len(done), "computed_samples_this_session": len(todo), **train_facts,
                "prediction_rank0": {"samples": len(mine), "seconds": round(predict_s, 4),
                                     "samples_per_s": round(len(mine) / predict_s, 2) if mine else None},
                "started": _iso(started),
            }
            if upstream_facts:
                facts["upstream"] = upstream_facts
            score(run_dir, cfg=cfg, dataset=dataset, task=task, method=method, extra_provenance=facts,
                  wandb_mode=wandb_mode, started=started, dataset_facts=dataset_facts)
        mmdist.barrier()
    finally:
        store.flush()
        dist.shutdown()
    return run_dir


def _record_dataset(run_dir: Path, dataset_facts: dict[str, Any], resume: bool) -> str | None:
    """Write the dataset's fingerprint into provenance before any output; a resume over changed data (a new
    logit cache, another split file) is refused, because its stored samples would mix two datasets."""
    prov_path = run_dir / PROVENANCE_FILE
    prov: dict[str, Any] = read_json(prov_path) if prov_path.is_file() else {}
    recorded = (prov.get("dataset") or {}).get("fingerprint")
    if resume and recorded not in (None, dataset_facts["fingerprint"]):
        return (f"{run_dir} holds outputs for dataset fingerprint {recorded[:12]}, but the dataset now has "
                f"{dataset_facts['fingerprint'][:12]}; delete the folder to start afresh")
    prov["dataset"] = dataset_facts
    atomic_write_json(prov_path, prov)
    return None


def _selected_indices(n: int, limit: int | None) -> list[int]:
    return list(range(min(int(limit), n) if limit else n))


def _predict(method: Method, task: EvalTask, dataset: BenchDataset, indices: list[int], store: SampleStore,
             cfg: Config, device: torch.device, show: bool, desc: str) -> None:
    loader = DataLoader(_Indexed(dataset, indices), batch_size=int(cfg.run.batch_size), shuffle=False,
                        num_workers=int(cfg.run.num_workers), collate_fn=method.collate,
                        pin_memory=device.type == "cuda")
    base_seed = int(cfg.run.seed)
    policy = check_policy(cfg.run.nonfinite)
    with torch.inference_mode(), progress(total=len(indices), desc=desc, unit="sample", show=show) as bar:
        for batch in loader:
            ids = list(batch["sample_id"])
            seeds = torch.tensor([sample_seed(base_seed, sid) for sid in ids], dtype=torch.int64)
            with autocast(device, cfg.run.precision):
                outputs = task.predict(method, batch, seeds)
            outputs.update(task.featurize(outputs))  # outside autocast: the task fixes its own numerics
            found = task.nonfinite({"sample_id": ids, **outputs}) if policy == "error" else {}
            if found:  # the samples before this batch are stored when the error unwinds (evaluate's finally)
                raise output_error(found, f"run {store.dir.parent} (the samples computed before this batch are "
                                          "kept; --resume continues them)")
            store.add(ids, batch["index"], seeds, outputs)
            bar.update(len(ids))


def score(run_dir: str | Path, *, cfg: Config | None = None, dataset: BenchDataset | None = None,
          task: EvalTask | None = None, method: Method | None = None,
          extra_provenance: dict[str, Any] | None = None, wandb_mode: str | None = "disabled",
          started: float | None = None, dataset_facts: dict[str, Any] | None = None) -> dict[str, Any]:
    """Aggregate stored outputs, write results.json and provenance, then publish figures, exports and the W&B
    mirror (``bench score`` calls this without re-running the model); returns the results."""
    run_dir = Path(run_dir)
    if cfg is None:
        cfg = load_config(run_dir / CONFIG_FILE)
    chash = config_hash(cfg)
    if dataset is None:
        dataset = DATASETS.build(upstream.section(cfg, "dataset"))  # the recorded upstream facts: nothing reruns
    if task is None:
        task = TASKS.build(upstream.section(cfg, "task"))
    indices = _selected_indices(len(dataset), cfg.run.limit)
    store = SampleStore(run_dir, chash)
    metrics = aggregate(store, task, [dataset.sample_id(i) for i in indices])
    results, prov = write_run(run_dir, cfg, dataset, task, method, metrics, len(indices),
                              extra_provenance=extra_provenance, started=started, dataset_facts=dataset_facts)
    return publish(run_dir, cfg, task, store, results, prov, wandb_mode)


def aggregate(store: SampleStore, task: EvalTask, expected: list[str]) -> dict[str, float]:
    """The task's metrics from the stored outputs, reading only the columns they need (no file is written).

    Every expected sample must be stored (checked from the sample ids alone, before any output is read).
    """
    stored = store.load(columns=()).get("sample_id", [])
    if stored != expected:
        missing = len(set(expected) - set(stored))
        raise StoreError(f"{store.dir.parent}: {len(stored)} samples stored, {len(expected)} expected ({missing} "
                         f"missing); finish the run with `bench run {store.dir.parent / CONFIG_FILE} --resume`")
    return task.evaluate(store.load(columns=task.score_columns(store.stored_columns())))


def write_run(run_dir: Path, cfg: Config, dataset: BenchDataset, task: EvalTask, method: Method | None,
              metrics: dict[str, float], effective: int, *, extra_provenance: dict[str, Any] | None = None,
              started: float | None = None,
              dataset_facts: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Write provenance.json and results.json (metrics, fitted values, paper cells) before anything is published,
    so a failing figure or export never loses a computed score; returns both records."""
    chash = config_hash(cfg)
    nonfinite, refused = _check_nonfinite(run_dir, cfg, task, chash)
    metrics = dict(metrics)
    fitted = method.fitted_values() if method is not None else _previous_fitted(run_dir)
    clash = sorted(set(fitted) & set(metrics))
    if clash:
        raise ValueError(f"fitted value(s) {clash} of {cfg.method.type} have the names of metrics")
    metrics.update(fitted)
    partial = bool(cfg.run.limit) and effective < len(dataset)
    written, undefined = finite_metrics(metrics)
    smoke, smoke_reason = (method.smoke, method.smoke_reason) if method is not None else _previous_smoke(run_dir)
    results = {
        "run_id": f"{cfg.name}-{chash[:12]}", "name": cfg.name,
        "paper": cfg.paper.slug if cfg.get("paper") else None,
        "method": cfg.method.type, "dataset": cfg.dataset.type, "task": cfg.task.type,
        "config_sha256": chash, "status": "flagged" if nonfinite or refused else "partial" if partial else "complete",
        "smoke": bool(smoke), "smoke_reason": smoke_reason,
        "samples": {"original": len(dataset), "effective": effective, "limit": cfg.run.limit},
        "metrics": written, "fitted": sorted(fitted), "cells": paper_cells(to_plain(cfg.get("paper")), written),
        "figures": {}, "exports": {},
        "evaluation": task.describe(),
        "created": _iso(time.time()),
    }
    if nonfinite:
        results["nonfinite"] = nonfinite
    if refused:
        results["refused_metrics"] = refused
    if undefined:
        results["nonfinite_metrics"] = undefined
    prov_path = run_dir / PROVENANCE_FILE
    prov: dict[str, Any] = read_json(prov_path) if prov_path.is_file() else {}
    prov.update({
        "git": provenance.git_state(), "packages": provenance.package_versions(),
        "config_sha256": chash,
        "dataset": dataset_facts or {**dataset.describe(), "fingerprint": dataset.fingerprint()},
        "samples": results["samples"],
    })
    if method is not None:
        prov["method"] = method.provenance()
    if extra_provenance:
        prov.update(extra_provenance)
    if started is not None:
        prov["finished"] = _iso(time.time())
        prov["wall_time_s"] = round(time.time() - started, 3)
    atomic_write_json(prov_path, prov)
    write_results(run_dir, results)
    return results, prov


def _check_nonfinite(run_dir: Path, cfg: Config, task: EvalTask, chash: str
                     ) -> tuple[dict[str, Any], dict[str, str]]:
    """The stored outputs' non-finite values by column (``{column: {"count", "sample_ids"}}``) and the metrics that
    refused non-finite input (``{name: why}``); under ``run.nonfinite="error"`` either is an error, so ``bench
    score`` of a store written before the check refuses it too."""
    record = task.nonfinite(SampleStore(run_dir, chash))
    refusals = dict(getattr(task, "refusals", {}))
    if check_policy(cfg.run.nonfinite) == "error":
        fix = (f" (for `bench score`, set nonfinite='flag' in the run section of {run_dir / CONFIG_FILE})")
        if record:
            raise NonFiniteError(f"{output_error(record, f'run {run_dir}')}{fix}")
        if refusals:
            name, why = next(iter(refusals.items()))
            raise NonFiniteError(f"run {run_dir}: metric {name!r} refused its input: {why}. Pass --cfg-options "
                                 f"run.nonfinite=flag to write it as null and mark the run 'flagged'{fix}")
    return record, refusals


def publish(run_dir: Path, cfg: Config, task: EvalTask, store: SampleStore, results: dict[str, Any],
            prov: dict[str, Any], wandb_mode: str | None) -> dict[str, Any]:
    """Figures and exports (streamed from the store) and the W&B mirror, after results.json exists. A failure is
    logged, recorded under ``publish_errors`` in results.json and never loses the scores; W&B keeps its own
    ``wandb_status.json``."""
    errors: dict[str, str] = {}
    for kind, write in (("figures", lambda: task.write_figures(store, run_dir / "figures", title=cfg.name)),
                        ("exports", lambda: task.write_exports(store, run_dir))):
        try:
            results[kind] = {name: str(path.relative_to(run_dir)) for name, path in write().items()}
        except Exception as error:  # a figure or export must not lose the scores already written
            errors[kind] = f"{type(error).__name__}: {error}"
            log.warning("writing %s of %s failed (%s); results.json holds the scores; rerun `bench score %s` "
                        "to retry", kind, run_dir, errors[kind], run_dir)
    if errors:
        results["publish_errors"] = errors
    write_results(run_dir, results)
    if wandb_mode != "disabled":
        from bench.tracking import mirror_to_wandb

        mirror_to_wandb(run_dir, to_plain(cfg.to_dict()), prov, results, mode=wandb_mode,
                        wandb_cfg=to_plain(cfg.get("wandb", {}) or {}))
    return results


def _previous_smoke(run_dir: Path) -> tuple[bool, str | None]:
    """A rescore without the method keeps the smoke label the run was written with."""
    try:
        previous = read_results(run_dir)
    except FileNotFoundError:
        return False, None
    return bool(previous["smoke"]), previous["smoke_reason"]


def _previous_fitted(run_dir: Path) -> dict[str, float]:
    """A rescore without the method keeps the values the method fitted (they are not per-sample outputs)."""
    try:
        previous = read_results(run_dir)
    except FileNotFoundError:
        return {}
    return {name: previous["metrics"][name] for name in previous.get("fitted", [])}


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).isoformat(timespec="seconds")


def validate(cfg: Config) -> dict[str, Any]:
    """``bench validate``: build dataset, method and task, push one batch through, report what was seen (every
    upstream product must exist already; the error names the command that produces a missing one). A config that
    trains is checked with its untrained model (``Method.setup_untrained``, initialised as its train stage would
    seed it): the checkpoint that stage produces need not exist yet, and the report says which weights were used."""
    upstream.resolve(cfg, mode="require")
    dataset, method, task = build(cfg)
    if len(dataset) == 0:
        raise ValueError(f"{cfg.dataset.type}: the dataset is empty")
    device = pick_device(cfg.run.device)
    report_train: dict[str, Any] = {}
    if cfg.get("train"):
        train_cfg = train_settings(cfg, upstream.section(cfg, "train"))
        train_set = DATASETS.build(train_cfg["dataset"])
        report_train = {"train_samples": len(train_set), "weights": "untrained (the train stage produces the "
                        f"checkpoint: `bench train` or `bench run` trains into {train_dir_for(cfg)})"}
        seed_everything(train_cfg["seed"])
        method.setup_untrained(device, seed=int(cfg.run.seed))
    else:
        method.setup(device, seed=int(cfg.run.seed))
    indices = list(range(min(int(cfg.run.batch_size), len(dataset))))
    batch = method.collate([_Indexed(dataset, indices)[k] for k in range(len(indices))])
    seeds = torch.tensor([sample_seed(int(cfg.run.seed), sid) for sid in batch["sample_id"]])
    task.prepare(device)
    with torch.inference_mode():
        outputs = task.predict(method, batch, seeds)
        outputs.update(task.featurize(outputs))
    task.check_outputs(outputs)
    shapes = {k: tuple(v.shape) if isinstance(v, torch.Tensor) else f"list[{len(v)}]" for k, v in outputs.items()}
    return {"dataset": cfg.dataset.type, "samples": len(dataset), **report_train, "batch": len(indices),
            "outputs": shapes, "run_dir": str(run_dir_for(cfg, config_hash(cfg)))}
