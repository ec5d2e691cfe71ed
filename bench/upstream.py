"""Declared dependencies between configs: the ``upstream`` section, resolved by the runner before anything is built.

A config names what it uses from other configs::

    upstream = dict(classifier=dict(config="demo/harness_digits", product="checkpoint",
                                    options={"train.epochs": 8}))  # options: the upstream's --cfg-options
    task = dict(extractor=dict(type="TrainedClassifierFeatures", method="upstream:classifier.method",
                               checkpoint="upstream:classifier"))

Products: ``checkpoint`` (the upstream's train stage runs or resumes; its final checkpoint path), ``run`` (the
upstream evaluation runs or resumes; its run directory) and ``logits`` (a ``run`` whose results are complete, for a
logits reader such as ``CachedLogits(run_dir=...)``). In the ``dataset``, ``method``, ``task`` and ``train``
sections the string ``"upstream:<name>"`` stands for the product's path and ``"upstream:<name>.method"`` for the
upstream config's (resolved) ``method`` section, whatever the product (a run's ``.method`` is the method that run
evaluates, e.g. an attribution method a counterfactual evaluation re-scores with). Resolution records
``resolved=dict(config_sha256, path, sha256 | results_sha256, method)`` in each entry, so the facts enter the
downstream config hash, ``config.py`` and ``provenance.json``; components only ever see paths and never train or run
anything themselves.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from bench.config import ConfigError, to_plain

PRODUCTS = ("checkpoint", "run", "logits")
ENTRY_KEYS = ("config", "product", "options", "resolved")
PREFIX = "upstream:"
SECTIONS = ("dataset", "method", "task", "train")  # where references may appear
TRAINED_FILE = "trained.json"  # written by a train stage beside its checkpoints: {"checkpoint", "sha256"}
_REFERENCE = re.compile(r"^upstream:([A-Za-z_]\w*)(\.method)?$")


class UpstreamError(ConfigError):
    """An upstream is malformed, missing, cyclic, unresolved, or its product does not exist yet."""


def references(obj: Any) -> set[tuple[str, str | None]]:
    """Every ``(name, part)`` that ``"upstream:<name>[.method]"`` strings inside ``obj`` refer to."""
    found: set[tuple[str, str | None]] = set()
    if isinstance(obj, str) and obj.startswith(PREFIX):
        match = _REFERENCE.match(obj)
        found.add((match.group(1), "method" if match.group(2) else None) if match else (obj, "malformed"))
    elif isinstance(obj, dict):
        for value in obj.values():
            found |= references(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            found |= references(value)
    return found


def validate_section(cfg: Any, source: str) -> None:
    """Check the ``upstream`` section's entries and that every reference in the config names a declared entry."""
    section = to_plain(cfg.get("upstream") or {})
    if not isinstance(section, dict):
        raise UpstreamError(f"{source}: 'upstream' must be a dict of name -> dict(config=..., product=...)")
    for name, entry in section.items():
        where = f"{source}: upstream {name!r}"
        if not re.fullmatch(r"[A-Za-z_]\w*", name):
            raise UpstreamError(f"{where}: the name must be an identifier (it is referenced as 'upstream:{name}')")
        if not isinstance(entry, dict):
            raise UpstreamError(f"{where}: expected dict(config=..., product=...), got {entry!r}")
        unknown = [k for k in entry if k not in ENTRY_KEYS]
        if unknown:
            from bench.registry import suggest

            raise UpstreamError(f"{where}: unknown key(s) {unknown}.{suggest(unknown[0], ENTRY_KEYS)} "
                                f"Allowed: {', '.join(ENTRY_KEYS)}.")
        if not isinstance(entry.get("config"), str) or not entry["config"]:
            raise UpstreamError(f"{where}: 'config' must be a config name or path")
        if entry.get("product") not in PRODUCTS:
            raise UpstreamError(f"{where}: unknown product {entry.get('product')!r}; choose one of "
                                f"{', '.join(PRODUCTS)}")
        if not isinstance(entry.get("options", {}), dict):
            raise UpstreamError(f"{where}: 'options' must be a dict of --cfg-options overrides, e.g. "
                                "{'dataset.split': 'val'}")
    used: set[str] = set()
    for key in SECTIONS:
        for name, part in references(to_plain(cfg.get(key))):
            if part == "malformed":
                raise UpstreamError(f"{source}: {key} holds {name!r}; a reference reads 'upstream:<name>' or "
                                    "'upstream:<name>.method'")
            if name not in section:
                raise UpstreamError(f"{source}: {key} refers to 'upstream:{name}', but the upstream section declares "
                                    f"{sorted(section) or 'nothing'}; add upstream = dict({name}=dict(config=..., "
                                    "product=...))")
            used.add(name)
    unused = sorted(set(section) - used)
    if unused:
        raise UpstreamError(f"{source}: upstream {unused} declared but never referenced; use 'upstream:<name>' in "
                            "the dataset, method, task or train section, or remove it")


def substitute(obj: Any, cfg: Any, where: str = "config") -> Any:
    """``obj`` (plain data) with every upstream reference replaced by the resolved product of ``cfg``."""
    if isinstance(obj, str) and obj.startswith(PREFIX):
        (name, part), = references(obj)
        entry = to_plain((cfg.get("upstream") or {}).get(name)) or {}
        facts = entry.get("resolved")
        if not facts:
            raise UpstreamError(f"{where} refers to {obj!r}, which is not resolved: the runner resolves upstreams "
                                "before building (bench run / train / validate); to build a component directly, "
                                "give the product's path instead")
        return facts["method"] if part == "method" else facts["path"]
    if isinstance(obj, dict):
        return {k: substitute(v, cfg, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, list):
        return [substitute(v, cfg, f"{where}[{i}]") for i, v in enumerate(obj)]
    return obj


def section(cfg: Any, key: str) -> Any:
    """A config section as plain data with its upstream references replaced (what the registries build)."""
    return substitute(to_plain(cfg.get(key)), cfg, key)


def require_path(value: Any, where: str) -> str:
    """``value`` as a path, refusing an unresolved ``"upstream:..."`` reference (constructors never resolve)."""
    if isinstance(value, str) and value.startswith(PREFIX):
        raise UpstreamError(f"{where} is {value!r}, an unresolved upstream reference: build through the runner "
                            "(bench run / train), which resolves upstreams first, or pass the path itself")
    if not isinstance(value, (str, Path)):
        raise UpstreamError(f"{where} must be a path (or 'upstream:<name>' in a config), got {value!r}")
    return str(value)


def check_graph(cfg: Any, source: str, chain: tuple[tuple[str, str], ...] = ()) -> None:
    """Load every upstream config, transitively, before anything runs: a missing config or a cycle is an error
    naming the chain."""
    from bench.config import load_config, resolve_config_path

    for name, entry in to_plain(cfg.get("upstream") or {}).items():
        try:
            path = resolve_config_path(entry["config"])
        except FileNotFoundError as error:
            raise UpstreamError(f"{source}: upstream {name!r}: {error}") from None
        options = entry.get("options") or {}
        key = (str(path.resolve()), json.dumps(options, sort_keys=True))
        here = chain or ((str(Path(source).resolve()), "{}"),)
        if key in here:
            names = [Path(p).stem for p, _ in here] + [path.stem]
            raise UpstreamError(f"upstream cycle: {' -> '.join(names)} (each config's upstream section names the "
                                "next); a config cannot depend on its own products")
        check_graph(load_config(path, options), str(path), here + (key,))


def resolve(cfg: Any, mode: str = "produce") -> dict[str, dict[str, Any]]:
    """Resolve every upstream of ``cfg`` in place (``mode`` ``produce``: train or run what is missing;
    ``require``: error naming the command when a product is missing); returns ``{name: facts}``."""
    if mode not in ("produce", "require"):
        raise ValueError(f"mode must be 'produce' or 'require', got {mode!r}")
    section_cfg = cfg.get("upstream") or {}
    if not section_cfg:
        return {}
    pending = [name for name, entry in section_cfg.items() if not entry.get("resolved")]
    if pending:
        check_graph(cfg, cfg.filename or cfg.name)
    for name in pending:
        entry = to_plain(section_cfg[name])
        cfg.upstream[name]["resolved"] = _resolve_entry(name, entry, mode)
    return {name: to_plain(entry["resolved"]) for name, entry in cfg.upstream.items()}


def _command(verb: str, entry: dict[str, Any]) -> str:
    options = "".join(f" --cfg-options {k}={v}" for k, v in (entry.get("options") or {}).items())
    return f"bench {verb} {entry['config']}{options}"


def _resolve_entry(name: str, entry: dict[str, Any], mode: str) -> dict[str, Any]:
    from bench.config import config_hash, load_config

    ucfg = load_config(entry["config"], entry.get("options") or None)
    resolve(ucfg, mode)  # its own upstreams first (the graph has no cycle)
    if entry["product"] == "checkpoint":
        return _checkpoint(name, entry, ucfg, mode)
    chash = config_hash(ucfg)
    return _run(name, entry, ucfg, chash, mode)


def _checkpoint(name: str, entry: dict[str, Any], ucfg: Any, mode: str) -> dict[str, Any]:
    from bench.config import config_hash
    from bench.io import read_json
    from bench.results import train_dir_for

    if not ucfg.get("train"):
        raise UpstreamError(f"upstream {name!r}: config {entry['config']!r} has no train section, so it has no "
                            "checkpoint; use product 'run' or 'logits' for its evaluation")
    marker = train_dir_for(ucfg) / TRAINED_FILE
    if mode == "produce" and not marker.is_file():
        from bench import dist

        if dist.detect().world_size > 1:
            raise UpstreamError(f"upstream {name!r} is not trained and this is a multi-process launch: train it "
                                f"first with `{_command('train', entry)}`")
        from bench.runner import train

        train(ucfg)
    if not marker.is_file():
        raise UpstreamError(f"upstream {name!r}: {entry['config']!r} is not trained yet ({marker} is missing); "
                            f"produce it with `{_command('train', entry)}`")
    trained = read_json(marker)
    if not Path(trained["checkpoint"]).exists():
        raise UpstreamError(f"upstream {name!r}: {marker} names {trained['checkpoint']}, which is gone; retrain "
                            f"with `{_command('train', entry)}`")
    return {"config_sha256": config_hash(ucfg), "path": trained["checkpoint"], "sha256": trained["sha256"],
            "method": section(ucfg, "method")}


def _run(name: str, entry: dict[str, Any], ucfg: Any, chash: str, mode: str) -> dict[str, Any]:
    from bench.io import sha256_json
    from bench.results import RESULTS_FILE, read_results, run_dir_for

    run_dir = run_dir_for(ucfg, chash)
    finished = (run_dir / RESULTS_FILE).is_file() and read_results(run_dir)["config_sha256"] == chash
    if not finished and mode == "produce":
        from bench.runner import evaluate

        evaluate(ucfg, resume=True, progress=False)
        finished = (run_dir / RESULTS_FILE).is_file()
    if not finished:
        raise UpstreamError(f"upstream {name!r}: no finished run of {entry['config']!r} at {run_dir}; produce it "
                            f"with `{_command('run', entry)}`")
    results = read_results(run_dir)
    if entry["product"] == "logits" and results["status"] != "complete":
        raise UpstreamError(f"upstream {name!r}: the run at {run_dir} is {results['status']!r} (run.limit); its "
                            f"logits must cover every sample: rerun with `{_command('run', entry)} --resume` "
                            "and no run.limit")
    measured = {k: v for k, v in results.items() if k != "created"}  # a rescore alone changes no fact
    return {"config_sha256": chash, "path": str(run_dir), "results_sha256": sha256_json(measured),
            "method": section(ucfg, "method")}


def sha256_path(path: str | Path) -> str:
    """sha256 of a file, or of a folder (a diffusers pipeline) as its sorted relative file names and contents. A
    folder's run-lock files (:data:`bench.runlock.LOCK_FILE`) are left out: they name the last process that wrote
    there, not what the folder holds (a product folder that is locked while it is filled, such as a retrained-losses
    artefact, would otherwise change its hash each time it is reopened)."""
    from bench.io import sha256_file
    from bench.runlock import LOCK_FILE

    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file() and p.name != LOCK_FILE):
        digest.update(f"{file.relative_to(path).as_posix()}\0{sha256_file(file)}\n".encode())
    return digest.hexdigest()


def training_facts(cfg: Any) -> dict[str, Any]:
    """The resolved facts of the upstreams that the method's training view or the train section refer to (part of
    the train folder's key, so a retrained upstream retrains its downstream)."""
    from bench.config import content_facts
    from bench.results import training_view

    names = {n for n, _ in references(training_view(to_plain(cfg.method))) | references(to_plain(cfg.get("train")))}
    facts = {}
    for name in sorted(names):
        resolved = to_plain(cfg.upstream[name].get("resolved"))
        if not resolved:
            raise UpstreamError(f"the train stage uses 'upstream:{name}', which is not resolved yet: resolve the "
                                "config's upstreams first (bench.upstream.resolve)")
        facts[name] = {k: v for k, v in content_facts(resolved).items() if k != "method"}
    return facts
