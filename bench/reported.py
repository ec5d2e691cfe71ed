"""Reported numbers of each paper (``results/reported/<slug>.json``, format in SCHEMA.md there)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
PAPER_KEYS = ("slug", "title", "arxiv", "venue", "official_code", "task_family", "datasets", "metrics")


class ReportedError(ValueError):
    """A reported-numbers file breaks the schema; the message names the file and the entry."""


@dataclass(frozen=True)
class Entry:
    table: str
    setting: dict[str, str]
    metric: str
    value: float
    unit: str
    source: str
    higher_is_better: bool | None = None
    std: float | None = None
    mean_of: tuple[str, tuple[str, ...]] | None = None  # (setting key, its values): the cell is their plain mean
    # a statistic over runs: "run.seed" (this cell's runs, one per seed) or (setting key, its values) (one cell
    # per value, e.g. folds); ``value`` (and ``std``) are the runs' mean (and std), or ``value`` is their std
    over: str | tuple[str, tuple[str, ...]] | None = None
    statistic: str = "mean"
    ddof: int = 1

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...], str]:
        return cell_key(self.table, self.setting, self.metric)

    @property
    def member_keys(self) -> list[tuple[str, tuple[tuple[str, str], ...], str]]:
        """The cells a ``mean_of`` entry, or an entry ``over`` a setting key, averages (its setting with the key set
        to each value); empty otherwise."""
        members = self.mean_of or (self.over if isinstance(self.over, tuple) else None)
        if not members:
            return []
        key, values = members
        return [cell_key(self.table, {**self.setting, key: value}, self.metric) for value in values]


@dataclass
class PaperReport:
    paper: dict[str, Any]
    tolerance: dict[str, float]
    tables: list[dict[str, Any]]
    entries: list[Entry]
    unknown: list[str] = field(default_factory=list)

    @property
    def slug(self) -> str:
        return self.paper["slug"]

    def tolerance_for(self, table: str, metric: str) -> float:
        spec = dict(self.tolerance)
        for t in self.tables:
            if t["id"] == table:
                spec.update(t.get("tolerance", {}))
        return float(spec.get(metric, spec.get("default", 0.0)))


def cell_key(table: str, setting: dict[str, Any], metric: str) -> tuple[str, tuple[tuple[str, str], ...], str]:
    """Identity of one table cell: table id, sorted setting items, metric name."""
    return table, tuple(sorted((str(k), str(v)) for k, v in setting.items())), metric


def reported_root() -> Path:
    return Path(str(resources.files("bench._reported")))


def load_report(slug_or_path: str | Path) -> PaperReport:
    path = Path(slug_or_path)
    if not path.is_file():
        path = reported_root() / f"{slug_or_path}.json"
        if not path.is_file():
            from bench.suggest import suggest

            raise FileNotFoundError(f"no reported numbers for paper {str(slug_or_path)!r} in {reported_root()}."
                                    f"{suggest(str(slug_or_path), all_slugs())}")
    return parse_report(json.loads(path.read_text(encoding="utf-8")), source=str(path))


def all_slugs() -> list[str]:
    return sorted(p.stem for p in reported_root().glob("*.json"))


def load_all() -> list[PaperReport]:
    return [load_report(slug) for slug in all_slugs()]


def parse_report(data: dict[str, Any], source: str = "<reported>") -> PaperReport:
    """Validate one file and flatten its tables into entries."""
    def fail(message: str) -> ReportedError:
        return ReportedError(f"{source}: {message} (format: results/reported/SCHEMA.md)")

    if data.get("schema_version") != SCHEMA_VERSION:
        raise fail(f"schema_version must be {SCHEMA_VERSION}")
    paper = data.get("paper") or {}
    missing = [k for k in PAPER_KEYS if k not in paper]
    if missing:
        raise fail(f"paper block lacks {missing}")
    tolerance = data.get("tolerance") or {}
    if "default" not in tolerance:
        raise fail("tolerance needs a 'default'")
    entries: list[Entry] = []
    seen: set = set()
    table_ids: set[str] = set()
    for table in data.get("tables", []):
        for key in ("id", "title", "entries"):
            if key not in table:
                raise fail(f"a table lacks {key!r}")
        if table["id"] in table_ids:
            raise fail(f"table id {table['id']!r} used twice")
        table_ids.add(table["id"])
        for n, raw in enumerate(table["entries"]):
            where = f"table {table['id']!r} entry {n}"
            if not isinstance(raw.get("value"), (int, float)) or isinstance(raw.get("value"), bool):
                raise fail(f"{where}: value must be a number, got {raw.get('value')!r}")
            if not raw.get("source"):
                raise fail(f"{where}: every number needs its source tag")
            if not isinstance(raw.get("setting"), dict) or not all(isinstance(v, str) for v in raw["setting"].values()):
                raise fail(f"{where}: setting must map names to strings")
            entry = Entry(table=table["id"], setting=dict(raw["setting"]), metric=str(raw["metric"]),
                          value=float(raw["value"]), unit=str(raw.get("unit", "")), source=str(raw["source"]),
                          higher_is_better=raw.get("higher_is_better"), std=_std(raw, fail, where),
                          mean_of=_mean_of(raw, fail, where), **_over(raw, fail, where))
            if entry.key in seen:
                raise fail(f"{where}: (setting, metric) {entry.setting} / {entry.metric} appears twice")
            seen.add(entry.key)
            entries.append(entry)
    return PaperReport(paper=paper, tolerance=tolerance, tables=list(data.get("tables", [])), entries=entries,
                       unknown=list(data.get("unknown", [])))


def _mean_of(raw: dict[str, Any], fail: Any, where: str) -> tuple[str, tuple[str, ...]] | None:
    """``"mean_of": {"split": ["1", "2", "3", "4"]}``: one setting key of the entry and the values it averages."""
    spec = raw.get("mean_of")
    if spec is None:
        return None
    if not isinstance(spec, dict) or len(spec) != 1:
        raise fail(f"{where}: mean_of must map one setting key to a list of its values")
    (key, values), = spec.items()
    if key not in raw["setting"] or not values or not all(isinstance(v, str) for v in values):
        raise fail(f"{where}: mean_of key {key!r} must be a setting key and its values a non-empty list of strings")
    return key, tuple(values)


RUN_KEYS = ("run.seed",)  # run keys an ``over`` statistic can range over (read from each run's provenance.json)
STATISTICS = ("mean", "std")


def _std(raw: dict[str, Any], fail: Any, where: str) -> float | None:
    """The reported standard deviation: a non-negative number, or absent."""
    std = raw.get("std")
    if std is None:
        return None
    if not isinstance(std, (int, float)) or isinstance(std, bool) or not std >= 0:
        raise fail(f"{where}: std must be a non-negative number, got {std!r}")
    return float(std)


def _over(raw: dict[str, Any], fail: Any, where: str) -> dict[str, Any]:
    """A statistic over runs: ``"over": "run.seed"`` (the runs filling this cell, one per seed) or
    ``"over": {"<setting key>": ["<value>", ...]}`` (one cell per value, e.g. cross-validation folds), with
    ``"statistic"``: ``"mean"`` (default: ``value`` is the mean, ``std`` the reported spread) or ``"std"``
    (``value`` is the std itself), and ``"ddof"`` 1 (default, sample std) or 0. Returns Entry keyword arguments."""
    spec = raw.get("over")
    if spec is None:
        stray = [key for key in ("statistic", "ddof") if key in raw]
        if stray:
            raise fail(f"{where}: {stray} only apply to a statistic over runs; add \"over\": \"run.seed\" or "
                       "{\"<setting key>\": [values]}")
        return {}
    if raw.get("mean_of") is not None:
        raise fail(f"{where}: use either mean_of (a plain mean of cells) or over (mean and std over runs), not both")
    if isinstance(spec, str):
        if spec not in RUN_KEYS:
            raise fail(f"{where}: over must be one of {list(RUN_KEYS)} or {{setting key: [values]}}, got {spec!r}")
        over: str | tuple[str, tuple[str, ...]] = spec
    elif isinstance(spec, dict) and len(spec) == 1:
        (key, values), = spec.items()
        if key not in raw["setting"] or not isinstance(values, list) or len(values) < 2 \
                or not all(isinstance(v, str) for v in values) or len(set(values)) != len(values):
            raise fail(f"{where}: over key {key!r} must be a setting key and its values a list of at least 2 "
                       "distinct strings (the cells the statistic ranges over, e.g. the folds)")
        over = (key, tuple(values))
    else:
        raise fail(f"{where}: over must be one of {list(RUN_KEYS)} or {{setting key: [values]}}, got {spec!r}")
    statistic = raw.get("statistic", "mean")
    if statistic not in STATISTICS:
        raise fail(f"{where}: statistic must be one of {list(STATISTICS)}, got {statistic!r}")
    if statistic == "std" and raw.get("std") is not None:
        raise fail(f"{where}: statistic 'std' reports the spread in value; drop std")
    ddof = raw.get("ddof", 1)
    if isinstance(ddof, bool) or not isinstance(ddof, int) or ddof not in (0, 1):
        raise fail(f"{where}: ddof must be 1 (sample std) or 0 (population std), got {ddof!r}")
    return {"over": over, "statistic": statistic, "ddof": int(ddof)}
