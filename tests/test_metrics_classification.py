import math

import numpy as np
import pytest
import torch

from bench.metrics.classification import ECE, NLL, Accuracy, expected_calibration_error


def logits_for(confidences: list[float], n_classes: int = 2) -> torch.Tensor:
    """Binary logits whose softmax top-1 probability is exactly each confidence (class 0 on top)."""
    out = []
    for c in confidences:
        c = min(max(c, 1e-300), 1.0)
        other = (1 - c) / (n_classes - 1)
        out.append([math.log(c)] + [math.log(other) if other > 0 else -1e300] * (n_classes - 1))
    return torch.tensor(out, dtype=torch.float64)


def test_ece_hand_computed_three_bins():
    # bins (0,1/3], (1/3,2/3], (2/3,1]; conf 0.3 wrong -> bin 0: |0-0.3|; 0.6 right, 0.5 wrong -> bin 1:
    # |0.5-0.55|*2; 0.9 right -> bin 2: |1-0.9|. ECE = (0.3 + 0.1 + 0.1) / 4
    conf = torch.tensor([0.3, 0.6, 0.5, 0.9])
    correct = torch.tensor([0.0, 1.0, 0.0, 1.0])
    assert expected_calibration_error(conf, correct, n_bins=3) == pytest.approx(0.5 / 4)


def test_ece_bin_edges_are_lower_open_upper_closed():
    # 0.5 lies on the edge between two bins of n_bins=2: it belongs to (0, 0.5], together with 0.2.
    conf = torch.tensor([0.2, 0.5, 1.0])
    correct = torch.tensor([1.0, 1.0, 1.0])
    # bin (0,.5]: acc 1, mean conf .35 -> .65*2; bin (.5,1]: acc 1, conf 1 -> 0
    assert expected_calibration_error(conf, correct, 2) == pytest.approx(0.65 * 2 / 3)


def test_ece_confidence_zero_and_one_and_empty_bins():
    conf = torch.tensor([0.0, 1.0, 1.0])
    correct = torch.tensor([0.0, 1.0, 0.0])
    # 0 -> first bin (|0-0|), 1.0 twice -> last bin (|0.5-1|*2); 13 empty bins contribute nothing
    assert expected_calibration_error(conf, correct, 15) == pytest.approx(1.0 / 3)


def test_ece_metric_on_logits_with_ties():
    logits = torch.tensor([[1.0, 1.0], [2.0, 0.0]])  # a tie: argmax takes the first class
    target = torch.tensor([0, 1])
    value = ECE(n_bins=15).compute({"logits": logits, "target": target})["ece_15"]
    p = 1 / (1 + math.exp(-2))
    assert value == pytest.approx((abs(1 - 0.5) * 1 + abs(0 - p) * 1) / 2)


def test_ece_parity_with_torchmetrics_off_the_edges():
    tm = pytest.importorskip("torchmetrics.functional.classification")
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(4000, 10, generator=gen) * 3
    target = torch.randint(0, 10, (4000,), generator=gen)
    ours = ECE(15).compute({"logits": logits, "target": target})["ece_15"]
    theirs = tm.multiclass_calibration_error(torch.softmax(logits, 1), target, num_classes=10, n_bins=15, norm="l1")
    assert ours == pytest.approx(float(theirs), abs=1e-5)


def test_ece_differs_from_torchmetrics_on_bin_edges():
    tm = pytest.importorskip("torchmetrics.functional.classification")
    # n_bins=5, confidence 0.6 sits on an edge: (lo, hi] puts it in (0.4, 0.6] apart from 0.7, giving
    # (|1-0.6| + |0-0.7|) / 2 = 0.55; torchmetrics' [lo, hi) joins both in [0.6, 0.8): |0.5-0.65| = 0.15.
    probs = torch.tensor([[0.6, 0.4], [0.7, 0.3]])  # float32: 0.6 equals the float32 edge linspace(0, 1, 6)[3]
    target = torch.tensor([0, 1])
    ours = expected_calibration_error(probs.max(1).values, (probs.argmax(1) == target).double(), 5)
    theirs = float(tm.multiclass_calibration_error(probs, target, num_classes=2, n_bins=5, norm="l1"))
    assert ours == pytest.approx(0.55, abs=1e-6)
    assert theirs == pytest.approx(0.15, abs=1e-6)


def test_nll_matches_sklearn_and_survives_saturation():
    from sklearn.metrics import log_loss

    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(200, 5, generator=gen)
    target = torch.randint(0, 5, (200,), generator=gen)
    ours = NLL().compute({"logits": logits, "target": target})["nll"]
    assert ours == pytest.approx(log_loss(target.numpy(), torch.softmax(logits.double(), 1).numpy(), labels=range(5)))
    saturated = NLL().compute({"logits": torch.tensor([[200.0, -200.0]]), "target": torch.tensor([1])})["nll"]
    assert saturated == pytest.approx(400.0)  # float64 log-softmax: no inf from a zero probability


def test_accuracy():
    logits = torch.tensor([[0.0, 1.0], [2.0, 1.0], [0.0, 3.0]])
    assert Accuracy().compute({"logits": logits, "target": torch.tensor([1, 0, 0])})["accuracy"] == pytest.approx(2 / 3)


def test_metrics_name_missing_columns():
    with pytest.raises(KeyError, match="needs output column"):
        Accuracy().check({"logits": np.zeros((1, 2))})
