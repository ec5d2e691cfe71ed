"""Paper tables (reported vs reproduced, delta, tolerance, status) and the cross-paper leaderboard.

A run fills a cell only when it is complete (no ``--limit``) and not smoke; partial or smoke runs show
their value in the ``note`` column with status ``smoke`` and leave ``reproduced`` empty.

Tables are built as rows (lists of dicts) and given to pandas only for CSV, LaTeX and the DataFrame API: Markdown is
rendered by tabulate directly (what ``DataFrame.to_markdown`` calls), so ``bench table`` and ``bench leaderboard``
do not import pandas (most of their start-up time); :func:`markdown_cells` reproduces pandas' column typing, and
``tests/test_tables.py`` checks the text is the same.
"""
from __future__ import annotations

import decimal
import math
import statistics
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.catalogue import is_configured
from bench.reported import cell_key, load_all, load_report
from bench.io import read_json
from bench.results import PROVENANCE_FILE, find_runs, read_results, results_root

STATUSES = ("match", "within tolerance", "mismatch", "missing", "smoke", "unreported")
FORMATS = ("md", "csv", "latex")
# A paper's page (configs/<slug>/README.md) carries its generated table between these lines (`bench table --write`).
PAGE_TABLE_START = "<!-- bench:table:start -->"
PAGE_TABLE_END = "<!-- bench:table:end -->"
PAPER_COLUMNS = ["table", "setting", "metric", "reported", "reproduced", "delta", "tolerance", "status", "run_id",
                 "source", "note"]
# Added after ``reproduced`` in the tables of papers with statistic entries (mean / std over runs, see docs/results.md)
STAT_COLUMNS = ["reported_std", "reproduced_std", "n"]

if TYPE_CHECKING:
    import pandas as pd

Rows = list[dict[str, Any]]


def default_run_roots() -> list[Path]:
    """Committed reproductions (``results/reproduced``) and local runs (``results/runs``)."""
    root = results_root()
    return [root / "reproduced", root / "runs"]


def collect_cells(slug: str, run_roots: Iterable[Path]) -> dict[tuple, dict[str, list[dict[str, Any]]]]:
    """Cells filled by runs of ``slug``: ``{cell key: {"full": [...], "smoke": [...]}}``, newest first."""
    cells: dict[tuple, dict[str, list[dict[str, Any]]]] = {}
    for run_dir in find_runs(*run_roots):
        results = read_results(run_dir)
        if results.get("paper") != slug:
            continue
        kind = "full" if results["status"] == "complete" and not results["smoke"] else "smoke"
        for cell in results["cells"]:
            if cell["value"] is None:  # a null metric (non-finite, see results.json): the cell is not filled
                continue
            key = cell_key(cell["table"], cell["setting"], cell["metric"])
            bucket = cells.setdefault(key, {"full": [], "smoke": []})
            bucket[kind].append({**cell, "run_id": results["run_id"], "created": results["created"],
                                 "status": results["status"], "smoke": results["smoke"]})
            bucket[kind][-1]["run_dir"] = run_dir  # statistic cells read the run's seed from its provenance
    for bucket in cells.values():
        for runs in bucket.values():
            runs.sort(key=lambda c: c["created"], reverse=True)
    return cells


def match_tolerance(value: float) -> float:
    """Half a unit in the last reported digit: 80.3 matches [80.25, 80.35]."""
    exponent = decimal.Decimal(repr(float(value))).normalize().as_tuple().exponent
    return 0.5 * 10.0 ** min(int(exponent), 0)


def cell_status(reported: float, reproduced: float | None, tolerance: float) -> str:
    if reproduced is None:
        return "missing"
    delta = abs(reproduced - reported)
    if delta <= match_tolerance(reported) + 1e-12:
        return "match"
    return "within tolerance" if delta <= tolerance + 1e-12 else "mismatch"


def paper_table(slug: str, run_roots: Iterable[Path] | None = None) -> pd.DataFrame:
    """One row per reported cell (plus cells runs filled that the paper does not report)."""
    import pandas as pd

    rows = paper_rows(slug, run_roots)
    return pd.DataFrame(rows, columns=list(rows[0]) if rows and "n" in rows[0] else PAPER_COLUMNS)


def paper_rows(slug: str, run_roots: Iterable[Path] | None = None) -> Rows:
    """:func:`paper_table`'s rows as dicts (keys :data:`PAPER_COLUMNS`), built without pandas."""
    report = load_report(slug)
    cells = collect_cells(slug, default_run_roots() if run_roots is None else run_roots)
    filled = dict(cells)  # cells is consumed below; averages read every cell
    rows = []
    for entry in report.entries:
        bucket = cells.pop(entry.key, {"full": [], "smoke": []})
        if entry.over is not None:
            rows.append(_statistic_row(entry, bucket, filled, report.tolerance_for(entry.table, entry.metric), slug))
            continue
        best = bucket["full"][0] if bucket["full"] else None
        reproduced = round(best["value"], 6) if best else None
        if best is None and entry.mean_of:
            reproduced, best = _mean_cell(entry, filled)
        status = cell_status(entry.value, reproduced, report.tolerance_for(entry.table, entry.metric))
        note = ""
        if best is None and bucket["smoke"]:
            smoke = bucket["smoke"][0]
            status = "smoke"
            note = f"smoke/partial run {smoke['run_id']}: {smoke['value']:.4g}"
        elif best is None and not is_configured(entry, slug):
            note = f"no config in configs/{slug}/ fills this cell"
        rows.append(_row(entry.table, entry.setting, entry.metric, entry.value, reproduced,
                         report.tolerance_for(entry.table, entry.metric), status, best, entry.source, note))
    for (table, setting, metric), bucket in sorted(cells.items()):
        runs = bucket["full"] or bucket["smoke"]
        value = runs[0]["value"]
        rows.append(_row(table, dict(setting), metric, None, round(value, 6), None, "unreported", runs[0], "",
                         "" if bucket["full"] else "smoke/partial"))
    if any(entry.over is not None for entry in report.entries):
        rows = [_with_stat_columns(row) for row in rows]
    return rows


def _statistic_row(entry: Any, bucket: dict[str, list[dict[str, Any]]],
                   cells: dict[tuple, dict[str, list[dict[str, Any]]]], table_tolerance: float, slug: str
                   ) -> dict[str, Any]:
    """The row of an entry that is a statistic over runs (``over``): reported mean +/- std (or std), the runs'
    mean +/- std with n, the delta of means, and a status by the rule in docs/results.md: with a reported std,
    ``within tolerance`` means the reproduced mean lies within reported mean +/- reported std (the tolerance column
    shows that std); without one (or for a ``std`` statistic) the table's tolerance applies as for any cell."""
    values, label, note = _statistic_values(entry, bucket, cells)
    n = len(values)
    mean = statistics.fmean(values) if values else None
    spread = None if n < 2 else statistics.stdev(values) if entry.ddof == 1 else statistics.pstdev(values)
    if n == 1:
        note = "; ".join(filter(None, [note, "n=1: a std needs at least 2 runs"]))
    reproduced = mean if entry.statistic == "mean" else spread
    tolerance = entry.std if entry.statistic == "mean" and entry.std is not None else table_tolerance
    status = cell_status(entry.value, None if reproduced is None else round(reproduced, 6), tolerance)
    if not values and bucket["smoke"]:
        smoke = bucket["smoke"][0]
        status, note = "smoke", f"smoke/partial run {smoke['run_id']}: {smoke['value']:.4g}"
    elif not values and not note and not is_configured(entry, slug):
        note = f"no config in configs/{slug}/ fills this cell"
    run = {"run_id": f"{n} runs over {label}"} if values else None
    metric = entry.metric if entry.statistic == "mean" else f"{entry.metric} std"
    row = _row(entry.table, entry.setting, metric, entry.value, None if reproduced is None else round(reproduced, 6),
               tolerance, status, run, entry.source, note)
    row.update({"reported_std": entry.std, "n": n,
                "reproduced_std": None if entry.statistic == "std" or spread is None else round(spread, 6)})
    return row


def _statistic_values(entry: Any, bucket: dict[str, list[dict[str, Any]]],
                      cells: dict[tuple, dict[str, list[dict[str, Any]]]]) -> tuple[list[float], str, str]:
    """The values a statistic ranges over, what they range over, and a note. ``over="run.seed"``: the newest full
    run of this cell for each seed (``provenance.json`` ``seeds.base_seed``; a run without one is skipped and
    counted in the note). ``over={key: values}``: the newest full run of each member cell, all or none (a mean
    over some folds is not the reported statistic)."""
    if isinstance(entry.over, tuple):
        key, wanted = entry.over
        members = [cells.get(member, {"full": []})["full"] for member in entry.member_keys]
        filled = [runs[0]["value"] for runs in members if runs]
        if len(filled) < len(members):
            return [], key, f"{len(filled)} of {len(members)} {key} cells filled" if filled else ""
        return filled, key, ""
    per_seed: dict[int, float] = {}
    unknown = 0
    for run in bucket["full"]:  # newest first: a rerun of a seed replaces the older run
        seed = _run_seed(run.get("run_dir"))
        if seed is None:
            unknown += 1
        else:
            per_seed.setdefault(seed, run["value"])
    note = f"{unknown} run(s) without a recorded seed skipped" if unknown else ""
    return list(per_seed.values()), entry.over, note


def _run_seed(run_dir: Path | None) -> int | None:
    """``run.seed`` of a run, as its ``provenance.json`` records it (``seeds.base_seed``); None when absent."""
    path = None if run_dir is None else Path(run_dir) / PROVENANCE_FILE
    if path is None or not path.is_file():
        return None
    seed = (read_json(path).get("seeds") or {}).get("base_seed")
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def _with_stat_columns(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with :data:`STAT_COLUMNS` after ``reproduced`` (blank for rows that are not statistics)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key not in STAT_COLUMNS:
            out[key] = value
        if key == "reproduced":
            out.update({column: row.get(column) for column in STAT_COLUMNS})
    return out


def _mean_cell(entry: Any, cells: dict[tuple, dict[str, list[dict[str, Any]]]]
               ) -> tuple[float | None, dict[str, Any] | None]:
    """The plain mean of the full runs filling the cells ``entry.mean_of`` names (the entry's setting with one key
    set to each listed value: Trident's eight datasets, DiffAct's splits); None unless every one is filled."""
    runs = [cells.get(member, {"full": []})["full"] for member in entry.member_keys]
    if not all(runs):
        return None, None
    mean = sum(r[0]["value"] for r in runs) / len(runs)
    return round(mean, 6), {"run_id": f"mean of {len(runs)} runs"}


def _row(table: str, setting: dict[str, str], metric: str, reported: float | None, reproduced: float | None,
         tolerance: float | None, status: str, run: dict[str, Any] | None, source: str, note: str) -> dict[str, Any]:
    delta = None if reported is None or reproduced is None else round(reproduced - reported, 6)
    return {"table": table, "setting": ", ".join(f"{k}={v}" for k, v in setting.items()), "metric": metric,
            "reported": reported, "reproduced": reproduced, "delta": delta, "tolerance": tolerance,
            "status": status, "run_id": run["run_id"] if run else "", "source": source, "note": note}


def markdown_cells(rows: Rows) -> tuple[list[str], list[list[Any]]]:
    """Columns and cell values as ``DataFrame(rows).astype(object)`` holds them with missing values blank: a numeric
    column with a gap or a float becomes floats (pandas' float64), None and NaN become ""."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    cells: list[list[Any]] = [[] for _ in rows]
    for column in columns:
        values = [row.get(column) for row in rows]
        present = [v for v in values if not _missing(v)]
        numeric = bool(present) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present)
        as_float = numeric and (len(present) < len(values) or any(isinstance(v, float) for v in present))
        for row_cells, value in zip(cells, values, strict=True):
            row_cells.append("" if value is None or _missing(value) else float(value) if as_float else value)
    return columns, cells


def _missing(value: Any) -> bool:
    return value is None or isinstance(value, float) and math.isnan(value)


def render(frame: pd.DataFrame | Rows, fmt: str = "md", title: str | None = None) -> str:
    """Markdown (GitHub pipes), CSV or LaTeX text of a table frame, or of its rows (Markdown without pandas)."""
    if isinstance(frame, list):
        if fmt == "md":
            from tabulate import tabulate

            columns, cells = markdown_cells(frame)
            body = tabulate(cells, headers=columns, tablefmt="pipe", showindex=False) if cells else \
                "_no reported numbers_"
            return (f"## {title}\n\n" if title else "") + body + "\n"
        import pandas as pd

        frame = pd.DataFrame(frame)
    if fmt == "csv":
        return frame.to_csv(index=False)
    shown = frame.astype(object).where(frame.notna(), "")
    if fmt == "md":
        body = shown.to_markdown(index=False) if len(shown) else "_no reported numbers_"
        return (f"## {title}\n\n" if title else "") + body + "\n"
    if fmt == "latex":
        return shown.to_latex(index=False, escape=True, caption=title)
    raise ValueError(f"unknown format {fmt!r}; choose from {FORMATS}")


def render_paper(slug: str, fmt: str = "md", run_roots: Iterable[Path] | None = None) -> str:
    """The paper's table with a header naming the paper, the unknown items and the status counts."""
    report = load_report(slug)
    if fmt != "md":
        return render(paper_table(slug, run_roots), fmt)
    rows = paper_rows(slug, run_roots)
    paper = report.paper
    counts = Counter(row["status"] for row in rows)
    lines = [f"# {paper['title']}", "",
             f"`{slug}` · arXiv {paper['arxiv']} · {paper['venue']} · code: {paper['official_code']}", "",
             "Status counts: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no cells"), "",
             f"Reported cells a config in `configs/{slug}/` fills: "
             f"{sum(is_configured(entry, slug) for entry in report.entries)} of {len(report.entries)}", ""]
    if report.unknown:
        lines += ["Not reported or not available:", ""] + [f"- {item}" for item in report.unknown] + [""]
    lines.append(render(rows, "md"))
    return "\n".join(lines)


def leaderboard(run_roots: Iterable[Path] | None = None) -> pd.DataFrame:
    """One row per paper: reported cells and how many are matched, within tolerance, mismatched, smoke, missing."""
    import pandas as pd

    return pd.DataFrame(leaderboard_rows(run_roots))


def leaderboard_rows(run_roots: Iterable[Path] | None = None) -> Rows:
    """:func:`leaderboard`'s rows as dicts, built without pandas."""
    rows = []
    roots = default_run_roots() if run_roots is None else list(run_roots)
    for report in load_all():
        counts = Counter(row["status"] for row in paper_rows(report.slug, roots))
        rows.append({"paper": report.slug, "task family": report.paper["task_family"], "reported": len(report.entries),
                     **{status: int(counts.get(status, 0)) for status in STATUSES}})
    return rows


def runs_table(run_dirs: Iterable[Path]) -> pd.DataFrame:
    """One row per run: id, paper, method, dataset, status, smoke, its metrics (4 significant digits) and the
    prediction throughput of rank 0 in the session that finished the run (samples/s, data loading included)."""
    import pandas as pd

    rows = []
    for run_dir in run_dirs:
        results = read_results(run_dir)
        prov_path = Path(run_dir) / PROVENANCE_FILE
        prediction = (read_json(prov_path).get("prediction_rank0") or {}) if prov_path.is_file() else {}
        rows.append({"run": results["run_id"], "paper": results["paper"] or "demo", "method": results["method"],
                     "dataset": results["dataset"], "status": results["status"],
                     "smoke": results["smoke"], **{k: _rounded(v) for k, v in sorted(results["metrics"].items())},
                     "samples/s": prediction.get("samples_per_s")})
    return pd.DataFrame(rows)


def _rounded(value: float | None) -> float | None:
    """4 decimals; a null metric (no finite value, see results.json) stays None: an empty cell."""
    return None if value is None else round(value, 4)


def with_page_table(page_text: str, table_md: str, page: str | Path = "page") -> str:
    """``page_text`` with the block between ``PAGE_TABLE_START`` and ``PAGE_TABLE_END`` replaced by ``table_md``,
    so a paper's page shows the same table as ``results/tables/<slug>.md``."""
    starts, ends = page_text.count(PAGE_TABLE_START), page_text.count(PAGE_TABLE_END)
    if starts != 1 or ends != 1 or page_text.index(PAGE_TABLE_START) > page_text.index(PAGE_TABLE_END):
        raise ValueError(f"{page}: expected one {PAGE_TABLE_START!r} line followed by one {PAGE_TABLE_END!r} line "
                         f"(found {starts} and {ends}); add the pair where the generated table goes and rerun "
                         "`bench table --write`")
    head, rest = page_text.split(PAGE_TABLE_START)
    tail = rest.split(PAGE_TABLE_END)[1]
    return f"{head}{PAGE_TABLE_START}\n{table_md.rstrip()}\n{PAGE_TABLE_END}{tail}"
