import json
from pathlib import Path

import pytest

from bench.reported import ReportedError, all_slugs, load_all, parse_report
from helpers import REPO

SHEETS = REPO.parent / "shared" / "papers"


def test_every_paper_has_a_valid_reported_file():
    reports = load_all()
    assert len(reports) == 17
    assert sum(len(r.entries) for r in reports) > 500
    for report in reports:
        assert report.paper["slug"] == Path(report.slug).name
        assert all(e.source for e in report.entries)


@pytest.mark.skipif(not SHEETS.is_dir(), reason="../shared/papers not beside the checkout")
def test_slugs_match_the_paper_sheets():
    assert set(all_slugs()) == {p.stem for p in SHEETS.glob("*.md")} - {"README"}


def test_spot_values_against_the_sheets():
    diffact = {(e.setting["dataset"], e.metric): e.value for e in parse_report(
        json.loads((REPO / "results/reported/diffact.json").read_text())).entries}
    assert diffact[("GTEA", "F1@10")] == 92.5 and diffact[("Breakfast", "Acc")] == 76.4


def minimal(**changes):
    data = {"schema_version": 1, "paper": {k: "x" for k in ("slug", "title", "arxiv", "venue", "official_code",
                                                            "task_family", "datasets", "metrics")},
            "tolerance": {"default": 0.5},
            "tables": [{"id": "t", "title": "T", "entries": [
                {"setting": {"dataset": "A"}, "metric": "acc", "value": 1.0, "unit": "%", "source": "paper"}]}]}
    data.update(changes)
    return data


def test_schema_errors_name_the_problem():
    parse_report(minimal())
    bad_value = minimal()
    bad_value["tables"][0]["entries"][0]["value"] = "~80"
    with pytest.raises(ReportedError, match="value must be a number"):
        parse_report(bad_value)
    no_source = minimal()
    no_source["tables"][0]["entries"][0]["source"] = ""
    with pytest.raises(ReportedError, match="source tag"):
        parse_report(no_source)
    dup = minimal()
    dup["tables"][0]["entries"].append(dict(dup["tables"][0]["entries"][0]))
    with pytest.raises(ReportedError, match="appears twice"):
        parse_report(dup)
    with pytest.raises(ReportedError, match="tolerance needs a 'default'"):
        parse_report(minimal(tolerance={}))
