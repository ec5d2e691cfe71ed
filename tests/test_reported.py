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


def with_entry(**fields):
    """``minimal()`` with its one entry changed (a statistic form under test)."""
    data = minimal()
    data["tables"][0]["entries"][0].update(fields)
    return data


def test_statistic_over_runs_parses():
    seeds = parse_report(with_entry(over="run.seed", std=0.2)).entries[0]
    assert (seeds.over, seeds.statistic, seeds.ddof, seeds.std, seeds.member_keys) == ("run.seed", "mean", 1, 0.2, [])
    spread = parse_report(with_entry(over="run.seed", statistic="std", ddof=0)).entries[0]
    assert (spread.statistic, spread.ddof, spread.std) == ("std", 0, None)
    folds = parse_report(with_entry(setting={"dataset": "A", "split": "CV"}, over={"split": ["k1", "k2"]})).entries[0]
    assert folds.over == ("split", ("k1", "k2"))
    assert folds.member_keys == [("t", (("dataset", "A"), ("split", "k1")), "acc"),
                                 ("t", (("dataset", "A"), ("split", "k2")), "acc")]
    plain = parse_report(minimal()).entries[0]
    assert (plain.over, plain.statistic, plain.ddof) == (None, "mean", 1)


@pytest.mark.parametrize("fields, message", [
    ({"over": "run.sed"}, r"entry 0: over must be one of \['run.seed'\] or \{setting key: \[values\]\}, got 'run.sed'"),
    ({"over": ["run.seed"]}, r"entry 0: over must be one of"),
    ({"over": {"fold": ["1", "2"]}}, r"entry 0: over key 'fold' must be a setting key"),
    ({"over": {"dataset": ["A"]}}, r"at least 2 distinct strings"),
    ({"over": {"dataset": ["A", "A"]}}, r"at least 2 distinct strings"),
    ({"over": {"dataset": ["A", 2]}}, r"at least 2 distinct strings"),
    ({"over": "run.seed", "statistic": "median"}, r"statistic must be one of \['mean', 'std'\], got 'median'"),
    ({"over": "run.seed", "statistic": "std", "std": 0.1}, r"statistic 'std' reports the spread in value; drop std"),
    ({"over": "run.seed", "ddof": 2}, r"ddof must be 1 \(sample std\) or 0 \(population std\), got 2"),
    ({"over": "run.seed", "ddof": True}, r"ddof must be 1"),
    ({"over": "run.seed", "std": -1}, r"std must be a non-negative number, got -1"),
    ({"std": "4.7"}, r"std must be a non-negative number, got '4.7'"),
    ({"statistic": "std"}, r"\['statistic'\] only apply to a statistic over runs"),
    ({"over": "run.seed", "mean_of": {"dataset": ["A", "B"]}}, r"either mean_of .* or over"),
])
def test_bad_statistic_forms_name_the_file_and_entry(fields, message):
    with pytest.raises(ReportedError, match=r"^papers/x\.json: table 't' entry 0: ") as caught:
        parse_report(with_entry(**fields), source="papers/x.json")
    assert caught.match(message) and str(caught.value).endswith("(format: results/reported/SCHEMA.md)")
