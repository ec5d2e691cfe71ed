"""The paper catalogue behind ``bench papers``: identity from the reported files, status from the tree.

An adapter package ``methods/<slug>/`` declares its status in ``methods/<slug>/status.toml`` (package data),
read here without importing the adapter (so listing papers imports no torch). Keys:

- ``implementation`` (required): ``"faithful"`` (follows the official code and loads its checkpoints) or
  ``"re-implementation"`` (from the paper's description, no runnable official code);
- ``foundation_weights_not_here``: which foundation weights the paper's configs need that are not on this
  machine (runs here then build the method with random/tiny weights, and each such run says so itself through
  ``Method.smoke``);
- ``not_reproducible``: a sentence on what cannot be reproduced and why;
- ``in_progress``: a sentence on what exists while the adapter is unfinished (then nothing can run yet).
"""
from __future__ import annotations

import importlib.util
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

from bench.config import configs_root, paper_section
from bench.reported import Entry, PaperReport, cell_key, load_all
from bench.results import paper_metric_specs


STATUS_FILE = "status.toml"
IMPLEMENTATIONS = ("faithful", "re-implementation")
STATUS_KEYS = ("implementation", "foundation_weights_not_here", "not_reproducible", "in_progress")


def methods_root() -> Path:
    """The folder installed as ``bench.methods``, found without importing it (its ``__init__`` imports adapters)."""
    spec = importlib.util.find_spec("bench.methods")  # imports only the parent package ``bench``
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("bench.methods is not installed; reinstall bench (README quick start)")
    return Path(list(spec.submodule_search_locations)[0])


def adapter_status(slug: str, root: Path | None = None) -> dict[str, str] | None:
    """``methods/<slug>/status.toml`` checked against :data:`STATUS_KEYS`, or None when the paper has no adapter."""
    package = (root or methods_root()) / slug
    if not (package / "__init__.py").is_file():
        return None
    path = package / STATUS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: every adapter package declares its status there; add it "
                                "with implementation = 'faithful' or 're-implementation' (README 'Adding a paper')")
    with path.open("rb") as handle:
        status = tomllib.load(handle)
    unknown = sorted(set(status) - set(STATUS_KEYS))
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; the keys are {', '.join(STATUS_KEYS)}")
    if status.get("implementation") not in IMPLEMENTATIONS:
        raise ValueError(f"{path}: implementation must be one of {IMPLEMENTATIONS}, "
                         f"got {status.get('implementation')!r}")
    bad = sorted(k for k, v in status.items() if not isinstance(v, str) or not v.strip())
    if bad:
        raise ValueError(f"{path}: {bad} must be non-empty strings (leave a key out when it does not apply)")
    return status


@lru_cache(maxsize=None)
def config_cells(slug: str) -> dict[tuple, tuple[str, ...]]:
    """The table cells the configs under ``configs/<slug>/`` fill (their ``paper`` sections), with the configs
    filling each: a reported cell no config names is one this harness cannot reproduce as it stands. The sections are
    read without mmengine (:func:`bench.config.paper_section`), so listing papers stays fast."""
    root = configs_root() / slug
    cells: dict[tuple, list[str]] = {}
    for path in sorted(root.rglob("*.py")) if root.is_dir() else []:
        if "_base_" in path.relative_to(root).parts:
            continue
        for spec in paper_metric_specs(paper_section(path)):
            key = cell_key(spec["table"], spec["setting"], spec["metric"])
            cells.setdefault(key, []).append(str(path.relative_to(configs_root())))
    return {key: tuple(names) for key, names in cells.items()}


def is_configured(entry: Entry, slug: str) -> bool:
    """Whether a config fills the reported cell, or every cell a ``mean_of`` entry averages."""
    cells = config_cells(slug)
    return entry.key in cells or bool(entry.member_keys) and all(key in cells for key in entry.member_keys)


def paper_status(report: PaperReport) -> dict[str, Any]:
    slug = report.slug
    adapter = adapter_status(slug) or {}
    configs = sorted(str(p.relative_to(configs_root())) for p in (configs_root() / slug).rglob("*.py")) \
        if (configs_root() / slug).is_dir() else []
    demo_root = configs_root() / "demo"  # quick and full profiles (a demo too long for the quick one is full only)
    demos = sorted(str(p.relative_to(configs_root()))
                   for p in [*demo_root.glob(f"{slug}*.py"), *(demo_root / "full").glob(f"{slug}*.py")])
    implementation = adapter.get("implementation")
    if not adapter:
        status = "not started: reported numbers only"
    elif "in_progress" in adapter:
        status = f"in progress: {adapter['in_progress']}"
    elif "foundation_weights_not_here" in adapter:
        status = f"{implementation}; needs foundation weights not here ({adapter['foundation_weights_not_here']})"
    else:
        status = str(implementation)
    return {
        "slug": slug, "title": report.paper["title"], "arxiv": report.paper["arxiv"], "venue": report.paper["venue"],
        "official_code": report.paper["official_code"], "task_family": report.paper["task_family"],
        "status": status, "adapter": bool(adapter), "implementation": implementation,
        "foundation_weights_not_here": adapter.get("foundation_weights_not_here"),
        "not_reproducible": adapter.get("not_reproducible"),
        "configs": configs, "demo_configs": demos, "reported_tables": len(report.tables),
        "reported_numbers": len(report.entries), "unknown": report.unknown,
        "configured_numbers": sum(is_configured(entry, slug) for entry in report.entries),
    }


def catalogue() -> list[dict[str, Any]]:
    return [paper_status(report) for report in load_all()]
