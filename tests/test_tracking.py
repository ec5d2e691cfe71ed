"""W&B mirror: offline files read back; failures are recorded, never raised, and lose nothing."""
import json
from pathlib import Path

import pytest
import torch

from bench.results import read_results
from bench.runner import evaluate
from bench.tracking import mirror_to_wandb, read_offline_run, resolve_mode
from helpers import eval_config


def test_offline_mirror_reads_back(tmp_path: Path, digits_checkpoint: Path, monkeypatch):
    monkeypatch.delenv("WANDB_DIR", raising=False)
    run_dir = evaluate(eval_config(tmp_path / "run", digits_checkpoint, **{"run.limit": 50}), wandb_mode="offline",
                       progress=False)
    results = read_results(run_dir)
    status = json.loads((run_dir / "wandb_status.json").read_text())
    assert status["ok"] and status["mode"] == "offline"
    record = read_offline_run(run_dir)
    assert record["run"]["id"] == results["run_id"]
    assert record["run"]["group"] == "demo" and record["run"]["job_type"] == "TimmClassifier"
    assert record["config"]["provenance"]["config_sha256"] == results["config_sha256"]
    assert record["config"]["config"]["method"]["model_name"] == "test_resnet"
    for name, value in results["metrics"].items():
        assert record["summary"][f"metrics/{name}"] == pytest.approx(value)
    assert record["summary"]["status"] == "partial"
    assert {"name": f"results-{results['run_id']}", "type": "results", "files": ["results.json"]} in record["artifacts"]
    assert "metrics_table/_type" in record["history_keys"]


def test_a_wandb_failure_keeps_local_results(tmp_path: Path):
    (tmp_path / "results.json").write_text("{}")
    results = {"run_id": "x", "paper": None, "method": "M", "metrics": {"a": 1.0}, "status": "complete",
               "smoke": False}
    status = mirror_to_wandb(tmp_path, {}, {}, results, mode="not-a-mode")
    assert status["ok"] is False and "error" in status
    assert json.loads((tmp_path / "wandb_status.json").read_text())["ok"] is False
    assert (tmp_path / "results.json").read_text() == "{}"


def test_mode_resolution(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_mode(None) == "disabled" and resolve_mode("online") == "online"
    monkeypatch.delenv("WANDB_MODE")
    assert resolve_mode(None) == "offline"


def test_figures_are_logged_as_images(tmp_path: Path):
    from bench.figures import reliability_diagram

    reliability_diagram(torch.rand(50), torch.ones(50), tmp_path / "figures" / "reliability_diagram.png")
    (tmp_path / "results.json").write_text("{}")
    results = {"run_id": "fig-run", "paper": None, "method": "M", "metrics": {"a": 1.0}, "status": "complete",
               "smoke": False, "figures": {"reliability_diagram": "figures/reliability_diagram.png"}}
    status = mirror_to_wandb(tmp_path, {}, {}, results, mode="offline")
    assert status["ok"], status
    images = list((tmp_path / "wandb").rglob("media/images/figures/reliability_diagram*.png"))
    assert len(images) == 1
