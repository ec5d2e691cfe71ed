from pathlib import Path

import pytest

from bench.io import atomic_write_json
from bench.config import load_config
from bench.results import (RESULT_KEYS, find_runs, finite_metrics, paper_cells, read_results, run_dir_for,
                           train_dir_for, train_settings, write_results)


def test_paper_cells_map_metrics_to_the_paper_unit():
    paper = {"slug": "x", "table": "main", "setting": {"dataset": "A"},
             "metrics": {"Acc": {"key": "accuracy", "scale": 100}, "NLL": "nll"}}
    cells = paper_cells(paper, {"accuracy": 0.9512, "nll": 0.2})
    assert cells == [{"table": "main", "setting": {"dataset": "A"}, "metric": "Acc", "value": pytest.approx(95.12)},
                     {"table": "main", "setting": {"dataset": "A"}, "metric": "NLL", "value": 0.2}]
    assert paper_cells(None, {"a": 1.0}) == []
    with pytest.raises(ValueError, match="did not compute"):
        paper_cells({**paper, "metrics": {"Acc": "top1"}}, {"accuracy": 0.9})


def test_a_paper_metric_may_fill_another_table():
    paper = {"slug": "x", "table": "main", "setting": {"m": "TS"},
             "metrics": {"temperature": {"key": "temperature", "table": "fitted"}}}
    assert paper_cells(paper, {"temperature": 2.5})[0]["table"] == "fitted"


def test_splits_of_one_trained_model_share_the_train_dir_but_not_the_run_dir():
    from bench.config import config_hash

    val = load_config("demo/consistency_calibration_0_logits_val")
    test = load_config("demo/consistency_calibration_0_logits_test")
    harness = load_config("demo/harness_digits")
    assert train_dir_for(val) == train_dir_for(test) == train_dir_for(harness)
    assert run_dir_for(val, config_hash(val)) != run_dir_for(test, config_hash(test))
    other = load_config("demo/harness_digits", {"train.epochs": 9})
    assert train_dir_for(other) != train_dir_for(harness)


def test_the_train_dir_is_keyed_by_the_effective_seed():
    harness = load_config("demo/harness_digits")  # train.seed=0 written out: a run.seed sweep shares its model
    assert train_dir_for(load_config("demo/harness_digits", {"run.seed": 1})) == train_dir_for(harness)
    unseeded = {}
    for run_seed in (0, 1):
        cfg = load_config("demo/harness_digits", {"run.seed": run_seed})
        cfg.train.pop("seed")  # the train stage then seeds with run.seed
        assert train_settings(cfg)["seed"] == run_seed
        unseeded[run_seed] = train_dir_for(cfg)
    assert unseeded[0] == train_dir_for(harness)  # the same effective settings: the same folder
    assert unseeded[1] == train_dir_for(load_config("demo/harness_digits", {"train.seed": 1})) != unseeded[0]


def test_train_settings_fill_the_seed_into_the_section_given():
    cfg = load_config("demo/harness_digits", {"run.seed": 7})
    cfg.train.pop("seed")
    resolved = {"dataset": {"type": "Digits"}, "epochs": 2}
    assert train_settings(cfg, resolved) == {"dataset": {"type": "Digits"}, "epochs": 2, "seed": 7}
    assert resolved == {"dataset": {"type": "Digits"}, "epochs": 2}  # the caller's dict is left alone
    assert train_settings(cfg, {"seed": 3})["seed"] == 3


def test_results_round_trip_and_schema_check(tmp_path: Path):
    results = {key: None for key in RESULT_KEYS if key != "schema_version"}
    write_results(tmp_path / "run", results)
    assert read_results(tmp_path / "run")["schema_version"] == 1
    assert find_runs(tmp_path) == [tmp_path / "run"]
    with pytest.raises(ValueError, match="results lack"):
        write_results(tmp_path / "bad", {"run_id": "x"})
    atomic_write_json(tmp_path / "old" / "results.json", {"schema_version": 0})
    with pytest.raises(ValueError, match="bench score"):
        read_results(tmp_path / "old")


def test_json_is_strict_a_nonfinite_value_is_written_as_null(tmp_path: Path):
    import json

    import numpy as np
    import torch

    def refuse(constant: str):
        raise ValueError(f"bare {constant}")

    path = atomic_write_json(tmp_path / "x.json", {"nan": float("nan"), "list": [1.0, float("-inf")],
                                                   "np": np.float32("inf"), "torch": torch.tensor(float("nan")),
                                                   "fine": 0.5})
    assert json.loads(path.read_text(), parse_constant=refuse) == {"nan": None, "list": [1.0, None], "np": None,
                                                                   "torch": None, "fine": 0.5}


def test_nonfinite_metrics_become_null_names_and_null_cells():
    metrics, undefined = finite_metrics({"mIoU": 0.5, "IoU.sky": float("nan"), "gap": float("inf"), "x": None})
    assert metrics == {"mIoU": 0.5, "IoU.sky": None, "gap": None, "x": None}
    assert undefined == ["IoU.sky", "gap", "x"]
    paper = {"slug": "x", "table": "main", "setting": {}, "metrics": {"mIoU": {"key": "mIoU", "scale": 100},
                                                                      "sky": {"key": "IoU.sky", "scale": 100}}}
    assert [cell["value"] for cell in paper_cells(paper, metrics)] == [50.0, None]
    assert paper_cells(paper, {"mIoU": float("nan"), "IoU.sky": 0.25})[0]["value"] is None
