import shutil
from pathlib import Path

import pandas as pd
import pytest

from bench.cli import write_tables
from bench.io import atomic_write_json
from bench.results import find_runs
from bench.tables import (PAGE_TABLE_END, PAGE_TABLE_START, cell_status, leaderboard, match_tolerance, paper_table,
                          render, render_paper, runs_table, with_page_table)
from helpers import REPO


def fake_run(root: Path, name: str, value: float | None, status: str = "complete", smoke: bool = False,
             created: str = "2026-01-01T00:00:00+00:00", split: str = "mean") -> None:
    """A results.json as a diffact run would write it (the table code reads nothing else)."""
    atomic_write_json(root / name / "results.json", {
        "schema_version": 1, "run_id": name, "name": name, "paper": "diffact", "method": "M", "dataset": "D",
        "task": "t", "config_sha256": "0" * 64, "status": status, "smoke": smoke, "smoke_reason": None,
        "samples": {}, "metrics": {"acc": None if value is None else value / 100}, "created": created,
        "cells": [{"table": "main", "setting": {**GTEA_MEAN, "split": split}, "metric": "Acc", "value": value}]})


GTEA_MEAN = {"dataset": "GTEA", "split": "mean", "selection": "selected on test (as published)"}


def gtea_acc(frame, split: str = "mean"):
    items = {**GTEA_MEAN, "split": split}.items()  # reported rows keep the file's key order, unreported are sorted
    setting = ", ".join(f"{k}={v}" for k, v in (items if split == "mean" else sorted(items)))
    return frame[(frame.metric == "Acc") & (frame.setting == setting)].iloc[0]


def test_match_tolerance_is_half_the_last_digit():
    assert match_tolerance(80.3) == pytest.approx(0.05)
    assert match_tolerance(2.61) == pytest.approx(0.005)
    assert match_tolerance(12.0) == pytest.approx(0.5)


@pytest.mark.parametrize("value, expected", [(80.3, "match"), (80.34, "match"), (80.6, "within tolerance"),
                                             (81.0, "mismatch"), (None, "missing")])
def test_cell_status(value, expected):
    assert cell_status(80.3, value, tolerance=0.5) == expected


def test_runs_fill_cells_with_delta_and_status(tmp_path: Path):
    fake_run(tmp_path, "old", 70.0, created="2026-01-01T00:00:00+00:00")
    fake_run(tmp_path, "new", 80.6, created="2026-02-01T00:00:00+00:00")
    row = gtea_acc(paper_table("diffact", [tmp_path]))
    assert (row.reported, row.reproduced, row.status, row.run_id) == (80.3, 80.6, "within tolerance", "new")
    assert row.delta == pytest.approx(0.3)


def test_partial_and_smoke_runs_never_fill_a_cell(tmp_path: Path):
    fake_run(tmp_path, "partial", 80.3, status="partial")
    fake_run(tmp_path, "smoky", 80.3, smoke=True)
    row = gtea_acc(paper_table("diffact", [tmp_path]))
    assert row.status == "smoke" and pd.isna(row.reproduced)
    assert "smoke/partial run" in row.note


def test_a_null_metric_leaves_its_cell_missing_not_a_crash(tmp_path: Path):
    fake_run(tmp_path, "undefined", None)  # a metric without a finite value is written as null
    fake_run(tmp_path, "flagged", None, status="flagged")
    row = gtea_acc(paper_table("diffact", [tmp_path]))
    assert row.status == "missing" and pd.isna(row.reproduced) and row.note == ""
    assert runs_table(find_runs(tmp_path))["acc"].isna().all()


def test_split_mean_cell_fills_once_every_split_is_filled(tmp_path: Path):
    values = [81.0, 79.0, 80.5, 80.1]
    for split, value in enumerate(values[:-1], start=1):
        fake_run(tmp_path, f"s{split}", value, split=str(split))
    frame = paper_table("diffact", [tmp_path])
    assert gtea_acc(frame).status == "missing"  # three of four splits
    assert gtea_acc(frame, "2").reproduced == 79.0 and gtea_acc(frame, "2").status == "unreported"
    fake_run(tmp_path, "s4", values[-1], split="4")
    row = gtea_acc(paper_table("diffact", [tmp_path]))
    assert row.reproduced == pytest.approx(80.15) and row.delta == pytest.approx(-0.15)
    assert row.status == "within tolerance" and row.run_id == "mean of 4 runs"


def test_formats_render(tmp_path: Path):
    frame = paper_table("diffact", [tmp_path])
    assert render(frame, "csv").splitlines()[0].startswith("table,setting,metric,reported")
    assert "\\begin{tabular}" in render(frame, "latex")
    text = render_paper("diffact", "md", [tmp_path])
    assert text.startswith("# Diffusion Action Segmentation") and "| main" in text


def test_leaderboard_counts_every_reported_cell(tmp_path: Path):
    fake_run(tmp_path, "one", 80.3)
    board = leaderboard([tmp_path]).set_index("paper")
    assert board.loc["diffact", "match"] == 1 and board.loc["diffact", "missing"] == 14
    assert len(board) == 17


def test_committed_tables_are_current(tmp_path: Path):
    shutil.copytree(REPO / "results" / "reproduced", tmp_path / "reproduced")
    for page in (REPO / "configs").glob("*/README.md"):  # the paper pages, refreshed in a copy
        copy = tmp_path / "pages" / page.parent.name / "README.md"
        copy.parent.mkdir(parents=True)
        shutil.copy(page, copy)
    written = write_tables(tmp_path, tmp_path / "pages")
    for path in written:
        committed = REPO / "results" / path.relative_to(tmp_path) if path.parent.name == "tables" else \
            REPO / "configs" / path.parent.name / "README.md"
        assert committed.is_file(), f"{committed} is missing: run `bench table --write`"
        assert committed.read_text() == path.read_text(), f"{committed} is stale: run `bench table --write`"
    pages = {p.parent.name for p in written if p.name == "README.md"}
    assert pages == {p.parent.name for p in (REPO / "configs").glob("*/README.md")}


def test_page_table_block_is_replaced_and_a_missing_marker_is_an_error():
    page = f"# Paper\n\nintro\n\n{PAGE_TABLE_START}\nold table\n{PAGE_TABLE_END}\n\n## Notes\n"
    table = "# Table\n\n| a |\n|---|\n| 1 |\n"
    new = with_page_table(page, table)
    assert new == f"# Paper\n\nintro\n\n{PAGE_TABLE_START}\n{table}{PAGE_TABLE_END}\n\n## Notes\n"
    assert with_page_table(new, table) == new  # idempotent
    with pytest.raises(ValueError, match="configs/x/README.md.*bench:table:end"):
        with_page_table(page.replace(PAGE_TABLE_END, ""), "t", "configs/x/README.md")
    with pytest.raises(ValueError, match="found 2 and 1"):
        with_page_table(PAGE_TABLE_START + page, "t")


def test_a_stale_page_block_is_rewritten_by_write_tables(tmp_path: Path):
    (tmp_path / "pages" / "diffact").mkdir(parents=True)
    page = tmp_path / "pages" / "diffact" / "README.md"
    page.write_text(f"# DiffAct\n\n{PAGE_TABLE_START}\nstale\n{PAGE_TABLE_END}\n")
    written = write_tables(tmp_path, tmp_path / "pages")
    assert page in written and "stale" not in page.read_text()
    table = (tmp_path / "tables" / "diffact.md").read_text()
    assert page.read_text() == f"# DiffAct\n\n{PAGE_TABLE_START}\n{table.rstrip()}\n{PAGE_TABLE_END}\n"


def test_avg_cell_is_the_mean_of_its_row_once_every_member_is_filled(tmp_path: Path):
    datasets = ["VOC21", "Context60", "COCO-Object", "VOC20", "Context59", "COCO-Stuff", "Cityscapes", "ADE20K"]
    values = [67.0, 38.0, 41.0, 84.0, 42.0, 28.0, 43.0, 22.0]

    def trident_run(name: str, dataset: str, value: float) -> None:
        atomic_write_json(tmp_path / name / "results.json", {
            "schema_version": 1, "run_id": name, "name": name, "paper": "trident", "method": "Trident",
            "dataset": dataset, "task": "segmentation", "config_sha256": "0" * 64, "status": "complete",
            "smoke": False, "smoke_reason": None, "samples": {}, "metrics": {"mIoU": value / 100},
            "created": "2026-01-01T00:00:00+00:00",
            "cells": [{"table": "main", "setting": {"backbone": "CLIP ViT-B/16", "method": "Trident",
                                                    "dataset": dataset}, "metric": "mIoU", "value": value}]})

    def avg_row():
        frame = paper_table("trident", [tmp_path])
        return frame[frame.setting == "backbone=CLIP ViT-B/16, method=Trident, dataset=Avg"].iloc[0]

    for i, (dataset, value) in enumerate(zip(datasets[:-1], values[:-1], strict=True)):
        trident_run(f"run{i}", dataset, value)
    assert avg_row().status == "missing"  # seven of eight: no average
    trident_run("run7", datasets[-1], values[-1])
    row = avg_row()
    assert row.reproduced == pytest.approx(sum(values) / 8) and row.reported == 45.8
    assert row.status == "within tolerance" and row.run_id == "mean of 8 runs"


@pytest.mark.parametrize("rows", [
    [{"a": 1, "b": None, "c": True, "d": "x", "e": None, "f": 1234567}, {"a": 2.5, "b": 1234567, "c": None,
                                                                        "d": None, "e": None, "f": 2}],
    [{"n": float("nan"), "m": 0.1 + 0.2, "k": False}, {"n": 3, "m": 1e-7, "k": True}],
])
def test_markdown_from_rows_is_what_pandas_renders(rows):
    """Rows render without pandas as ``DataFrame(rows).to_markdown`` does: its float64 columns, blanks for gaps."""
    assert render(rows, "md", title="T") == render(pd.DataFrame(rows), "md", title="T")
    assert render([], "md") == render(pd.DataFrame(), "md")


def test_paper_tables_and_leaderboard_render_the_same_without_pandas(tmp_path: Path):
    from bench.reported import all_slugs
    from bench.tables import leaderboard_rows, paper_rows

    roots = [REPO / "results" / "reproduced"]
    for slug in all_slugs():
        assert render(paper_rows(slug, roots), "md") == render(paper_table(slug, roots), "md"), slug
    assert render(leaderboard_rows(roots), "md") == render(leaderboard(roots), "md")


MC_SETTING = {"dataset": "CIFAR-10", "model": "ResNet-50", "loss": "cross-entropy", "method": "CC-Gaussian"}


def stat_run(root: Path, name: str, paper: str, table: str, setting: dict, metric: str, value: float,
             seed: int | None = 0, created: str = "2026-01-01T00:00:00+00:00") -> None:
    """A results.json filling one cell, with the provenance.json that records ``run.seed`` (None: no provenance)."""
    atomic_write_json(root / name / "results.json", {
        "schema_version": 1, "run_id": name, "name": name, "paper": paper, "method": "M", "dataset": "D",
        "task": "t", "config_sha256": "0" * 64, "status": "complete", "smoke": False, "smoke_reason": None,
        "samples": {}, "metrics": {"m": value}, "created": created,
        "cells": [{"table": table, "setting": setting, "metric": metric, "value": value}]})
    if seed is not None:
        atomic_write_json(root / name / "provenance.json", {"seeds": {"base_seed": seed}})


def mc_row(frame, t: str):
    setting = ", ".join(f"{k}={v}" for k, v in {**MC_SETTING, "T": t}.items())
    return frame[(frame.table == "mc_spread") & (frame.setting == setting)].iloc[0]


def test_std_over_seeds_is_numpys_sample_std_one_run_per_seed(tmp_path: Path):
    import numpy as np

    values = [1.13, 1.15, 1.26, 1.20, 1.14]
    for seed, value in enumerate(values):
        stat_run(tmp_path, f"s{seed}", "consistency_calibration", "mc_spread", {**MC_SETTING, "T": "100"},
                 "ECE-15", value, seed=seed, created=f"2026-01-0{seed + 2}T00:00:00+00:00")
    # an older run of seed 2 is replaced by the newer one; a run without a recorded seed is skipped, and said so
    stat_run(tmp_path, "old2", "consistency_calibration", "mc_spread", {**MC_SETTING, "T": "100"}, "ECE-15", 9.0,
             seed=2, created="2026-01-01T00:00:00+00:00")
    stat_run(tmp_path, "noprov", "consistency_calibration", "mc_spread", {**MC_SETTING, "T": "100"}, "ECE-15", 9.0,
             seed=None)
    frame = paper_table("consistency_calibration", [tmp_path])
    assert list(frame.columns[3:8]) == ["reported", "reproduced", "reported_std", "reproduced_std", "n"]
    row = mc_row(frame, "100")
    assert row.metric == "ECE-15 std" and row.reported == 0.04 and row.n == 5
    assert row.reproduced == pytest.approx(np.std(values, ddof=1), abs=1e-6)  # 0.054037
    assert row.delta == pytest.approx(row.reproduced - 0.04) and row.tolerance == 0.02
    assert row.status == "within tolerance" and row.run_id == "5 runs over run.seed"
    assert row.note == "1 run(s) without a recorded seed skipped" and pd.isna(row.reproduced_std)
    other = frame[frame.metric == "Acc"].iloc[0]  # rows that are not statistics leave the new columns blank
    assert pd.isna(other.reported_std) and pd.isna(other.n)


def test_a_statistic_of_one_run_says_so_instead_of_a_zero_std(tmp_path: Path):
    stat_run(tmp_path, "only", "consistency_calibration", "mc_spread", {**MC_SETTING, "T": "1000"}, "ECE-15", 1.2)
    row = mc_row(paper_table("consistency_calibration", [tmp_path]), "1000")
    assert row.status == "missing" and pd.isna(row.reproduced) and row.n == 1
    assert row.note == "n=1: a std needs at least 2 runs" and row.run_id == "1 runs over run.seed"
    empty = mc_row(paper_table("consistency_calibration", [tmp_path]), "100")
    assert empty.status == "missing" and empty.n == 0 and empty.run_id == "" and empty.note == ""


FOLD_SETTING = {"dataset": "CholecT45", "method": "Rendezvous"}


def fold_rows(root: Path):
    frame = paper_table("difftriplet", [root])
    return frame[frame.setting == "dataset=CholecT45, split=5-fold CV, method=Rendezvous"].iloc[0]


def test_mean_and_std_over_folds_and_the_spread_rule(tmp_path: Path):
    import numpy as np

    values = [31.0, 27.5, 33.1, 26.4, 30.2]  # reported 29.4 +- 2.8
    for k, value in enumerate(values[:4], start=1):
        stat_run(tmp_path, f"k{k}", "difftriplet", "baselines_cholect45_cv", {**FOLD_SETTING, "split": f"fold {k}"},
                 "mAP_IVT", value)
    row = fold_rows(tmp_path)
    assert row.status == "missing" and row.note == "4 of 5 split cells filled" and row.n == 0
    stat_run(tmp_path, "k5", "difftriplet", "baselines_cholect45_cv", {**FOLD_SETTING, "split": "fold 5"},
             "mAP_IVT", values[4])
    row = fold_rows(tmp_path)
    assert row.reproduced == pytest.approx(np.mean(values)) and row.n == 5
    assert row.reproduced_std == pytest.approx(np.std(values, ddof=1), abs=1e-6)
    assert (row.reported, row.reported_std, row.tolerance) == (29.4, 2.8, 2.8)
    assert row.delta == pytest.approx(np.mean(values) - 29.4) and row.status == "within tolerance"
    assert row.run_id == "5 runs over split"
    for k in range(1, 6):  # five folds far off: the mean leaves reported mean +- reported std
        stat_run(tmp_path, f"late{k}", "difftriplet", "baselines_cholect45_cv", {**FOLD_SETTING, "split": f"fold {k}"},
                 "mAP_IVT", 20.0 + k, created="2026-03-01T00:00:00+00:00")
    row = fold_rows(tmp_path)
    assert row.reproduced == pytest.approx(23.0) and row.status == "mismatch"


def test_mean_over_seeds_with_ddof_0_and_one_run(tmp_path: Path, monkeypatch):
    import numpy as np

    from bench import tables
    from bench.reported import parse_report

    report = parse_report({
        "schema_version": 1, "paper": {k: "x" for k in ("slug", "title", "arxiv", "venue", "official_code",
                                                         "task_family", "datasets", "metrics")},
        "tolerance": {"default": 0.5},
        "tables": [{"id": "t", "title": "T", "entries": [
            {"setting": {"dataset": "A"}, "metric": "acc", "value": 80.1, "std": 0.5, "unit": "%",
             "source": "paper", "over": "run.seed", "ddof": 0}]}]})
    monkeypatch.setattr(tables, "load_report", lambda slug: report)
    stat_run(tmp_path, "a", "x", "t", {"dataset": "A"}, "acc", 80.3, seed=0)
    row = tables.paper_rows("x", [tmp_path])[0]
    assert (row["reproduced"], row["reproduced_std"], row["n"], row["status"]) == (80.3, None, 1, "within tolerance")
    assert row["note"] == "n=1: a std needs at least 2 runs"
    stat_run(tmp_path, "b", "x", "t", {"dataset": "A"}, "acc", 80.8, seed=1)
    row = tables.paper_rows("x", [tmp_path])[0]
    assert row["reproduced"] == pytest.approx(80.55) and row["n"] == 2 and row["status"] == "within tolerance"
    assert row["reproduced_std"] == pytest.approx(np.std([80.3, 80.8], ddof=0), abs=1e-6)  # ddof 0: 0.25
    stat_run(tmp_path, "c", "x", "t", {"dataset": "A"}, "acc", 82.0, seed=2)
    assert tables.paper_rows("x", [tmp_path])[0]["status"] == "mismatch"  # mean 81.03: outside 80.1 +- 0.5
