"""The paper catalogue behind ``bench papers``: identity from the reported files, status from the tree.

An adapter package ``bench.methods.<slug>`` declares its own status in module constants, so the listing
never claims more than the code does:

- ``IMPLEMENTATION``: ``"faithful"`` (follows the official code and loads its checkpoints) or
  ``"re-implementation"`` (from the paper's description, no runnable official code);
- ``SMOKE_ONLY``: True when the method needs foundation weights that are not here, so every run is smoke;
- ``NOT_REPRODUCIBLE``: a sentence on what cannot be reproduced and why, or None;
- ``IN_PROGRESS``: a sentence on what exists while the adapter is unfinished (then nothing can run yet).
"""
from __future__ import annotations

import importlib
import importlib.util
from functools import lru_cache
from typing import Any

from bench.config import configs_root, load_config, to_plain
from bench.reported import Entry, PaperReport, cell_key, load_all
from bench.results import paper_metric_specs


def adapter_module(slug: str) -> Any | None:
    if importlib.util.find_spec(f"bench.methods.{slug}") is None:
        return None
    return importlib.import_module(f"bench.methods.{slug}")


@lru_cache(maxsize=None)
def config_cells(slug: str) -> dict[tuple, tuple[str, ...]]:
    """The table cells the configs under ``configs/<slug>/`` fill (their ``paper`` sections), with the configs
    filling each: a reported cell no config names is one this harness cannot reproduce as it stands."""
    root = configs_root() / slug
    cells: dict[tuple, list[str]] = {}
    for path in sorted(root.rglob("*.py")) if root.is_dir() else []:
        if "_base_" in path.relative_to(root).parts:
            continue
        for spec in paper_metric_specs(to_plain(load_config(path).get("paper"))):
            key = cell_key(spec["table"], spec["setting"], spec["metric"])
            cells.setdefault(key, []).append(str(path.relative_to(configs_root())))
    return {key: tuple(names) for key, names in cells.items()}


def is_configured(entry: Entry, slug: str) -> bool:
    """Whether a config fills the reported cell, or every cell a ``mean_of`` entry averages."""
    cells = config_cells(slug)
    return entry.key in cells or bool(entry.member_keys) and all(key in cells for key in entry.member_keys)


def paper_status(report: PaperReport) -> dict[str, Any]:
    slug = report.slug
    module = adapter_module(slug)
    configs = sorted(str(p.relative_to(configs_root())) for p in (configs_root() / slug).rglob("*.py")) \
        if (configs_root() / slug).is_dir() else []
    demos = sorted(str(p.relative_to(configs_root())) for p in (configs_root() / "demo").glob(f"{slug}*.py"))
    implementation = getattr(module, "IMPLEMENTATION", None) if module else None
    if module is None:
        status = "not started: reported numbers only"
    elif getattr(module, "IN_PROGRESS", None):
        status = f"in progress: {module.IN_PROGRESS}"
    elif getattr(module, "SMOKE_ONLY", False):
        status = f"{implementation}; smoke only (foundation weights not available here)"
    else:
        status = str(implementation)
    return {
        "slug": slug, "title": report.paper["title"], "arxiv": report.paper["arxiv"], "venue": report.paper["venue"],
        "official_code": report.paper["official_code"], "task_family": report.paper["task_family"],
        "status": status, "adapter": module is not None, "implementation": implementation,
        "smoke_only": bool(getattr(module, "SMOKE_ONLY", False)) if module else None,
        "not_reproducible": getattr(module, "NOT_REPRODUCIBLE", None) if module else None,
        "configs": configs, "demo_configs": demos, "reported_tables": len(report.tables),
        "reported_numbers": len(report.entries), "unknown": report.unknown,
        "configured_numbers": sum(is_configured(entry, slug) for entry in report.entries),
    }


def catalogue() -> list[dict[str, Any]]:
    return [paper_status(report) for report in load_all()]
