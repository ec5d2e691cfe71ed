"""Non-finite model outputs: refused naming the samples (policy ``error``), or stored and the run flagged (``flag``);
never a "complete" result, and results.json is strict JSON either way."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from fault_harness import expect_clear, record, run_cli, write_eval_config


def _strict_json(path: Path) -> dict:
    def refuse(constant: str) -> None:
        raise ValueError(f"{path}: {constant} is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.fixture
def poisoned(monkeypatch):  # noqa: ANN201
    """TimmClassifier's logits get ``value`` in the rows of sample ids 5 and 17 (digits test ids)."""
    from bench.methods.classifier import TimmClassifier

    predict = TimmClassifier.predict

    def poison(value: float):  # noqa: ANN202
        def patched(self, batch, seeds):  # noqa: ANN001, ANN202
            out = predict(self, batch, seeds)
            for row, index in enumerate(batch["index"].tolist()):
                if index in (5, 17):
                    out["logits"][row, 3] = value
            return out

        monkeypatch.setattr(TimmClassifier, "predict", patched)

    return poison


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")], ids=["nan", "inf", "-inf"])
def test_non_finite_logits_are_refused_naming_the_samples(value, poisoned, tmp_path: Path, digits_checkpoint: Path):
    poisoned(value)
    config = write_eval_config(tmp_path, digits_checkpoint)
    outcome = run_cli("run", config, "--no-progress", "--no-wandb")
    expect_clear(f"{value} logits, default policy", outcome, "logits", "2 sample")
    results = tmp_path / "run" / "results.json"
    assert not results.exists() or _strict_json(results)["status"] != "complete"


def test_flag_policy_stores_and_flags(poisoned, tmp_path: Path, digits_checkpoint: Path):
    poisoned(float("nan"))
    config = write_eval_config(tmp_path, digits_checkpoint, **{"run.nonfinite": "flag"})
    outcome = run_cli("run", config, "--no-progress", "--no-wandb")
    results_path = tmp_path / "run" / "results.json"
    try:
        status = _strict_json(results_path)["status"] if results_path.exists() else None
    except ValueError:
        status = "not strict JSON"
    outcome.notes["results_status"] = status
    kind = record("nan logits, flag policy", outcome, refused=False, silent=status != "flagged")
    assert kind == "clear", f"{kind}: results status {status}\n{outcome.message}"


def test_calibration_metric_on_a_nan_score_is_refused(tmp_path: Path):
    from fault_harness import call_like_cli

    from bench.registry import METRICS

    logits = torch.randn(50, 4)
    logits[7, 1] = float("nan")
    outputs = {"logits": logits, "target": torch.randint(0, 4, (50,))}
    for spec in ("ECE", "AdaECE", "ClasswiseECE"):
        metric = METRICS.build({"type": spec})
        outcome = call_like_cli(metric.compute, outputs)
        expect_clear(f"{spec} on NaN logits", outcome, "1 ", "logits")
