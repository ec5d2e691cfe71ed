import math

import pytest
import torch

from bench.finite import NonFiniteError
from bench.metrics.classification import NLL, Accuracy, Brier, TopKAccuracy, class_probabilities, top_label


def test_probabilities_come_from_probs_or_softmax_of_logits():
    logits = torch.tensor([[0.0, math.log(3.0)]])
    assert torch.allclose(class_probabilities({"logits": logits}), torch.tensor([[0.25, 0.75]]))
    probs = torch.tensor([[0.5, 0.5]])
    assert class_probabilities({"probs": probs, "logits": logits}) is probs  # stored probabilities win


def test_accuracy_breaks_ties_towards_the_first_class():
    probs = torch.tensor([[0.5, 0.5, 0.0], [0.2, 0.4, 0.4], [0.1, 0.1, 0.8]])
    target = torch.tensor([0, 2, 2])
    confidence, correct = top_label({"probs": probs, "target": target})
    assert correct.tolist() == [1.0, 0.0, 1.0]
    assert confidence.tolist() == pytest.approx([0.5, 0.4, 0.8])
    assert Accuracy().compute({"probs": probs, "target": target})["accuracy"] == pytest.approx(2 / 3)


def test_nll_matches_sklearn_and_survives_saturation():
    from sklearn.metrics import log_loss

    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(200, 5, generator=gen)
    target = torch.randint(0, 5, (200,), generator=gen)
    ours = NLL().compute({"logits": logits, "target": target})["nll"]
    assert ours == pytest.approx(log_loss(target.numpy(), torch.softmax(logits.double(), 1).numpy(), labels=range(5)))
    saturated = torch.tensor([[200.0, 0.0]])  # float32 softmax gives exactly 0 for class 1
    assert NLL().compute({"logits": saturated, "target": torch.tensor([1])})["nll"] == pytest.approx(200.0)


def test_nll_of_probabilities_adds_1e_12_to_zeros():
    probs = torch.tensor([[1.0, 0.0], [0.25, 0.75]])  # a vote fraction of 0 for the true class of sample 0
    value = NLL().compute({"probs": probs, "target": torch.tensor([1, 1])})["nll"]
    assert value == pytest.approx((-math.log(1e-12) - math.log(0.75 + 1e-12)) / 2)
    assert value == pytest.approx((27.631021115928547 + 0.2876820724517809) / 2)


def test_brier_hand_computed_and_bounds():
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.0, 1.0, 0.0]])
    target = torch.tensor([0, 0])
    # sample 0: .3^2 + .2^2 + .1^2 = .14; sample 1 (confidently wrong): 1 + 1 = 2
    assert Brier().compute({"probs": probs, "target": target})["brier"] == pytest.approx((0.14 + 2.0) / 2)
    assert Brier().compute({"probs": torch.eye(3), "target": torch.arange(3)})["brier"] == 0.0


def test_metrics_name_the_missing_columns():
    with pytest.raises(KeyError, match="one of 'logits'/'probs'"):
        Accuracy().check({"target": torch.zeros(2)})


def test_top_k_accuracy_counts_the_target_among_the_k_best():
    logits = torch.tensor([[3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0], [1.0, 0.0, 3.0, 2.0]])
    target = torch.tensor([1, 0, 2])  # ranks 2, 4, 1
    assert TopKAccuracy(2).compute({"logits": logits, "target": target})["top2"] == pytest.approx(2 / 3)
    assert TopKAccuracy(1).compute({"logits": logits, "target": target})["top1"] == pytest.approx(1 / 3)
    assert TopKAccuracy(9).compute({"probs": torch.softmax(logits, 1), "target": target})["top9"] == 1.0


@pytest.mark.parametrize("metric", [Accuracy(), NLL(), Brier(), TopKAccuracy(k=2)],
                         ids=["Accuracy", "NLL", "Brier", "TopKAccuracy"])
@pytest.mark.parametrize("column", ["logits", "probs"])
def test_metrics_refuse_nonfinite_scores_with_the_count(metric, column):
    values = torch.tensor([[0.7, 0.2, 0.1], [float("nan"), 0.5, 0.5], [0.1, 0.1, 0.8]])
    outputs = {"sample_id": ["x", "y", "z"], column: values, "target": torch.tensor([0, 1, 2])}
    with pytest.raises(NonFiniteError, match=rf"{type(metric).__name__}: 1 of 3 samples have non-finite .*'{column}'"
                                             r".*\(ids 'y'\)"):
        metric.compute(outputs)
