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

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...], str]:
        return cell_key(self.table, self.setting, self.metric)

    @property
    def member_keys(self) -> list[tuple[str, tuple[tuple[str, str], ...], str]]:
        """The cells a ``mean_of`` entry averages (its setting with the key set to each value); empty otherwise."""
        if not self.mean_of:
            return []
        key, values = self.mean_of
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
                          higher_is_better=raw.get("higher_is_better"), std=raw.get("std"),
                          mean_of=_mean_of(raw, fail, where))
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
