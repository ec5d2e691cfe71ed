import pytest
import torch

from bench.figures import reliability_bins, reliability_diagram
from bench.tasks.classification import CalibrationTask


def test_reliability_bins_use_the_ece_bins():
    conf = torch.tensor([0.0, 0.2, 0.5, 0.55, 1.0], dtype=torch.float64)
    correct = torch.tensor([1.0, 0.0, 1.0, 0.0, 1.0])
    bins = reliability_bins(conf, correct, n_bins=2)  # (0, 0.5], (0.5, 1]; 0.0 is in no bin
    assert bins["count"].tolist() == [2.0, 2.0]
    assert bins["accuracy"].tolist() == pytest.approx([0.5, 0.5])
    assert bins["confidence"].tolist() == pytest.approx([0.35, 0.775])


def test_diagram_is_a_png(tmp_path):
    gen = torch.Generator().manual_seed(0)
    conf = torch.rand(300, generator=gen)
    path = reliability_diagram(conf, (torch.rand(300, generator=gen) < conf).double(), tmp_path / "r.png", title="x")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_calibration_task_scores_the_whole_suite_and_draws(tmp_path):
    probs = torch.tensor([[0.7, 0.3], [0.2, 0.8], [0.6, 0.4]])
    outputs = {"probs": probs, "target": torch.tensor([0, 1, 1])}
    task = CalibrationTask()
    assert set(task.evaluate(outputs)) == {"accuracy", "ece_15", "adaece_15", "cece_15", "nll", "brier"}
    figures = task.write_figures(outputs, tmp_path)
    assert figures["reliability_diagram"].is_file()
