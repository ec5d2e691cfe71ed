"""``bench demo``: run every demo group end to end on CPU, then say what each showed and print their leaderboard.

Profiles: the quick one is ``configs/demo/<group>_<name>.py`` (``bench demo``, about five minutes on 2 cores); the
full one (``--full``) is ``configs/demo/full/<group>_<name>.py``, and a group with no file there runs its quick
configs in both. A group is a paper slug (a folder under ``configs/``) or ``harness`` (the core's own demo);
``--only`` keeps the groups named. Groups run one after another (``harness`` first, then file-name order), their
configs in file-name order (a demo may read an earlier one's runs, e.g. cached logits), and resume, so a second run
only re-scores. A failing group is recorded with its config and message and the others still run. Each group's
summariser (``DEMOS``, see :class:`DemoSummary`) turns its results into headline numbers and one sentence; the
summary is printed and written to ``<results root>/demo/summary.md`` and ``summary.json``.
"""
from __future__ import annotations

import importlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bench.config import configs_root, load_config
from bench.io import atomic_write_json, atomic_write_text
from bench.registry import DEMOS, UnknownNameError
from bench.results import read_results, results_root

HARNESS = "harness"
FULL = "full"  # the full profile's folder under configs/demo/


@dataclass
class DemoSummary:
    """What one demo group showed, for the summary table ``bench demo`` ends with.

    A group's summariser (registered in ``bench.registry.DEMOS`` under the group's name) receives
    ``{config stem: results.json dict with "run_dir" added}`` for the group's runs and returns this.
    """

    headline: dict[str, float]  # at most four numbers, named as a reader would say them ("ECE after CC")
    sentence: str  # one sentence computed from the numbers: what they show, or that the paper's effect is absent
    figures: list[str] = field(default_factory=list)  # paths of the figures worth opening


@dataclass
class GroupOutcome:
    """One group's run: its configs, elapsed seconds, results by config stem, and its summary or its failure."""

    group: str
    configs: list[str]
    elapsed_s: float = 0.0
    run_dirs: list[Path] = field(default_factory=list)
    summary: DemoSummary | None = None
    note: str = ""  # why there is no summary when nothing failed (no summariser registered)
    error: str | None = None  # "<config stem>: <ErrorType>: <message>", or the summariser's failure
    failed_config: str | None = None

    def row(self) -> dict[str, Any]:
        """The group's line in the summary table."""
        summary = self.summary
        if self.error:
            what = f"FAILED ({self.failed_config or 'summary'}): {self.error}"
        else:
            what = summary.sentence if summary else self.note
        return {"group": self.group,
                "headline": "; ".join(f"{k} {_number(v)}" for k, v in summary.headline.items()) if summary else "",
                "what it shows": what, "figures": ", ".join(summary.figures) if summary else "",
                "time (s)": round(self.elapsed_s, 1)}


@dataclass
class DemoReport:
    """Every group's outcome, in run order, and the leaderboard of the runs that finished."""

    groups: list[GroupOutcome]

    @property
    def failed(self) -> list[GroupOutcome]:
        return [g for g in self.groups if g.error]

    def summary_table(self) -> pd.DataFrame:
        return pd.DataFrame([g.row() for g in self.groups])

    def leaderboard(self) -> pd.DataFrame:
        from bench.tables import runs_table

        return runs_table([run_dir for g in self.groups for run_dir in g.run_dirs])

    def group_leaderboards(self) -> dict[str, pd.DataFrame]:
        """Per group that has finished runs, its runs with only the columns they fill: one table of every run has
        a column for every metric of every paper (hundreds), almost all empty in each row."""
        from bench.tables import runs_table

        tables = {}
        for outcome in self.groups:
            frame = runs_table(outcome.run_dirs) if outcome.run_dirs else None
            if frame is not None and len(frame):
                tables[outcome.group] = frame.dropna(axis="columns", how="all")
        return tables


def _number(value: float) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def known_groups(root: Path | None = None) -> list[str]:
    """``harness`` and every paper slug with a configs folder (``configs/<slug>/``), longest first for matching."""
    root = configs_root() if root is None else root
    slugs = [p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")) and p.name != "demo"]
    return sorted({HARNESS, *slugs}, key=lambda name: (-len(name), name))


def group_of(path: Path, groups: list[str]) -> str:
    """The group a demo config belongs to: the longest known group ``g`` with ``stem == g`` or ``g_...``."""
    for group in groups:
        if path.stem == group or path.stem.startswith(f"{group}_"):
            return group
    raise ValueError(f"demo config {path} belongs to no group: its name must start with 'harness_' or a paper slug "
                     f"that has a configs folder ({', '.join(sorted(g for g in groups if g != HARNESS))}); "
                     f"rename it <group>_<name>.py")


def demo_configs(only: list[str] | None = None, *, full: bool = False, root: Path | None = None) -> list[Path]:
    """The profile's demo configs in file-name order: ``<root>/demo/*.py`` (quick), or with ``full`` the files in
    ``<root>/demo/full/`` plus the quick configs of groups that have none there; ``only`` keeps the groups named."""
    root = configs_root() if root is None else root
    groups = known_groups(root)

    def listing(folder: Path) -> list[Path]:
        return sorted(p for p in folder.glob("*.py") if p.name != "__init__.py") if folder.is_dir() else []

    quick = listing(root / "demo")
    paths = quick
    if full:
        longer = listing(root / "demo" / FULL)
        replaced = {group_of(p, groups) for p in longer}
        paths = sorted([*longer, *(p for p in quick if group_of(p, groups) not in replaced)], key=lambda p: p.name)
    if only:
        available = sorted({group_of(p, groups) for p in paths})
        unknown = [g for g in only if g not in available]
        if unknown:
            raise ValueError(f"--only {' '.join(unknown)}: no demo group of that name in the "
                             f"{'full' if full else 'quick'} profile; available: {', '.join(available)}")
        paths = [p for p in paths if group_of(p, groups) in only]
    return paths


def group_configs(paths: list[Path], root: Path | None = None) -> dict[str, list[Path]]:
    """``{group: its configs}``: ``harness`` first (its classifier is the one the paper demos reuse, trained once),
    then the others in order of first appearance (the profile's file-name order)."""
    groups = known_groups(root)
    grouped: dict[str, list[Path]] = {}
    for path in paths:
        grouped.setdefault(group_of(path, groups), []).append(path)
    return dict(sorted(grouped.items(), key=lambda item: item[0] != HARNESS))


def group_runs(run_dirs: list[Path]) -> dict[str, dict]:
    """What a summariser receives: ``{config stem: results.json with "run_dir"}`` (the stem is the run's name)."""
    return {(results := read_results(d))["name"]: {**results, "run_dir": str(d)} for d in run_dirs}


def figure_paths(run: dict, *names: str) -> list[str]:
    """Paths of a run's figures (``results.json`` keeps them relative to the run folder), all or those named."""
    figures = run.get("figures") or {}
    return [str(Path(run["run_dir"]) / figures[name]) for name in (names or figures) if name in figures]


def find_summariser(group: str) -> Callable[[dict[str, dict]], DemoSummary] | None:
    """The group's summariser from ``DEMOS``; a paper's lives in ``methods/<slug>/demo.py``, imported by name here
    when the registry's fallback (``bench.methods``) did not register it. ``None`` when the group has none."""
    try:
        return DEMOS.get(group)
    except UnknownNameError:
        pass
    module = f"bench.methods.{group}.demo"
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name not in (module, f"bench.methods.{group}"):
            raise  # the summary module exists but one of its imports is missing: a real error
        return None
    try:
        return DEMOS.get(group)
    except UnknownNameError:
        return None


def summarise(group: str, run_dirs: list[Path]) -> tuple[DemoSummary | None, str]:
    """The group's registered summary, or ``(None, why)`` when it has no summariser or a run it reads has null
    metrics (written under ``run.nonfinite="flag"``, or a metric's own undefined value): not an error."""
    summariser = find_summariser(group)
    if summariser is None:
        return None, f"no summariser registered for {group!r} (methods/{group}/demo.py registers one in DEMOS)"
    runs = group_runs(run_dirs)
    try:
        summary = summariser(runs)
    except (TypeError, ValueError, KeyError) as error:
        nulls = {stem: run["nonfinite_metrics"] for stem, run in runs.items() if run.get("nonfinite_metrics")}
        if not nulls:
            raise
        return None, (f"not summarised: metric(s) without a finite value (null in results.json) {nulls} "
                      f"({type(error).__name__}: {error})")
    if not isinstance(summary, DemoSummary) or len(summary.headline) > 4:
        raise TypeError(f"the {group!r} demo summariser must return a DemoSummary with at most 4 headline numbers, "
                        f"got {summary!r}")
    return summary, ""


@contextmanager
def _results_dir(path: Path | None) -> Iterator[None]:
    saved = os.environ.get("BENCH_RESULTS_DIR")
    if path is not None:
        os.environ["BENCH_RESULTS_DIR"] = str(path)
    try:
        yield
    finally:
        if path is not None:
            if saved is None:
                os.environ.pop("BENCH_RESULTS_DIR", None)
            else:
                os.environ["BENCH_RESULTS_DIR"] = saved


@contextmanager
def _quiet_info() -> Iterator[None]:
    """Hold the ``bench`` loggers at WARNING: the position lines are the demo's log, warnings still show."""
    logger = logging.getLogger("bench")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


def run_group(group: str, paths: list[Path], *, wandb_mode: str | None = None,
              progress: bool = True) -> GroupOutcome:
    """Run one group's configs in order (resuming), stopping at the first failure (later configs may need it),
    then summarise it; exceptions become the outcome's ``error``."""
    from bench.runner import evaluate

    outcome = GroupOutcome(group, [p.stem for p in paths])
    started = time.perf_counter()
    try:
        for path in paths:
            outcome.failed_config = path.stem
            outcome.run_dirs.append(evaluate(load_config(path), resume=True, wandb_mode=wandb_mode,
                                             progress=progress))
        outcome.failed_config = None
        outcome.summary, outcome.note = summarise(group, outcome.run_dirs)
    except Exception as error:  # noqa: BLE001 - one group's failure is reported, the others still run
        outcome.error = f"{type(error).__name__}: {error}"
    outcome.elapsed_s = time.perf_counter() - started
    return outcome


def run_demo(only: list[str] | None = None, *, full: bool = False, wandb_mode: str | None = None,
             results_dir: Path | None = None, progress: bool = True, root: Path | None = None,
             echo: Callable[[str], None] = lambda line: print(line, flush=True)) -> DemoReport:
    """Run the profile group by group, echoing ``[i/n] group: k configs`` as each starts and its time as it ends;
    write the summary under ``<results root>/demo/`` and return every group's outcome."""
    grouped = group_configs(demo_configs(only, full=full, root=root), root)
    outcomes = []
    with _results_dir(results_dir), _quiet_info():
        for position, (group, paths) in enumerate(grouped.items(), 1):
            tag = f"[{position}/{len(grouped)}] {group}"
            echo(f"{tag}: {len(paths)} config{'s' if len(paths) != 1 else ''}")
            outcome = run_group(group, paths, wandb_mode=wandb_mode, progress=progress)
            echo(f"{tag} {'FAILED' if outcome.error else 'done'} in {outcome.elapsed_s:.1f} s"
                 + (f" ({outcome.failed_config or 'summary'}: {outcome.error})" if outcome.error else ""))
            outcomes.append(outcome)
        report = DemoReport(outcomes)
        write_summary(report, results_root() / "demo", profile=FULL if full else "quick")
    return report


def write_summary(report: DemoReport, folder: Path, profile: str) -> tuple[Path, Path]:
    """``summary.md`` (the summary table, then the leaderboard) and ``summary.json`` (every group's outcome)."""
    folder.mkdir(parents=True, exist_ok=True)
    md = folder / "summary.md"
    atomic_write_text(md, render_report(report))
    data = {"profile": profile, "failed": [g.group for g in report.failed],
            "groups": [{**{k: v for k, v in asdict(g).items() if k not in ("summary", "run_dirs")},
                        "run_dirs": [str(d) for d in g.run_dirs],
                        "summary": asdict(g.summary) if g.summary else None} for g in report.groups]}
    js = folder / "summary.json"
    atomic_write_json(js, data)
    return md, js


def render_report(report: DemoReport) -> str:
    """The summary table (one row per group) followed by the leaderboard of the runs, one table per group with the
    columns its runs fill, as Markdown."""
    from bench.tables import render

    parts = [render(report.summary_table(), "md", title="Demo summary")]
    boards = report.group_leaderboards()
    if boards:
        parts.append("## Demo leaderboard\n")
        parts += [f"### {group}\n\n{render(frame, 'md')}" for group, frame in boards.items()]
    return "\n".join(parts)


@DEMOS.register_module(name=HARNESS)
def summarize_harness(runs: dict[str, dict]) -> DemoSummary:
    """The harness demo: a timm classifier trained for seconds on digits, scored on the 500 test images."""
    metrics = runs["harness_digits"]["metrics"]
    accuracy, ece = float(metrics["accuracy"]), float(metrics["ece_15"])
    learned = accuracy >= 0.5  # ten balanced classes: chance is 0.1
    sentence = (f"the harness trains and scores end to end: a tiny timm ResNet reaches {accuracy:.1%} test accuracy "
                f"on digits (chance 10%), ECE-15 {ece:.3f}" if learned else
                f"the harness ran end to end but the classifier did not learn: {accuracy:.1%} test accuracy on "
                f"digits (chance 10%)")
    return DemoSummary(headline={"accuracy": accuracy, "ECE-15": ece}, sentence=sentence)
