"""ModelCost: the stored constant cost columns, in millions and billions (bench.metrics.cost)."""
import pytest
import torch

from bench.metrics.cost import ModelCost


def test_model_cost_reports_the_stored_constant_and_refuses_mixtures():
    values = ModelCost().compute({"params": torch.tensor([9_393_475] * 3), "macs": torch.tensor([2 * 10**9] * 3)})
    assert values == {"params (M)": pytest.approx(9.393475), "GMACs per image": pytest.approx(2.0)}
    with pytest.raises(ValueError, match="disagree"):
        ModelCost().compute({"params": torch.tensor([1, 2]), "macs": torch.tensor([3, 3])})
