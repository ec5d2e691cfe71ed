"""CachedLogits checks on what a classifier run stored (end to end: test_consistency_calibration_adapter)."""
import pytest
import torch

import bench.results
import bench.store
from bench.data import DatasetLayoutError
from bench.datasets.cached_logits import CachedLogits


def stored_run(tmp_path, monkeypatch, targets: list[int], status: str = "complete"):
    """A run folder whose results and store return the given columns (the store itself is tested in test_store)."""
    (tmp_path / bench.results.RESULTS_FILE).write_text("{}")
    results = {"status": status, "config_sha256": "0" * 64, "smoke": False, "smoke_reason": None, "run_id": "r",
               "dataset": "CIFAR10"}
    columns = {"logits": torch.randn(len(targets), 3), "target": torch.tensor(targets),
               "sample_id": [f"s{i}" for i in range(len(targets))]}
    monkeypatch.setattr(bench.results, "read_results", lambda run_dir: results)
    monkeypatch.setattr(bench.store.SampleStore, "load", lambda self: columns)
    return tmp_path


def test_targets_outside_the_logit_columns_are_refused(tmp_path, monkeypatch):
    assert len(CachedLogits(str(stored_run(tmp_path, monkeypatch, [0, 2, 1])))) == 3
    with pytest.raises(DatasetLayoutError) as error:
        CachedLogits(str(stored_run(tmp_path, monkeypatch, [0, 3, 1, 5])))
    message = str(error.value)
    assert "2 stored targets are not class ids 0..2 (the logits' 3 columns), first 3 for sample 's1'" in message
    assert "check the classifier config's dataset and num_classes" in message


def test_unfinished_run_names_the_fix(tmp_path, monkeypatch):
    with pytest.raises(DatasetLayoutError, match="how to get it: finish it with `bench run <its config.py> --resume`"):
        CachedLogits(str(stored_run(tmp_path, monkeypatch, [0], status="partial")))
