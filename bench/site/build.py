"""Render the static leaderboard site: ``index.html`` (every paper with its task family, status, cell status counts
and demo) and ``<slug>.html`` per paper (each reported table as ``bench table`` prints it, the runs with their result
files and figures, the latest demo result with its one-line reading).

One source of truth: the table rows are :func:`bench.tables.paper_rows`, formatted cell by cell as ``bench table``
formats them (:func:`cell_texts`), and the index counts their statuses as :func:`bench.tables.leaderboard_rows` does.
Every file a page links to (a run's ``results.json``, ``provenance.json`` and figures, the demo summary) is copied
under ``files/``, so the folder opens from ``file://`` and can be published as it is; pages use relative links only
and load nothing from the network. Templates and CSS are package data (``bench/site/templates``, ``static``).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import jinja2

from bench.catalogue import catalogue
from bench.io import atomic_write_bytes, atomic_write_text, current_umask, read_json
from bench.reported import PaperReport, load_report
from bench.results import PROVENANCE_FILE, RESULTS_FILE, find_runs, read_results, results_root
from bench.tables import STATUSES, default_run_roots, markdown_cells, paper_rows

MARKER = ".bench-site"  # written into every site folder: only a folder holding it (or an empty one) is replaced
STATIC_FILES = ("site.css", "sort.js")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp")
DEMO_SUMMARY = PurePosixPath("demo", "summary.json")
FILES = PurePosixPath("files")


@dataclass
class Figure:
    """An image a page shows: ``href`` relative to the site root, or None when the file is missing."""

    href: str | None
    alt: str
    caption: str


@dataclass
class RunView:
    """One run folder as a page lists it: what it is, its copied result files and figures."""

    run_id: str
    anchor: str
    paper: str | None
    method: str
    dataset: str
    status: str
    smoke: bool
    smoke_reason: str
    created: str
    source: str
    results_href: str
    provenance_href: str | None
    figures: list[Figure] = field(default_factory=list)


@dataclass
class Cell:
    text: str
    numeric: bool = False
    href: str | None = None
    status: str | None = None  # the status column's value: its colour class


@dataclass
class TableSection:
    """One reported table of a paper (plus any table only runs fill): ``bench table``'s rows with that id."""

    id: str
    title: str
    source: str
    notes: str
    columns: list[str]
    rows: list[list[Cell]]


@dataclass
class DemoView:
    """A demo group's latest outcome from ``<results root>/demo/summary.json``."""

    group: str
    profile: str
    written: str
    headline: list[tuple[str, str]]
    sentence: str
    failed: bool
    elapsed_s: float
    runs: list[RunView]
    figures: list[Figure]
    missing_runs: list[str]


def build_site(out: Path | None = None, run_roots: Iterable[Path] | None = None,
               results_dir: Path | None = None) -> Path:
    """Render the site into ``out`` and return that folder.

    ``results_dir`` (default ``$BENCH_RESULTS_DIR`` or ``./results``) gives the defaults: ``out`` is
    ``<results_dir>/site``, the run roots are ``<results_dir>/reproduced`` and ``<results_dir>/runs``, the demo
    summary is ``<results_dir>/demo/summary.json``. The site is rendered into a new folder beside ``out`` that then
    replaces it, so a failed render leaves the previous site whole; ``out`` must be new, empty or a site written
    here before (it holds :data:`MARKER`), and may not lie inside a run root (its copied ``results.json`` files would
    be read back as runs)."""
    base = results_root() if results_dir is None else Path(results_dir)
    if run_roots is not None:
        roots = [Path(root) for root in run_roots]
    else:
        roots = default_run_roots() if results_dir is None else [base / "reproduced", base / "runs"]
    out = base / "site" if out is None else Path(out)
    _check_out(out, roots)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        os.chmod(staging, 0o777 & ~current_umask())  # mkdtemp's 0700 would keep a published folder private
        render_into(staging, roots, base / DEMO_SUMMARY)
        (staging / MARKER).write_text("written by `bench site`; the next `bench site` replaces this folder\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def _check_out(out: Path, roots: list[Path]) -> None:
    """Refuse an output folder that is not ours to replace or that a run root would read back."""
    if out.exists() and (not out.is_dir() or any(out.iterdir()) and not (out / MARKER).is_file()):
        raise ValueError(f"bench site: --out {out} exists and is not a site written by `bench site` (no {MARKER} "
                         "file in it); give a new or empty folder, or remove it first")
    target = out.resolve()
    for root in roots:
        root = root.resolve()
        if target == root or root in target.parents or target in root.parents:
            raise ValueError(f"bench site: --out {out} and the run root {root} overlap: the site's copies of "
                             "results.json would be read back as runs (or the runs replaced); put the site "
                             "elsewhere, e.g. the default <results>/site")


def render_into(site: Path, roots: list[Path], demo_summary: Path) -> None:
    """Write every page, the static files and the copied run files into the folder ``site``."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("bench.site", "templates"),
                             autoescape=jinja2.select_autoescape(default=True), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    files = SiteFiles(site)
    runs = runs_by_paper(roots)
    summary = read_json(demo_summary) if demo_summary.is_file() else None
    written = _mtime(demo_summary) if summary else ""
    demo_files = {}
    if summary:
        demo_files["summary.json"] = files.copy(demo_summary, FILES / "demo" / "summary.json")
        if demo_summary.with_suffix(".md").is_file():
            demo_files["summary.md"] = files.copy(demo_summary.with_suffix(".md"), FILES / "demo" / "summary.md")
    context = {"generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "roots": [str(root) for root in roots], "statuses": STATUSES}
    papers = []
    for entry in catalogue():
        slug = entry["slug"]
        report = load_report(slug)
        run_views = [files.run(run_dir, results) for run_dir, results in runs.get(slug, [])]
        demo = demo_view(summary, slug, written, files)
        rows = paper_rows(slug, roots)
        sections = table_sections(report, rows, run_views)
        # the counts leaderboard_rows gives, from the rows already read for this page (one scan of the runs per paper)
        counts = Counter(row["status"] for row in rows)
        papers.append({**entry, "label": status_label(entry), "counts": {s: int(counts.get(s, 0)) for s in STATUSES},
                       "demo": bool(entry["demo_configs"]), "href": page_name(slug)})
        page = env.get_template("paper.html").render(
            context, paper=papers[-1], report=report, sections=sections, runs=run_views, demo=demo,
            demo_files=demo_files)
        atomic_write_text(site / page_name(slug), page)
    slugs = {paper["slug"] for paper in papers}
    demos = [demo_view(summary, group["group"], written, files) for group in (summary or {}).get("groups", [])]
    index = env.get_template("index.html").render(
        context, papers=papers, demos=[d for d in demos if d is not None], slugs=slugs, summary=summary,
        written=written, demo_files=demo_files)
    atomic_write_text(site / "index.html", index)
    static = resources.files("bench.site").joinpath("static")
    for name in STATIC_FILES:
        atomic_write_bytes(site / "static" / name, static.joinpath(name).read_bytes())


def page_name(slug: str) -> str:
    return f"{slug}.html"


def status_label(entry: dict[str, Any]) -> str:
    """The short status of a catalogue entry: ``not started`` (reported numbers only), ``in progress (...)``,
    ``faithful`` or ``re-implementation``, with ``, smoke here`` when its foundation weights are not on this machine
    (runs here build the method with random or tiny weights: smoke runs, never a table cell)."""
    if not entry["adapter"]:
        return "not started"
    implementation = str(entry["implementation"])
    if str(entry["status"]).startswith("in progress"):
        return f"in progress ({implementation})"
    if entry["foundation_weights_not_here"]:
        return f"{implementation}, smoke here"
    return implementation


def cell_texts(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Columns and the text of every cell exactly as ``bench table`` prints them: :func:`bench.tables.markdown_cells`
    types the columns, tabulate formats each column (its number parsing and ``g`` float format)."""
    from tabulate import tabulate

    columns, cells = markdown_cells(rows)
    texts: list[list[str]] = [[] for _ in cells]
    for index in range(len(columns)):
        values = [row[index] for row in cells]
        column = [""] * len(values)
        if any(value != "" for value in values):
            lines = tabulate([[value] for value in values], tablefmt="plain").split("\n")
            # a value holding a line break spans lines: such a column is text, which tabulate only strips
            column = [line.strip() for line in lines] if len(lines) == len(values) else \
                [str(value).strip() for value in values]
        for row_texts, text in zip(texts, column, strict=True):
            row_texts.append(text)
    return columns, texts


def table_sections(report: PaperReport, rows: list[dict[str, Any]], runs: list[RunView]) -> list[TableSection]:
    """``bench table``'s rows split by table id (reported tables in the file's order, then tables only runs fill),
    each cell's text as ``bench table`` prints it; a run id links to that run on the page."""
    columns, texts = cell_texts(rows)
    numeric = [all(isinstance(row.get(column), (int, float)) and not isinstance(row.get(column), bool)
                   for row in rows if row.get(column) is not None) for column in columns]
    anchors: dict[str, str] = {}
    for run in runs:
        anchors.setdefault(run.run_id, run.anchor)  # the first root's copy (committed reproductions first)
    titles = {table["id"]: table for table in report.tables}
    grouped: dict[str, list[list[Cell]]] = {table["id"]: [] for table in report.tables}
    shown = [i for i, column in enumerate(columns) if column != "table"]
    for row, row_texts in zip(rows, texts, strict=True):
        cells = []
        for i in shown:
            cell = Cell(row_texts[i], numeric=numeric[i])
            if columns[i] == "status":
                cell.status = row["status"]
            elif columns[i] == "run_id" and row["run_id"] in anchors:
                cell.href = f"#{anchors[row['run_id']]}"
            cells.append(cell)
        grouped.setdefault(row["table"], []).append(cells)
    sections = []
    for table_id, table_rows in grouped.items():
        spec = titles.get(table_id, {})
        sections.append(TableSection(table_id, spec.get("title", f"{table_id} (filled by runs, not reported)"),
                                     spec.get("source", ""), spec.get("notes", ""),
                                     [columns[i] for i in shown], table_rows))
    return sections


def runs_by_paper(roots: list[Path]) -> dict[str | None, list[tuple[Path, dict[str, Any]]]]:
    """Every run folder under ``roots`` (root by root, so committed reproductions come first) with its results,
    by paper slug (None for runs of no paper), newest first within a paper."""
    found: dict[str | None, list[tuple[Path, dict[str, Any]]]] = {}
    seen: set[Path] = set()
    for root in roots:
        for run_dir in find_runs(root):
            if run_dir.resolve() in seen:
                continue
            seen.add(run_dir.resolve())
            results = read_results(run_dir)
            found.setdefault(results.get("paper"), []).append((run_dir, results))
    for runs in found.values():
        runs.sort(key=lambda item: str(item[1].get("created", "")), reverse=True)
    return found


class SiteFiles:
    """Copies the files pages link to under ``<site>/files/`` (each source once) and gives their hrefs."""

    def __init__(self, site: Path) -> None:
        self.site = site
        self.copied: dict[Path, str] = {}
        self.runs: dict[Path, RunView] = {}
        self.folders: set[str] = set()

    def copy(self, source: Path, rel: PurePosixPath) -> str:
        """Copy ``source`` to ``<site>/<rel>`` unless copied already; its href relative to the site root."""
        key = source.resolve()
        if key not in self.copied:
            target = self.site / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            self.copied[key] = quote(rel.as_posix())
        return self.copied[key]

    def run(self, run_dir: Path, results: dict[str, Any]) -> RunView:
        """Copy a run's ``results.json``, ``provenance.json`` and figures (those ``results.json`` lists and any other
        image under ``figures/``) to ``files/runs/<paper or demo>/<run id>/`` and describe it."""
        key = run_dir.resolve()
        if key in self.runs:
            return self.runs[key]
        group, run_id = results.get("paper") or "demo", str(results["run_id"])
        folder, n = f"{group}/{run_id}", 2
        while folder in self.folders:  # the same run id in two roots (a committed copy and the local run)
            folder, n = f"{group}/{run_id}-{n}", n + 1
        self.folders.add(folder)
        base = FILES / "runs" / folder
        provenance = run_dir / PROVENANCE_FILE
        view = RunView(
            run_id=run_id, anchor="run-" + folder.replace("/", "-"), paper=results.get("paper"),
            method=str(results.get("method", "")), dataset=str(results.get("dataset", "")),
            status=str(results.get("status", "")), smoke=bool(results.get("smoke")),
            smoke_reason=str(results.get("smoke_reason") or ""), created=str(results.get("created", "")),
            source=str(run_dir), results_href=self.copy(run_dir / RESULTS_FILE, base / RESULTS_FILE),
            provenance_href=self.copy(provenance, base / PROVENANCE_FILE) if provenance.is_file() else None)
        listed = set()
        for name, rel in sorted((results.get("figures") or {}).items()):
            path = _inside(run_dir, str(rel))
            listed.add(path)
            stem = Path(str(rel)).stem
            alt = f"{name} of run {run_id}" if stem == name else f"{name} ({stem}) of run {run_id}"
            if path is None or not path.is_file():
                view.figures.append(Figure(None, alt, f"{name}: {rel} is listed in results.json but missing from "
                                                      f"{run_dir}"))
            elif path.suffix.lower() in IMAGE_SUFFIXES:
                view.figures.append(Figure(self.copy(path, base / PurePosixPath(str(rel))), alt, name))
        extra = run_dir / "figures"
        for path in sorted(extra.rglob("*")) if extra.is_dir() else []:
            if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file() and path.resolve() not in listed:
                rel = PurePosixPath(path.relative_to(run_dir).as_posix())
                view.figures.append(Figure(self.copy(path, base / rel), f"{path.stem} of run {run_id}", rel.as_posix()))
        self.runs[key] = view
        return view


def _inside(run_dir: Path, rel: str) -> Path | None:
    """``run_dir / rel`` resolved, or None when ``rel`` points outside the run folder (never copied)."""
    path = (run_dir / rel).resolve()
    return path if run_dir.resolve() in path.parents else None


def demo_view(summary: dict[str, Any] | None, group: str, written: str, files: SiteFiles) -> DemoView | None:
    """The latest demo outcome of ``group`` from the summary file, its runs and figures copied; None if absent."""
    found = [g for g in (summary or {}).get("groups", []) if g.get("group") == group]
    if not found or summary is None:
        return None
    outcome = found[0]
    result = outcome.get("summary") or {}
    runs, missing = [], []
    for name in outcome.get("run_dirs", []):
        run_dir = Path(name)
        if (run_dir / RESULTS_FILE).is_file():
            runs.append(files.run(run_dir, read_results(run_dir)))
        else:
            missing.append(name)
    figures = []
    for n, name in enumerate(result.get("figures", [])):
        path = Path(name)
        alt = f"{path.stem} from the {group} demo"
        if path.is_file():
            href = files.copied.get(path.resolve()) or files.copy(path, FILES / "demo" / group / f"{n}-{path.name}")
            figures.append(Figure(href, alt, path.name))
        else:
            figures.append(Figure(None, alt, f"{name} is missing"))
    if outcome.get("error"):
        sentence = f"FAILED ({outcome.get('failed_config') or 'summary'}): {outcome['error']}"
    else:
        sentence = str(result.get("sentence") or outcome.get("note") or "")
    headline = [(str(k), f"{v:.4g}" if isinstance(v, float) else str(v))  # as `bench demo` prints them
                for k, v in (result.get("headline") or {}).items()]
    return DemoView(group, str(summary.get("profile", "")), written, headline, sentence, bool(outcome.get("error")),
                    float(outcome.get("elapsed_s") or 0.0), runs, figures, missing)


def _mtime(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
