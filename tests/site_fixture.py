"""A results tree for the site tests (tests/test_site.py, tests/test_site_browser.py): four papers of our own, one per
catalogue status, with reported files in the results/reported format, adapters' status.toml files, run folders and a
demo summary written by bench.demo's own writer.

``alpha`` (faithful, has a demo) reports five cells in table ``main`` whose runs give every cell status:

====================  ==========  =================  ==============================================  ==============
cell                  reported    run value          why                                             status
====================  ==========  =================  ==============================================  ==============
GTEA Acc              80.3        80.34              |delta| 0.04 <= half the last digit (0.05)      match
GTEA Edit             85.2        85.6               0.4 > 0.05 (half of the last digit, 0.1)...     within tolerance
                                                     ...and <= the table tolerance 0.5
GTEA F1@10            90.1        70.0               20.1 > 0.5                                      mismatch
Salads Acc            88.2        (none)             no run                                          missing
Salads Edit           84.0        83.9 smoke run     a smoke run never fills a cell                  smoke
GTEA F1@50            (none)      77.5               filled by a run, not reported                   unreported
====================  ==========  =================  ==============================================  ==============

and a second table ``ablation`` with one missing cell. ``beta`` (re-implementation whose foundation weights are not
here: "smoke here") has one missing cell, ``gamma`` (in progress) one missing cell, ``delta`` (no adapter: not
started) no table at all: the empty paper.
"""
from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PAPERS = ("alpha", "beta", "delta", "gamma")
LABELS = {"alpha": "faithful", "beta": "re-implementation, smoke here", "gamma": "in progress (re-implementation)",
          "delta": "not started"}
ALPHA_COUNTS = {"match": 1, "within tolerance": 1, "mismatch": 1, "missing": 2, "smoke": 1, "unreported": 1}
STATUS_FILES = {
    "alpha": 'implementation = "faithful"\n',
    "beta": 'implementation = "re-implementation"\nfoundation_weights_not_here = "the fixture\'s foundation model"\n',
    "gamma": 'implementation = "re-implementation"\nin_progress = "the fixture adapter is unfinished"\n',
}


def png_bytes(width: int = 8, height: int = 6) -> bytes:
    """A valid RGB PNG (a red-to-blue gradient) built with zlib alone."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    rows = b"".join(b"\x00" + b"".join(bytes((255 * x // width, 0, 255 - 255 * x // width)) for x in range(width))
                    for _ in range(height))
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes((8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def reported(slug: str, title: str, family: str, tables: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schema_version": 1,
            "paper": {"slug": slug, "title": title, "arxiv": "2601.00001", "venue": "Fixture 2026",
                      "official_code": "none", "task_family": family, "datasets": ["GTEA"], "metrics": ["Acc"]},
            "tolerance": {"default": 0.5}, "tables": tables, "unknown": [f"{slug}: the appendix numbers: unknown."]}


def entry(dataset: str, metric: str, value: float, source: str = "paper") -> dict[str, Any]:
    return {"setting": {"dataset": dataset}, "metric": metric, "value": value, "unit": "%", "source": source}


REPORTS = {
    "alpha": reported("alpha", "Alpha: every cell status", "temporal action segmentation", [
        {"id": "main", "title": "Main results", "source": "paper Table 1", "notes": "A <fixture> note & more.",
         "entries": [entry("GTEA", "Acc", 80.3), entry("GTEA", "Edit", 85.2, "secondary: a survey"),
                     entry("GTEA", "F1@10", 90.1), entry("50Salads", "Acc", 88.2, "official README"),
                     entry("50Salads", "Edit", 84.0)]},
        {"id": "ablation", "title": "Ablation", "entries": [entry("GTEA", "Acc", 79.0, "paper Table 4")]}]),
    "beta": reported("beta", "Beta: smoke here", "diffusion sampling", [
        {"id": "main", "title": "Main", "entries": [entry("GTEA", "Acc", 50.0)]}]),
    "gamma": reported("gamma", "Gamma: in progress", "video generation", [
        {"id": "t1", "title": "Table 1", "entries": [entry("GTEA", "Acc", 12.5)]}]),
    "delta": reported("delta", "Delta: reported numbers only, none of them known", "detection", []),
}


@dataclass
class SiteTree:
    """Where the fixture lives: the reported folder, the results root (runs and demo summary) and a figure."""

    reported: Path
    results: Path
    runs: Path
    figure: Path

    @property
    def roots(self) -> list[Path]:
        return [self.results / "reproduced", self.runs]


def write_run(root: Path, name: str, cells: list[tuple[str, str, str, float]], smoke: bool = False,
              figures: dict[str, str] | None = None, provenance: bool = True, paper: str | None = "alpha",
              created: str = "2026-03-01T00:00:00+00:00") -> Path:
    """A run folder as the runner writes it: results.json (the keys the tables read), provenance.json, figures."""
    run_dir = root / (paper or "demo") / name
    (run_dir / "figures").mkdir(parents=True)
    for rel in (figures or {}).values():
        if not rel.startswith("gone"):
            (run_dir / rel).write_bytes(png_bytes())
    results = {"schema_version": 1, "run_id": name, "name": name.split("-")[0], "paper": paper, "method": "M",
               "dataset": "D", "task": "t", "config_sha256": "0" * 64, "status": "complete", "smoke": smoke,
               "smoke_reason": "random weights" if smoke else None, "samples": {}, "metrics": {},
               "figures": figures or {}, "created": created,
               "cells": [{"table": t, "setting": {"dataset": d}, "metric": m, "value": v} for t, d, m, v in cells]}
    (run_dir / "results.json").write_text(json.dumps(results))
    if provenance:
        (run_dir / "provenance.json").write_text(json.dumps({"seeds": {"base_seed": 0}, "wall_s": 1.0}))
    return run_dir


def make_tree(base: Path, monkeypatch: pytest.MonkeyPatch) -> SiteTree:
    """Write the fixture under ``base`` and point bench's reported numbers, adapters and configs at it."""
    import bench.catalogue
    import bench.reported

    reported_dir, methods, configs = base / "reported", base / "methods", base / "configs"
    reported_dir.mkdir(parents=True)
    for slug, data in REPORTS.items():
        (reported_dir / f"{slug}.json").write_text(json.dumps(data))
    for slug, text in STATUS_FILES.items():
        (methods / slug).mkdir(parents=True)
        (methods / slug / "__init__.py").write_text("")
        (methods / slug / "status.toml").write_text(text)
    (configs / "demo").mkdir(parents=True)
    (configs / "demo" / "alpha_toy.py").write_text("# the fixture's demo config (never loaded)\n")
    monkeypatch.setattr(bench.reported, "reported_root", lambda: reported_dir)
    monkeypatch.setattr(bench.catalogue, "methods_root", lambda: methods)
    monkeypatch.setattr(bench.catalogue, "configs_root", lambda: configs)
    bench.catalogue.config_cells.cache_clear()  # keyed by slug only: forget any other test's configs root

    results = base / "results"
    runs = results / "runs"
    write_run(results / "reproduced", "alpha_main-aaaa", [("main", "GTEA", "Acc", 80.34)],
              figures={"reliability": "figures/reliability.png"}, created="2026-01-01T00:00:00+00:00")
    write_run(runs, "alpha_edit-bbbb", [("main", "GTEA", "Edit", 85.6), ("main", "GTEA", "F1@50", 77.5)],
              figures={"barcode": "figures/barcode.png", "overlay": "gone/overlay.png"}, provenance=False)
    write_run(runs, "alpha_f1-cccc", [("main", "GTEA", "F1@10", 70.0)])
    write_run(runs, "alpha_smoke-dddd", [("main", "50Salads", "Edit", 83.9)], smoke=True)
    (runs / "alpha" / "alpha_smoke-dddd" / "figures" / "extra_grid.png").write_bytes(png_bytes(4, 4))
    demo_run = write_run(runs, "alpha_toy-eeee", [], paper=None, figures={"samples": "figures/samples.png"})

    from bench.demo import DemoReport, DemoSummary, GroupOutcome, write_summary

    figure = demo_run / "figures" / "samples.png"
    alpha = GroupOutcome("alpha", ["alpha_toy"], elapsed_s=2.5, run_dirs=[demo_run],
                         summary=DemoSummary({"accuracy": 0.8125, "steps": 20}, "the toy learns: 81.2% accuracy",
                                             [str(figure)]))
    harness = GroupOutcome("harness", ["harness_digits"], elapsed_s=1.0, error="RuntimeError: boom",
                           failed_config="harness_digits")
    write_summary(DemoReport([harness, alpha]), results / "demo", profile="quick")
    return SiteTree(reported_dir, results, runs, figure)


VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Node:
    """An element of a parsed page: tag, attributes, children (nodes and text)."""

    tag: str
    attrs: dict[str, str]
    children: list[Node | str]

    def text(self) -> str:
        """The element's text with runs of whitespace as one space, as a reader sees it."""
        parts = [child if isinstance(child, str) else child.text() for child in self.children]
        return " ".join("".join(parts).split())

    def iter(self, *tags: str) -> list[Node]:
        """Every descendant element (document order) whose tag is one of ``tags`` (all when none given)."""
        found = []
        for child in self.children:
            if isinstance(child, Node):
                if not tags or child.tag in tags:
                    found.append(child)
                found += child.iter(*tags)
        return found

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


def parse_html(text: str) -> Node:
    """The page as a tree of :class:`Node` (stdlib ``html.parser``; entities decoded, void elements closed)."""
    from html.parser import HTMLParser

    root = Node("#document", {}, [])
    stack = [root]

    class Builder(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            node = Node(tag, {k: v or "" for k, v in attrs}, [])
            stack[-1].children.append(node)
            if tag not in VOID_TAGS:
                stack.append(node)

        def handle_endtag(self, tag: str) -> None:
            if tag in VOID_TAGS:
                return
            assert any(node.tag == tag for node in stack), f"</{tag}> closes nothing"
            while stack.pop().tag != tag:
                pass

        def handle_data(self, data: str) -> None:
            stack[-1].children.append(data)

    builder = Builder()
    builder.feed(text)
    builder.close()
    assert len(stack) == 1, f"unclosed elements: {[node.tag for node in stack[1:]]}"
    return root
