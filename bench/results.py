"""The run directory and its result files (schema version 1).

A run directory holds:

- ``config.py``: the resolved config (mmengine format; ``bench run`` accepts it back);
- ``provenance.json``: code, packages, device, numerics, seeds, hashes, sample counts, wall time;
- ``results.json``: what the run measured (below);
- ``samples/``: per-sample outputs (see :mod:`bench.store`); ``figures/``: PNGs a task draws (reliability
  diagrams); ``wandb/``: the offline W&B mirror.

A train stage writes its checkpoints under ``<results root>/runs/<group>/train/<method>-<hash>/`` (keyed by
the method section's training view, the train settings with the effective seed and the resolved upstreams training
uses, whatever ``run.work_dir`` says: :func:`train_dir_for`), so configs that evaluate one trained model on several
splits, and sweep points that differ in eval-only keys, share it.
``bench sweep`` points are ordinary runs under ``runs/<group>/``; ``<results root>/sweeps/<name>-<tag>/`` keeps only
their summary and manifest.

``results.json`` (``schema_version`` 1) keys:

- ``run_id`` (``<name>-<config hash[:12]>``), ``name``, ``paper`` (slug or null), ``method``, ``dataset``,
  ``task``: what was evaluated (registry type names);
- ``config_sha256``: hash of the output-determining config sections;
- ``status``: ``complete``, ``partial`` (``--limit``) or ``flagged`` (non-finite outputs stored under
  ``run.nonfinite="flag"``: never a reproduction); ``smoke`` (bool) and ``smoke_reason``;
- ``samples``: ``{"original": N, "effective": n, "limit": L}``;
- ``metrics``: ``{name: value}`` as computed (fractions stay fractions), plus the values the method fitted
  before predicting (a calibrator's ``temperature`` or ``epsilon``), whose names ``fitted`` lists;
- ``figures``: ``{name: path relative to the run directory}``; ``exports``: the same for outputs written in a
  paper's own file format (DiffAct's ``prediction/<video>.txt``, generated images as PNG shards or npz);
- ``evaluation``: how the task scored the outputs, when it says (generation: the feature extractor, its weights'
  sha256 and resize method, the reference statistics file, its sha256 and N);
- ``cells``: paper-table cells this run fills: ``{"table", "setting", "metric", "value"}`` with the value in
  the paper's unit (the config's ``paper.metrics`` maps paper metric names to ``{"key", "scale"}``, plus
  ``"table"`` for a metric reported in another table of the paper, e.g. fitted parameters);
- ``created``: UTC ISO time the results were written.
- ``nonfinite`` (only when flagged): ``{column: {"count": n, "sample_ids": [first 20]}}`` of the stored outputs
  holding NaN/Inf, found at scoring time from the store; ``refused_metrics`` (only when flagged):
  ``{metric name: why}`` for metrics that refused non-finite input (their value is null).
- ``nonfinite_metrics`` (only when some value is not a finite number): the metric names written as null: a
  refused metric, or a metric's own undefined value (mIoU's per-class IoU of an absent class, Edit of a video
  without segments). Every JSON file is strict (no ``NaN``/``Infinity``); a cell of a null metric has value null.
- ``publish_errors`` (only when one failed): ``{"figures" | "exports": "ErrorType: message"}``; the scores above
  were written before publishing and stand, ``bench score RUN_DIR`` retries.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.io import atomic_write_json, read_json, sha256_json

SCHEMA_VERSION = 1
RESULTS_FILE = "results.json"
PROVENANCE_FILE = "provenance.json"
CONFIG_FILE = "config.py"
RESULT_KEYS = ("schema_version", "run_id", "name", "paper", "method", "dataset", "task", "config_sha256",
               "status", "smoke", "smoke_reason", "samples", "metrics", "cells", "created")


def results_root() -> Path:
    """Default root for runs: ``$BENCH_RESULTS_DIR`` or ``./results``."""
    import os

    return Path(os.environ.get("BENCH_RESULTS_DIR", "results"))


def paper_metric_specs(paper: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Each cell a ``paper`` section names: ``{"table", "setting", "metric", "key", "scale"}`` (``key`` is the
    computed metric that fills it, ``scale`` converts to the paper's unit). A metric's own ``table`` and
    ``setting`` replace the section's, for a run whose numbers sit in cells of different tables or settings (DPMs-ANT:
    one run fills Table 1's "DDPM-ANT" Intra-LPIPS, Table 2's "ANT" FID and the trainable-share table)."""
    if not paper:
        return []
    specs = []
    for paper_metric, spec in paper["metrics"].items():
        spec = {"key": spec} if isinstance(spec, str) else dict(spec)
        setting = dict(spec.get("setting", paper["setting"]))
        specs.append({"table": spec.get("table", paper["table"]), "setting": setting,
                      "metric": paper_metric, "key": spec["key"], "scale": float(spec.get("scale", 1.0))})
    return specs


def finite_metrics(metrics: dict[str, Any]) -> tuple[dict[str, float | None], list[str]]:
    """``metrics`` with every value that is not a finite number as ``None`` (JSON null), and those names, sorted."""
    undefined = sorted(name for name, value in metrics.items()
                       if value is None or (isinstance(value, (int, float)) and not math.isfinite(value)))
    return {name: None if name in undefined else value for name, value in metrics.items()}, undefined


def paper_cells(paper: dict[str, Any] | None, metrics: Mapping[str, float | None]) -> list[dict[str, Any]]:
    """Map computed metrics to the paper's table cells, in the paper's unit (a null metric gives a null value: the
    tables count that cell as not filled)."""
    cells = []
    for spec in paper_metric_specs(paper):
        if spec["key"] not in metrics:
            raise ValueError(f"paper metric {spec['metric']!r} maps to {spec['key']!r}, which the run did not "
                             f"compute (computed: {sorted(metrics)})")
        value = metrics[spec["key"]]
        defined = value is not None and math.isfinite(value)
        cells.append({"table": spec["table"], "setting": spec["setting"], "metric": spec["metric"],
                      "value": value * spec["scale"] if defined else None})
    return cells


def write_results(run_dir: Path, results: dict[str, Any]) -> Path:
    missing = [k for k in RESULT_KEYS if k not in results and k != "schema_version"]
    if missing:
        raise ValueError(f"results lack {missing}")
    return atomic_write_json(run_dir / RESULTS_FILE, {"schema_version": SCHEMA_VERSION, **results})


def read_results(run_dir: Path) -> dict[str, Any]:
    data = read_json(Path(run_dir) / RESULTS_FILE)
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"{run_dir}/{RESULTS_FILE}: schema_version {data.get('schema_version')} is not "
                         f"{SCHEMA_VERSION}; regenerate it with `bench score {run_dir}`")
    return data


def find_runs(*roots: Path) -> list[Path]:
    """Run directories (those with a results.json) under ``roots``, sorted."""
    found: set[Path] = set()
    for root in roots:
        if Path(root).is_dir():
            found.update(p.parent for p in Path(root).rglob(RESULTS_FILE))
    return sorted(found)


def _group(cfg: Any) -> str:
    return cfg.paper.slug if cfg.get("paper") else "demo"


def run_dir_for(cfg: Any, chash: str) -> Path:
    """A run's directory: ``run.work_dir``, else ``<results root>/runs/<paper or demo>/<name>-<hash[:12]>``."""
    if cfg.run.work_dir:
        return Path(cfg.run.work_dir)
    return results_root() / "runs" / _group(cfg) / f"{cfg.name}-{chash[:12]}"


def train_dir_for(cfg: Any) -> Path:
    """Where a train stage writes: keyed by every input training uses, the method section's training view, the
    train settings as the stage runs them (:func:`train_settings`: the seed included, ``run.seed`` when the train
    section sets none) and the upstreams training uses, so configs that evaluate the same trained model on
    different splits (a calibrator's val and test logits) or with different inference settings (the method's
    ``eval_only_params``, e.g. DiffAct's sampling steps, or a sweep's points) train it once, and a seed sweep
    trains one model per seed. Keyed by content only: ``run.work_dir`` moves the evaluation run directory, never
    training."""
    from bench.config import to_plain

    from bench.upstream import training_facts

    key = {"method": training_view(to_plain(cfg.method)), "train": train_settings(cfg)}
    facts = training_facts(cfg)  # the upstreams training uses (a teacher): a retrained one keys a new folder
    if facts:
        key["upstream"] = facts
    thash = sha256_json(key)
    return results_root() / "runs" / _group(cfg) / "train" / f"{cfg.method.type}-{thash[:12]}"


def train_settings(cfg: Any, train: dict[str, Any] | None = None) -> dict[str, Any]:
    """The train section as the train stage hands it to ``Method.fit``: ``train`` (default ``cfg.train`` as
    written, upstream references unresolved; the stage passes the resolved one) with what the stage takes from
    outside the section filled in: ``seed`` (model init, shuffling, every RNG) falls back to ``run.seed``.
    :func:`train_dir_for` keys by it and ``bench.runner`` trains with it, so the two cannot drift.

    Not taken from outside, so not keyed: ``run.device`` (where training runs, not what it learns: a model trained
    on one device is reused on another, whose rounding differs) and ``run.precision``, ``run.batch_size``,
    ``run.num_workers`` (evaluation settings; the training loops run in float32 without autocast and take their
    batch size from the train section)."""
    from bench.config import to_plain

    settings = to_plain(cfg.train) if train is None else dict(train)
    settings["seed"] = int(settings.get("seed", cfg.run.seed))
    return settings


def training_view(method_cfg: dict[str, Any]) -> dict[str, Any]:
    """The method section without the keys its class lists in ``eval_only_params`` (dotted for nested keys)."""
    from bench.registry import METHODS

    view = copy.deepcopy(method_cfg)
    for dotted in getattr(METHODS.get(method_cfg["type"]), "eval_only_params", ()):
        *parents, leaf = dotted.split(".")
        node: Any = view
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(leaf, None)
    return view
