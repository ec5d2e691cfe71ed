"""``bench run`` / ``train`` / ``score`` / ``validate``: one evaluation path for any world size.

Samples are sharded by position in the list of unfinished samples (strided, no padding, no dropped tail);
every rank stores its outputs in the sample store, and rank 0 reads all of them back and runs the same
aggregation as a single process would.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from mmengine import dist as mmdist
from mmengine.config import Config
from torch.utils.data import DataLoader, Dataset

from bench import dist, provenance, upstream
from bench.config import config_hash, config_text, load_config, to_plain
from bench.data import BenchDataset
from bench.finite import NonFiniteError, check_policy, merge_records, output_error
from bench.io import atomic_write_json, atomic_write_text, read_json
from bench.method import Method
from bench.precision import autocast
from bench.progress import progress
from bench.registry import DATASETS, METHODS, TASKS
from bench.results import (CONFIG_FILE, PROVENANCE_FILE, finite_metrics, paper_cells, read_results, run_dir_for,
                           train_dir_for, train_settings, write_results)
from bench.seeding import sample_seed, seed_everything
from bench.runlock import RunFolderError, RunLockedError, run_lock
from bench.store import QUARANTINE, SampleStore, StoreError, StoreWriteError
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
    final checkpoint and its sha256 are recorded beside it (what an ``upstream`` checkpoint product reads).

    Training holds the train folder's lock, and a second process waits for it rather than being refused: the folder
    is keyed by content, so configs that share a model (a calibrator's val and test runs, the ranks of one launch)
    legitimately ask for the same training; once the first is done, the waiting one resumes from its final
    checkpoint without training again."""
    train_cfg = train_settings(cfg, upstream.section(cfg, "train"))  # what train_dir_for keys by
    train_set = DATASETS.build(train_cfg.pop("dataset"))
    val_spec = train_cfg.pop("val_dataset", None)
    val_set = DATASETS.build(val_spec) if val_spec else None
    seed_everything(train_cfg["seed"])  # model init and shuffling follow it
    with run_lock(train_dir_for(cfg), what="training", wait=True):  # see the docstring
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
    """``bench run``: evaluate every (unfinished) sample, aggregate on rank 0, write results; returns the run dir.

    Rank 0 holds the run folder's lock (:mod:`bench.runlock`) from before the store is read until the results are
    written. SIGTERM (Slurm's pre-emption notice) stops the run as Ctrl-C does: computed samples are written, and
    :class:`RunInterrupted` says how many are stored and how to resume. A chunk that cannot be written (full disk,
    read-only folder) loses nothing: its samples go to a rescue folder (:func:`rescue_dir`) and the error says how
    to move them back.
    """
    started = time.time()
    upstream_facts = upstream.resolve(cfg)  # before anything is built: may train or run other configs
    env = dist.init(cfg.run.device)
    device = pick_device(cfg.run.device, env.local_rank)
    chash = config_hash(cfg)
    run_dir = run_dir_for(cfg, chash)
    store = SampleStore(run_dir, chash, env.rank, int(cfg.run.flush_every), float(cfg.run.flush_seconds))
    resume_command = f"bench run {run_dir / CONFIG_FILE} --resume --work-dir {run_dir}"
    with _sigterm_raises(), contextlib.ExitStack() as lock:
        try:
            _evaluate(cfg, env, device, run_dir, store, lock, resume=resume, wandb_mode=wandb_mode,
                      progress=progress, started=started, upstream_facts=upstream_facts)
        except BaseException as error:
            failure = _save_pending(store, run_dir, resume_command, after=error)
            if isinstance(error, (KeyboardInterrupt, Terminated)):
                signum = error.signum if isinstance(error, Terminated) else signal.SIGINT
                raise RunInterrupted(signum, store, resume_command, failure) from error
            if failure is not None:
                raise failure from error
            raise
        finally:
            dist.shutdown()
    return run_dir


def _evaluate(cfg: Config, env: dist.DistEnv, device: torch.device, run_dir: Path, store: SampleStore,
              lock: contextlib.ExitStack, *, resume: bool, wandb_mode: str | None, progress: bool, started: float,
              upstream_facts: dict[str, Any]) -> None:
    """The body of :func:`evaluate` (which keeps the samples it computed, whatever stops it)."""
    problem: list[tuple[str, str] | None] = [None]
    if env.rank == 0:
        problem[0] = _refusal(lambda: lock.enter_context(run_lock(run_dir)))
    mmdist.broadcast_object_list(problem)  # every rank raises, none waits at a barrier
    _raise_refusal(problem[0])
    dataset, method, task = build(cfg)
    indices = _selected_indices(len(dataset), cfg.run.limit)

    dataset_facts: dict[str, Any] | None = None
    if env.rank == 0:
        dataset_facts = {**dataset.describe(), "fingerprint": dataset.fingerprint()}
        problem[0] = _refusal(lambda: _open_run(run_dir, cfg, dataset, indices, store, dataset_facts, resume))
    mmdist.broadcast_object_list(problem)
    _raise_refusal(problem[0])
    done = store.finished_ids() if resume else set()
    mmdist.barrier()  # every rank has read the store before any rank writes to it
    todo = [i for i in indices if dataset.sample_id(i) not in done]
    mine = todo[env.rank::env.world_size]
    sessions: dict[str, Any] = {}
    if env.rank == 0:
        sessions = _record_session(run_dir, {
            "started": _iso(started), "batch_size": int(cfg.run.batch_size), "world_size": env.world_size,
            "precision": cfg.run.precision, "device": _device_name(device), "samples": len(todo)})

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
    found = _predict(method, task, dataset, mine, store, cfg, device, show=progress and env.rank == 0,
             desc=f"{cfg.name} [{len(done)} resumed]" if done else cfg.name)
    store.flush()
    predict_s = time.perf_counter() - predict_start
    mmdist.barrier()

    if env.rank == 0:
        facts = {
            "launcher": env.launcher, "world_size": env.world_size, "device": provenance.device_info(device),
            "numerics": provenance.numerics(cfg.run.precision), "seeds": {"base_seed": int(cfg.run.seed),
            "per_sample": "sha256(base_seed:sample_id:repeat), stored in samples/"},
            "resumed_samples": len(done), "computed_samples_this_session": len(todo), **train_facts, **sessions,
            "prediction_rank0": {"samples": len(mine), "seconds": round(predict_s, 4),
                                 "samples_per_s": round(len(mine) / predict_s, 2) if mine else None},
            "started": _iso(started),
        }
        if upstream_facts:
            facts["upstream"] = upstream_facts
        checked = found if not done and env.world_size == 1 else None  # every stored sample was checked just now
        score(run_dir, cfg=cfg, dataset=dataset, task=task, method=method, extra_provenance=facts,
              wandb_mode=wandb_mode, started=started, dataset_facts=dataset_facts, repair=False,
              nonfinite_record=checked)
    mmdist.barrier()


class Terminated(BaseException):
    """SIGTERM arrived (a BaseException, as KeyboardInterrupt is, so no ``except Exception`` swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"received {signal.Signals(signum).name}")
        self.signum = signum


class RunInterrupted(BaseException):
    """A run stopped by SIGINT or SIGTERM after writing what it computed; ``exit_code`` is 128 + the signal."""

    def __init__(self, signum: int, store: SampleStore, resume_command: str,
                 failure: StoreWriteError | None = None) -> None:
        self.signum, self.exit_code = int(signum), 128 + int(signum)
        try:
            stored = f"{len(store.finished_ids())} samples are stored in {store.dir}"
        except StoreError as error:
            stored = f"the store could not be counted ({error})"
        name = signal.Signals(signum).name
        super().__init__(f"interrupted by {name}; {failure}" if failure is not None else
                         f"interrupted by {name}: {stored}; resume with `{resume_command}`")


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While the block runs, the first SIGTERM raises :class:`Terminated` in the main thread (later ones are
    ignored so the pending samples can be written); the previous handler comes back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers (a Ray or thread worker keeps its own)
        return
    received: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        if received:
            log.warning("received %s again; still writing the computed samples", signal.Signals(signum).name)
            return
        received.append(signum)
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def rescue_dir(run_dir: Path) -> Path:
    """Where samples that could not be written into ``run_dir`` go: ``$BENCH_RESCUE_DIR/<run folder name>``, else
    ``<temp dir>/bench-rescue/<run folder name>``."""
    root = os.environ.get("BENCH_RESCUE_DIR") or Path(tempfile.gettempdir()) / "bench-rescue"
    return Path(root) / run_dir.name


def _save_pending(store: SampleStore, run_dir: Path, resume_command: str,
                  after: BaseException) -> StoreWriteError | None:
    """Write the samples still pending; if that fails (or a write failed before), rescue them and return the
    error that says what is where. None when everything computed is in the store."""
    try:
        store.flush()
    except StoreWriteError as failed:
        error = failed.error
    else:
        if not isinstance(after, StoreWriteError):
            return None
        error = after.error  # an earlier write failed, the retry worked: the store is whole
        return StoreWriteError(f"a chunk write to {store.dir} failed ({error.strerror or error}); a retry "
                               f"stored every computed sample; resume with `{resume_command}`", error)
    folder = rescue_dir(run_dir)
    try:
        rows, path = store.rescue(folder)
    except OSError as second:
        return StoreWriteError(f"could not write to {store.dir} ({error.strerror or error}) nor to the rescue folder "
                               f"{folder} ({second.strerror or second}): {store.pending_rows} computed samples are "
                               f"lost; free space, then `{resume_command}` recomputes them", error)
    try:
        stored = str(len(store.finished_ids()))
    except StoreError:
        stored = "an unknown number of"
    return StoreWriteError(
        f"could not write to {store.dir} ({error.strerror or error}): {stored} samples are stored there and {rows} "
        f"were rescued to {path.parent}. Free space (or make the folder writable), then move them back and resume: "
        f"`mv {path.parent}/{store.tag}-*.pt {store.dir}/ && {resume_command}`", error)


def _refusal(step: Callable[[], Any]) -> tuple[str, str] | None:
    """Run rank 0's ``step``; a refusal (lock held, run exists, store unusable) becomes ``(class, message)`` to
    broadcast, so every rank raises it instead of waiting at a barrier."""
    try:
        step()
    except (RunFolderError, RunExistsError, StoreError) as error:
        return type(error).__name__, str(error)
    return None


def _raise_refusal(problem: tuple[str, str] | None) -> None:
    if problem is not None:
        kinds = {cls.__name__: cls for cls in (RunFolderError, RunLockedError, RunExistsError, StoreError)}
        raise kinds[problem[0]](problem[1])


def _open_run(run_dir: Path, cfg: Config, dataset: BenchDataset, indices: list[int], store: SampleStore,
              dataset_facts: dict[str, Any], resume: bool) -> None:
    """Rank 0, under the lock: refuse a folder with outputs (without ``--resume``), record the dataset, config and
    selected sample ids before any output, and repair a resumed store (duplicates, unreadable chunks)."""
    existing = store.chunk_paths()
    if existing and not resume:
        raise RunExistsError(f"{run_dir} already holds {len(existing)} chunk(s) of outputs of this config; pass "
                             "--resume to continue it, or delete the folder to start afresh")
    problem = _record_dataset(run_dir, dataset_facts, resume)
    if problem:
        raise RunExistsError(problem)
    atomic_write_text(run_dir / CONFIG_FILE, config_text(cfg))
    store.write_expected([dataset.sample_id(i) for i in indices], len(dataset))
    if existing:
        _record_repair(run_dir, store.repair())


def read_provenance(run_dir: Path) -> dict[str, Any]:
    """The run's provenance.json (empty before the run first wrote it)."""
    path = run_dir / PROVENANCE_FILE
    return read_json(path) if path.is_file() else {}


def write_provenance(run_dir: Path, prov: dict[str, Any]) -> None:
    """Replace the run's provenance.json atomically (callers read it, update their keys, write it back)."""
    atomic_write_json(run_dir / PROVENANCE_FILE, prov)


def _record_repair(run_dir: Path, repair: dict[str, Any] | None) -> None:
    """Append what :meth:`SampleStore.repair` did to ``store_repairs`` in provenance.json (if it did anything)."""
    if not repair:
        return
    prov = read_provenance(run_dir)
    prov.setdefault("store_repairs", []).append({"at": _iso(time.time()), **repair})
    write_provenance(run_dir, prov)


SESSION_SETTINGS = ("batch_size", "world_size", "precision", "device")


def _record_session(run_dir: Path, session: dict[str, Any]) -> dict[str, Any]:
    """Append this session's settings to ``sessions`` in provenance.json (before it computes anything, so an
    interrupted session is recorded too); when sessions that computed samples differ in a setting that can change
    the numerics (batch size, world size, precision, device), warn and set ``numerics_mixed``."""
    prov = read_provenance(run_dir)
    sessions = [*prov.get("sessions", []), session]
    computing = [s for s in sessions if s.get("samples")]
    differ = [key for key in SESSION_SETTINGS if len({repr(s.get(key)) for s in computing}) > 1]
    if differ and session.get("samples"):
        log.warning("%s: this session's %s differ from the earlier sessions' (%s); stored samples mix their "
                    "numerics (recorded as numerics_mixed in provenance.json)", run_dir, ", ".join(differ),
                    "; ".join(f"{k}: {sorted({repr(s.get(k)) for s in computing})}" for k in differ))
    facts = {"sessions": sessions, "numerics_mixed": bool(differ), "numerics_mixed_settings": differ}
    prov.update(facts)
    write_provenance(run_dir, prov)
    return facts


def _device_name(device: torch.device) -> str:
    return f"cuda ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else device.type


def _record_dataset(run_dir: Path, dataset_facts: dict[str, Any], resume: bool) -> str | None:
    """Write the dataset's fingerprint into provenance before any output; a resume over changed data (a new
    logit cache, another split file) is refused, because its stored samples would mix two datasets."""
    prov = read_provenance(run_dir)
    recorded = (prov.get("dataset") or {}).get("fingerprint")
    if resume and recorded not in (None, dataset_facts["fingerprint"]):
        return (f"{run_dir} holds outputs for dataset fingerprint {recorded[:12]}, but the dataset now has "
                f"{dataset_facts['fingerprint'][:12]}; delete the folder to start afresh")
    prov["dataset"] = dataset_facts
    write_provenance(run_dir, prov)
    return None


def _selected_indices(n: int, limit: int | None) -> list[int]:
    return list(range(min(int(limit), n) if limit else n))


def _predict(method: Method, task: EvalTask, dataset: BenchDataset, indices: list[int], store: SampleStore,
             cfg: Config, device: torch.device, show: bool, desc: str) -> dict[str, dict[str, Any]]:
    """Predict, check and store each batch; returns the non-finite record of what it stored (``run.nonfinite=
    "flag"``; under "error" the first non-finite batch raises before it is stored)."""
    loader = DataLoader(_Indexed(dataset, indices), batch_size=int(cfg.run.batch_size), shuffle=False,
                        num_workers=int(cfg.run.num_workers), collate_fn=method.collate,
                        pin_memory=device.type == "cuda")
    base_seed = int(cfg.run.seed)
    policy = check_policy(cfg.run.nonfinite)
    record: dict[str, dict[str, Any]] = {}
    with torch.inference_mode(), progress(total=len(indices), desc=desc, unit="sample", show=show) as bar:
        for batch in loader:
            ids = list(batch["sample_id"])
            seeds = torch.tensor([sample_seed(base_seed, sid) for sid in ids], dtype=torch.int64)
            with autocast(device, cfg.run.precision):
                outputs = task.predict(method, batch, seeds)
            outputs.update(task.featurize(outputs))  # outside autocast: the task fixes its own numerics
            found = task.nonfinite({"sample_id": ids, **outputs})
            if found and policy == "error":  # the samples before this batch are stored when the error unwinds
                raise output_error(found, f"run {store.dir.parent} (the samples computed before this batch are "
                                          "kept; --resume continues them)")
            merge_records(record, found)
            store.add(ids, batch["index"], seeds, outputs)
            bar.update(len(ids))
    return record


def score(run_dir: str | Path, *, cfg: Config | None = None, dataset: BenchDataset | None = None,
          task: EvalTask | None = None, method: Method | None = None,
          extra_provenance: dict[str, Any] | None = None, wandb_mode: str | None = "disabled",
          started: float | None = None, dataset_facts: dict[str, Any] | None = None,
          repair: bool = True, nonfinite_record: dict[str, Any] | None = None) -> dict[str, Any]:
    """Aggregate stored outputs, write results.json and provenance, then publish figures, exports and the W&B
    mirror (``bench score`` calls this without re-running the model); returns the results.

    Holds the run folder's lock, and first repairs the store (``repair``: duplicate or unreadable chunks go to
    ``samples/quarantine/``, recorded under ``store_repairs``). The sample ids and dataset facts recorded at the
    run's start (``samples/expected.json``, provenance.json) stand in for the dataset, so a run scores after its
    dataset is gone; a run written before they were recorded builds the dataset. No task reads the dataset when it
    scores: metrics, figures and exports read the store (a task's own inputs, such as reference statistics or an
    annotation file, are still read).
    """
    run_dir = Path(run_dir)
    if cfg is None:
        cfg = load_config(run_dir / CONFIG_FILE)
    chash = config_hash(cfg)
    with run_lock(run_dir, what="run or score"):
        store = SampleStore(run_dir, chash)
        repaired = store.repair() if repair else None
        _record_repair(run_dir, repaired)
        recorded = store.expected()
        if dataset_facts is None and dataset is None:
            dataset_facts = read_provenance(run_dir).get("dataset")
        if dataset is None and (recorded is None or dataset_facts is None):
            dataset = DATASETS.build(upstream.section(cfg, "dataset"))  # the recorded upstream facts: nothing reruns
        if recorded is not None:
            expected, original = recorded["sample_ids"], int(recorded["original"])
        else:
            assert dataset is not None
            expected = [dataset.sample_id(i) for i in _selected_indices(len(dataset), cfg.run.limit)]
            original = len(dataset)
        if task is None:
            task = TASKS.build(upstream.section(cfg, "task"))
        try:
            metrics = aggregate(store, task, expected)
        except StoreError as error:
            if repaired and repaired["unreadable"]:  # say why samples are missing: the chunks this call set aside
                raise StoreError(f"{error}\n  unreadable chunk(s) {', '.join(sorted(repaired['unreadable']))} were "
                                 f"moved to {store.dir / QUARANTINE}; --resume recomputes their samples") from error
            raise
        results, prov = write_run(run_dir, cfg, dataset, task, method, metrics, len(expected),
                                  extra_provenance=extra_provenance, started=started, dataset_facts=dataset_facts,
                                  original=original, nonfinite_record=nonfinite_record)
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


def write_run(run_dir: Path, cfg: Config, dataset: BenchDataset | None, task: EvalTask, method: Method | None,
              metrics: dict[str, float], effective: int, *, extra_provenance: dict[str, Any] | None = None,
              started: float | None = None, dataset_facts: dict[str, Any] | None = None,
              original: int | None = None, nonfinite_record: dict[str, Any] | None = None
              ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Write provenance.json and results.json (metrics, fitted values, paper cells) before anything is published,
    so a failing figure or export never loses a computed score; returns both records. Without ``dataset``,
    ``dataset_facts`` and ``original`` (its size) describe it; ``nonfinite_record`` is the non-finite record of
    the whole store when the caller checked every sample as it was stored (else the store is read again)."""
    if dataset is None and (dataset_facts is None or original is None):
        raise ValueError("write_run needs the dataset, or its recorded facts and size")
    if original is None:
        assert dataset is not None
        original = len(dataset)
    chash = config_hash(cfg)
    nonfinite, refused = _check_nonfinite(run_dir, cfg, task, chash, nonfinite_record)
    metrics = dict(metrics)
    fitted = method.fitted_values() if method is not None else _previous_fitted(run_dir)
    clash = sorted(set(fitted) & set(metrics))
    if clash:
        raise ValueError(f"fitted value(s) {clash} of {cfg.method.type} have the names of metrics")
    metrics.update(fitted)
    partial = bool(cfg.run.limit) and effective < original
    written, undefined = finite_metrics(metrics)
    smoke, smoke_reason = (method.smoke, method.smoke_reason) if method is not None else _previous_smoke(run_dir)
    results = {
        "run_id": f"{cfg.name}-{chash[:12]}", "name": cfg.name,
        "paper": cfg.paper.slug if cfg.get("paper") else None,
        "method": cfg.method.type, "dataset": cfg.dataset.type, "task": cfg.task.type,
        "config_sha256": chash, "status": "flagged" if nonfinite or refused else "partial" if partial else "complete",
        "smoke": bool(smoke), "smoke_reason": smoke_reason,
        "samples": {"original": original, "effective": effective, "limit": cfg.run.limit},
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
    prov = read_provenance(run_dir)
    prov.update({
        "git": provenance.git_state(), "packages": provenance.package_versions(),
        "config_sha256": chash,
        "dataset": dataset_facts or {**dataset.describe(), "fingerprint": dataset.fingerprint()},  # type: ignore[union-attr]
        "samples": results["samples"],
    })
    if method is not None:
        prov["method"] = method.provenance()
    if extra_provenance:
        prov.update(extra_provenance)
    if started is not None:
        prov["finished"] = _iso(time.time())
        prov["wall_time_s"] = round(time.time() - started, 3)
    write_provenance(run_dir, prov)
    write_results(run_dir, results)
    return results, prov


def _check_nonfinite(run_dir: Path, cfg: Config, task: EvalTask, chash: str,
                     record: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """The stored outputs' non-finite values by column (``{column: {"count", "sample_ids"}}``) and the metrics that
    refused non-finite input (``{name: why}``); under ``run.nonfinite="error"`` either is an error, so ``bench
    score`` of a store written before the check refuses it too."""
    if record is None:
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
