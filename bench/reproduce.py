"""``bench reproduce PAPER``: plan, check, run and tabulate every config that fills a paper's reported cells.

- :func:`plan`: the configs :func:`bench.catalogue.config_cells` maps to the paper's cells (the one source of the
  cell -> config mapping, the same ``bench table`` reads), optionally one table's, or the paper's demo configs, each
  preceded by the upstream configs it uses (a ``checkpoint`` upstream is a ``train`` step, a ``run`` or ``logits``
  upstream a ``run`` step), in dependency order without duplicates.
- :func:`preflight`: every file the plan needs that is not there (the paths a config names, and what each dataset
  reader requires when it is built), each with where to obtain it; and the work (samples x configs).
- :func:`execute`: every step as a resumable run (upstreams first), skipping finished ones, in this process or on
  Ray (``address``, ``max_parallel``); a failing step is recorded and only the steps that need it are skipped.
- :func:`write_report`: the paper's table (md, csv, latex) with every cell's status, and the summary of what ran,
  what was skipped and why, under ``<results root>/reproduce/<slug>[-<table>][-demo]/``.

The core never imports a paper: configs name their readers and methods through the registries.
"""
from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.config import ConfigError, configs_root, resolve_config_path
from bench.io import atomic_write_json, atomic_write_text

log = logging.getLogger("bench")

#: config keys whose string values are files or folders a run reads (``root``, ``checkpoint``, ``prompts_file``, ...)
PATH_KEY = re.compile(r"(^|_)(root|checkpoint|weights|path|file|dir|reference|stats)$")
#: the folders the README's data layout puts local files under: a value there is a path whatever its key (a
#: method's ``model`` / ``source`` checkpoint, an ADM classifier under ``adm``)
LOCAL_ROOTS = ("checkpoints/", "data/")
SECTIONS = ("dataset", "method", "task", "train")
REPORT_FORMATS = {"md": "table.md", "csv": "table.csv", "latex": "table.tex"}


@dataclass(frozen=True)
class Step:
    """One config to run (``stage`` ``run``: its evaluation; ``train``: only its train stage, for a checkpoint
    upstream), the cells it fills and the steps it needs (their :attr:`key`)."""

    config: str  # relative to configs/ (with .py) when shipped, else the file's path
    options: tuple[tuple[str, Any], ...] = ()
    stage: str = "run"
    cells: tuple[tuple, ...] = ()
    needs: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        options = json.dumps(dict(self.options), sort_keys=True) if self.options else ""
        return f"{self.stage}:{self.config}{options}"

    @property
    def label(self) -> str:
        options = " ".join(f"{k}={v}" for k, v in self.options)
        return f"{self.stage} {self.config}" + (f" ({options})" if options else "")


@dataclass
class Plan:
    """What ``bench reproduce`` runs for a paper: steps in dependency order (every step after those it needs)."""

    slug: str
    table: str | None
    demo: bool
    steps: list[Step]

    @property
    def name(self) -> str:
        return "-".join([self.slug, *([re.sub(r"[^A-Za-z0-9_.-]+", "_", self.table)] if self.table else []),
                         *(["demo"] if self.demo else [])])


@dataclass
class Missing:
    """A file or folder a step needs that is not there, and how to get it."""

    config: str
    what: str  # the config key or reader that names it
    path: str
    obtain: str
    expected: str = ""  # size / sha256 when the config or reader states them


@dataclass
class Preflight:
    """Everything missing, and the work: samples per step whose dataset could be built."""

    missing: list[Missing]
    samples: dict[str, int] = field(default_factory=dict)  # step key -> samples
    unchecked: dict[str, str] = field(default_factory=dict)  # step key -> why its dataset was not built

    def blocked(self, plan: Plan) -> dict[str, str]:
        """``{step key: reason}`` for the steps with a missing file, or needing such a step."""
        reasons: dict[str, str] = {}
        for item in self.missing:
            for step in plan.steps:
                if step.config == item.config and step.key not in reasons:
                    reasons[step.key] = f"missing {item.path}"
        for step in plan.steps:
            if step.key not in reasons:
                need = next((n for n in step.needs if n in reasons), None)
                if need:
                    reasons[step.key] = f"needs {need}, which is blocked ({reasons[need]})"
        return reasons


@dataclass
class Outcome:
    """What happened to one step: ``ran``, ``skipped`` (complete already, or blocked) or ``failed``."""

    key: str
    status: str
    reason: str = ""
    run_dir: str | None = None
    seconds: float = 0.0


# ---------------------------------------------------------------- plan


def _config_name(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(configs_root().resolve()))
    except ValueError:
        return str(path)


def _upstream_section(config: str, options: dict[str, Any]) -> dict[str, Any]:
    """The config's ``upstream`` section (read without mmengine where possible; options rarely touch it)."""
    from bench.configfile import UnsupportedConfig, read_config_dict

    path = resolve_config_path(config)
    if not options:
        try:
            return dict(read_config_dict(path, copy_=False).get("upstream") or {})
        except UnsupportedConfig:
            pass
    from bench.config import load_config, to_plain

    return dict(to_plain(load_config(path, options).get("upstream")) or {})


def plan_configs(slug: str, configs: dict[str, tuple[tuple, ...]], table: str | None = None,
                 demo: bool = False) -> Plan:
    """A plan for ``{config: cells it fills}`` (in that order): each config after the upstreams it uses."""
    steps: dict[str, Step] = {}
    visiting: list[str] = []

    def visit(config: str, options: dict[str, Any], stage: str, cells: tuple[tuple, ...]) -> str:
        name = _config_name(resolve_config_path(config))
        probe = Step(name, tuple(sorted(options.items())), stage)
        if probe.key in steps:  # met before as another config's upstream: it fills its own cells too
            if cells:
                steps[probe.key] = replace(steps[probe.key], cells=steps[probe.key].cells + cells)
            return probe.key
        if probe.key in visiting:
            raise ConfigError(f"upstream cycle: {' -> '.join([*visiting, probe.key])}; a config cannot depend on "
                              "its own products")
        visiting.append(probe.key)
        needs = []
        for entry in _upstream_section(name, options).values():
            product = entry.get("product")
            needs.append(visit(entry["config"], dict(entry.get("options") or {}),
                               "train" if product == "checkpoint" else "run", ()))
        visiting.pop()
        steps[probe.key] = Step(name, probe.options, stage, cells, tuple(dict.fromkeys(needs)))
        return probe.key

    for config, cells in configs.items():
        visit(config, {}, "run", cells)
    return Plan(slug, table, demo, list(steps.values()))


def plan(slug: str, table: str | None = None, demo: bool = False) -> Plan:
    """The paper's plan: the configs filling its reported cells (``table``: of that table only), or with ``demo``
    its demo configs (``configs/demo/<slug>_*.py``), each after its upstreams."""
    from bench.catalogue import config_cells
    from bench.reported import all_slugs
    from bench.suggest import suggest

    slugs = all_slugs()
    if slug not in slugs:
        raise ValueError(f"unknown paper {slug!r}.{suggest(slug, slugs)} `bench papers` lists them")
    if demo:
        from bench.demo import demo_configs

        if table:
            raise ValueError("--table and --demo: demo configs fill no paper table; give one or the other")
        return plan_configs(slug, {_config_name(p): () for p in demo_configs([slug])}, demo=True)
    cells = config_cells(slug)
    if table is not None:
        tables = sorted({key[0] for key in cells})
        if table not in tables:
            raise ValueError(f"{slug} has no configured table {table!r}; configured tables: "
                             f"{', '.join(tables) or 'none'}.{suggest(table, tables)}")
        cells = {key: names for key, names in cells.items() if key[0] == table}
    if not cells:
        raise ValueError(f"no config under configs/{slug}/ fills a reported cell of {slug}; `bench papers` shows "
                         "which papers have configs")
    by_config: dict[str, list[tuple]] = {}
    for key, names in cells.items():
        for name in names:
            by_config.setdefault(name, []).append(key)
    return plan_configs(slug, {name: tuple(by_config[name]) for name in sorted(by_config)}, table)


# ---------------------------------------------------------------- preflight


def _named_paths(obj: Any, where: str, owner: str = "") -> list[tuple[str, str, str]]:
    """``(config key, path, type of the dict holding it)`` for every string under a path-like key (``upstream:``
    references and URLs left out) and every string under one of :data:`LOCAL_ROOTS`."""
    found: list[tuple[str, str, str]] = []
    if isinstance(obj, dict):
        owner = str(obj.get("type", owner))
        for key, value in obj.items():
            here = f"{where}.{key}"
            named = PATH_KEY.search(str(key)) and ("/" in value or os.sep in value) if isinstance(value, str) else False
            if isinstance(value, str) and (named or value.startswith(LOCAL_ROOTS)) \
                    and not value.startswith(("upstream:", "http://", "https://")):
                found.append((here, value, owner))
            else:
                found += _named_paths(value, here, owner)
    elif isinstance(obj, (list, tuple)):
        for index, value in enumerate(obj):
            found += _named_paths(value, f"{where}[{index}]", owner)
    return found


def _reader_obtain(dataset_type: str) -> str:
    from bench.registry import DATASETS

    try:
        return str(getattr(DATASETS.get(dataset_type), "obtain", "") or "")
    except Exception:  # noqa: BLE001 - an unknown reader is reported when the dataset is built
        return ""


def preflight(the_plan: Plan) -> Preflight:
    """Check every step without running it: each path its config names exists, and its dataset builds (a reader
    requires its files as it is built; a step whose dataset is an upstream's product is not built). Every problem
    is collected, not just the first."""
    from bench.config import load_config, to_plain
    from bench.data import DatasetLayoutError
    from bench.registry import DATASETS
    from bench.upstream import references

    result = Preflight([])
    seen: set[tuple[str, str]] = set()
    for step in the_plan.steps:
        cfg = load_config(step.config, dict(step.options))
        slug = cfg.paper.slug if cfg.get("paper") else the_plan.slug
        note = (f"see configs/{slug}/README.md (which files each config expects and where the authors publish "
                "them) and docs/checkpoints.md")
        dataset = to_plain(cfg.dataset)
        for section in SECTIONS:
            for where, value, owner in _named_paths(to_plain(cfg.get(section)), section):
                if not Path(value).exists() and (step.config, value) not in seen:
                    seen.add((step.config, value))  # a reader's own advice where the path is a reader's argument
                    result.missing.append(Missing(step.config, where, value, _reader_obtain(owner) or note))
        if step.stage == "train":
            continue
        if references(dataset):
            result.unchecked[step.key] = "its dataset is an upstream's product, made by an earlier step"
            continue
        try:
            result.samples[step.key] = len(DATASETS.build(dataset))
        except DatasetLayoutError as error:
            path = str(error.path) if error.path is not None else "?"
            if (step.config, path) not in seen:
                seen.add((step.config, path))
                result.missing.append(Missing(step.config, f"dataset {dataset.get('type')}", path,
                                              _reader_obtain(dataset.get("type", "")) or note))
        except Exception as error:  # noqa: BLE001 - any other problem is reported with the step, not raised
            result.unchecked[step.key] = f"dataset not built: {type(error).__name__}: {error}"
    return result


def render_preflight(the_plan: Plan, checked: Preflight) -> str:
    """The plan (one line per step, with its cells), the checklist of missing items and the work estimate."""
    lines = [f"# bench reproduce {the_plan.name}: {len(the_plan.steps)} step(s)", ""]
    for position, step in enumerate(the_plan.steps, 1):
        role = f"{len(step.cells)} cell(s)" if step.cells else "upstream" if not the_plan.demo else "demo row"
        samples = checked.samples.get(step.key)
        lines.append(f"{position:3d}. {step.label}  [{role}]" + (f"  {samples} samples" if samples else "")
                     + (f"  needs {len(step.needs)}" if step.needs else ""))
    lines.append("")
    by_path: dict[str, list[Missing]] = {}
    for item in checked.missing:
        by_path.setdefault(item.path, []).append(item)
    if by_path:
        lines.append(f"## Missing: {len(by_path)} file(s) or folder(s)")
        for path, items in by_path.items():
            expected = next((i.expected for i in items if i.expected), "")
            lines += ["", f"- [ ] {path}" + (f" (expected {expected})" if expected else ""),
                      f"      how to get it: {' '.join(items[0].obtain.split())}",
                      f"      needed by {len(items)} config(s): "
                      + ", ".join(f"{i.config} ({i.what})" for i in items[:3]) + (" ..." if len(items) > 3 else "")]
    else:
        lines.append("Every file the plan names is present.")
    counted = sum(checked.samples.values())
    lines += ["", f"Work: {counted} samples over {len(checked.samples)} evaluated step(s) whose dataset was built "
                  f"({len(the_plan.steps)} steps in all; GPU-hours are not stated in the reported files)"]
    for key, why in checked.unchecked.items():
        lines.append(f"  not counted: {key}: {why}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- execute


def run_step(config: str, options: dict[str, Any], stage: str, wandb_mode: str | None = None) -> dict[str, Any]:
    """One step, resumable (inside a Ray worker or in this process): ``skipped`` when its results (or its trained
    checkpoint) exist already, else ``ran``; an exception becomes ``failed`` with its message."""
    from bench.config import config_hash, load_config
    from bench.results import run_dir_for, train_dir_for
    from bench.sweep import _finished
    from bench.upstream import TRAINED_FILE, UpstreamError, resolve

    started = time.perf_counter()
    try:
        cfg = load_config(config, options)
        try:  # the products of earlier steps: resolved, the hash is the one the run has
            resolve(cfg, mode="require")
            ready = True
        except UpstreamError:
            ready = False
        if stage == "train":
            from bench.runner import train

            marker = train_dir_for(cfg) / TRAINED_FILE if ready else None
            if marker is not None and marker.is_file():
                return {"status": "skipped", "reason": "trained already", "run_dir": str(marker.parent)}
            checkpoint = train(cfg)
            return {"status": "ran", "run_dir": str(Path(checkpoint).parent),
                    "seconds": time.perf_counter() - started}
        if ready:
            chash = config_hash(cfg)
            run_dir = run_dir_for(cfg, chash)
            if _finished(run_dir, chash):
                return {"status": "skipped", "reason": "complete already", "run_dir": str(run_dir)}
        from bench.runner import evaluate

        run_dir = evaluate(cfg, resume=True, wandb_mode=wandb_mode, progress=False)
        return {"status": "ran", "run_dir": str(run_dir), "seconds": time.perf_counter() - started}
    except Exception as error:  # noqa: BLE001 - one step's failure is reported, the others still run
        from bench.cli import user_message

        return {"status": "failed", "reason": f"{type(error).__name__}: {user_message(error)}",
                "seconds": time.perf_counter() - started}


def _levels(the_plan: Plan) -> list[list[Step]]:
    """Steps grouped so each group needs only steps of earlier groups (run together on Ray)."""
    depth: dict[str, int] = {}
    for step in the_plan.steps:  # dependency order: every need has its depth already
        depth[step.key] = 1 + max((depth[n] for n in step.needs), default=-1)
    levels: list[list[Step]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for step in the_plan.steps:
        levels[depth[step.key]].append(step)
    return levels


def execute(the_plan: Plan, *, blocked: dict[str, str] | None = None, address: str | None = None,
            max_parallel: int | None = None, wandb_mode: str | None = None,
            echo: Callable[[str], None] = lambda line: print(line, flush=True)) -> list[Outcome]:
    """Run every step (upstreams first): in this process one after another, or on Ray when ``address`` is given
    or ``max_parallel`` > 1 (one GPU per trial where the cluster has GPUs; on a cluster without ``max_parallel``,
    a whole dependency level at once). Finished steps are skipped; a step that
    fails, or is ``blocked`` (preflight: a file is missing), skips only the steps that need it."""
    outcomes: dict[str, Outcome] = {}
    if max_parallel is not None and max_parallel < 1:
        raise ValueError(f"max_parallel (--max-parallel) must be at least 1, got {max_parallel}")
    use_ray = address is not None or (max_parallel or 1) > 1
    known: set[str] = set()
    for step in the_plan.steps:
        if any(need not in known for need in step.needs):
            raise ValueError(f"plan of {the_plan.name}: {step.key} needs {sorted(set(step.needs) - known)}, which "
                             "no earlier step runs; build plans with bench.reproduce.plan or plan_configs")
        known.add(step.key)
    runner = _RayRunner(address, max_parallel, the_plan) if use_ray else None
    try:
        for level in _levels(the_plan):
            todo = []
            for step in level:
                why = (blocked or {}).get(step.key)
                bad = next((n for n in step.needs if outcomes[n].status != "ran" and
                            outcomes[n].reason not in ("complete already", "trained already")), None)
                if why:
                    outcomes[step.key] = Outcome(step.key, "skipped", why)
                elif bad:
                    outcomes[step.key] = Outcome(step.key, "skipped", f"needs {bad}, which "
                                                 f"{outcomes[bad].status}: {outcomes[bad].reason}")
                else:
                    todo.append(step)
            results = runner.map(todo, wandb_mode) if runner else \
                [run_step(s.config, dict(s.options), s.stage, wandb_mode) for s in todo]
            for step, result in zip(todo, results, strict=True):
                outcomes[step.key] = Outcome(step.key, result["status"], result.get("reason", ""),
                                             result.get("run_dir"), round(result.get("seconds", 0.0), 1))
            for step in level:
                done = outcomes[step.key]
                echo(f"{done.status:8s} {step.label}" + (f": {done.reason}" if done.reason else ""))
    finally:
        if runner:
            runner.close()
    return [outcomes[step.key] for step in the_plan.steps]


class _RayRunner:
    """Steps as Ray tasks (at most ``max_parallel`` at once, None: no limit), on a local Ray (``max_parallel``
    CPUs) or the cluster at ``address``."""

    def __init__(self, address: str | None, max_parallel: int | None, the_plan: Plan) -> None:
        import ray

        from bench.results import results_root
        from bench.sweep import _ray_temp_dir

        self.ray, self.max_parallel = ray, max_parallel
        self.started_here = not ray.is_initialized()
        if self.started_here:
            if address:
                ray.init(address=address, logging_level=logging.WARNING)
            else:
                folder = results_root() / "reproduce" / the_plan.name
                folder.mkdir(parents=True, exist_ok=True)
                ray.init(num_cpus=max_parallel or 1, include_dashboard=False, logging_level=logging.WARNING,
                         _temp_dir=_ray_temp_dir(folder), log_to_driver=False)
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        self.task = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=0)(run_step)

    def map(self, steps: list[Step], wandb_mode: str | None) -> list[dict[str, Any]]:
        pending, results = list(enumerate(steps)), {}
        running: dict[Any, int] = {}
        while pending or running:
            while pending and (self.max_parallel is None or len(running) < self.max_parallel):
                index, step = pending.pop(0)
                running[self.task.remote(step.config, dict(step.options), step.stage, wandb_mode)] = index
            ready, _ = self.ray.wait(list(running), num_returns=1)
            for ref in ready:
                index = running.pop(ref)
                try:
                    results[index] = self.ray.get(ref)
                except Exception as error:  # noqa: BLE001 - a worker that died: that step failed
                    results[index] = {"status": "failed", "reason": f"{type(error).__name__}: {error}"}
        return [results[i] for i in range(len(steps))]

    def close(self) -> None:
        if self.started_here:
            self.ray.shutdown()


# ---------------------------------------------------------------- report


def table_text(the_plan: Plan, outcomes: list[Outcome], fmt: str) -> str:
    """The paper's table (only ``the_plan.table``'s rows when set) from every run root ``bench table`` reads, or
    for a demo plan the table of its runs."""
    from bench import tables

    if the_plan.demo:
        run_dirs = [Path(o.run_dir) for o in outcomes if o.run_dir and o.key.startswith("run:")
                    and (Path(o.run_dir) / "results.json").is_file()]
        frame = tables.runs_table(run_dirs)
        return tables.render(frame.dropna(axis="columns", how="all") if len(frame) else [], fmt)
    if the_plan.table is None and fmt == "md":
        return tables.render_paper(the_plan.slug, fmt)
    rows = [row for row in tables.paper_rows(the_plan.slug)
            if the_plan.table is None or row["table"] == the_plan.table]
    return tables.render(rows, fmt)


def summary_rows(the_plan: Plan, outcomes: list[Outcome]) -> list[dict[str, Any]]:
    steps = {step.key: step for step in the_plan.steps}
    return [{"step": steps[o.key].label, "cells": len(steps[o.key].cells), "status": o.status, "reason": o.reason,
             "seconds": o.seconds, "run_dir": o.run_dir or ""} for o in outcomes]


def write_report(the_plan: Plan, outcomes: list[Outcome], checked: Preflight | None = None,
                 folder: Path | None = None) -> Path:
    """``table.md`` / ``table.csv`` / ``table.tex``, ``summary.md``, ``summary.json`` and ``preflight.md`` under
    ``<results root>/reproduce/<plan name>/`` (or ``folder``); returns the folder."""
    from bench import tables
    from bench.results import results_root

    folder = folder or results_root() / "reproduce" / the_plan.name
    folder.mkdir(parents=True, exist_ok=True)
    for fmt, name in REPORT_FORMATS.items():
        atomic_write_text(folder / name, table_text(the_plan, outcomes, fmt))
    if checked is not None:
        atomic_write_text(folder / "preflight.md", render_preflight(the_plan, checked))
    rows = summary_rows(the_plan, outcomes)
    counts = {status: sum(o.status == status for o in outcomes) for status in ("ran", "skipped", "failed")}
    atomic_write_text(folder / "summary.md", tables.render(rows, "md", title=f"bench reproduce {the_plan.name}: "
                      + ", ".join(f"{k} {v}" for k, v in counts.items())))
    atomic_write_json(folder / "summary.json", {
        "slug": the_plan.slug, "table": the_plan.table, "demo": the_plan.demo, "counts": counts,
        "steps": [{**asdict(step), "key": step.key, "cells": [list(c) for c in step.cells]}
                  | asdict(outcome) for step, outcome in zip(the_plan.steps, outcomes, strict=True)],
        "missing": [asdict(m) for m in checked.missing] if checked else []})
    return folder
