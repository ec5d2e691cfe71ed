import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bench.methods.consistency_calibration import CALIBRATORS
from bench.methods.consistency_calibration.baselines import (BBQ, EnsembleTemperatureScaling, HistogramBinning,
                                                             TemperatureScaling, Uncalibrated, VectorScaling)


def sampled_labels(logits: torch.Tensor, temperature: float, seed: int = 0) -> torch.Tensor:
    """Labels drawn from softmax(logits / temperature): the true temperature of these logits."""
    gen = torch.Generator().manual_seed(seed)
    return torch.multinomial(torch.softmax(logits.double() / temperature, 1), 1, generator=gen).squeeze(1)


@pytest.fixture(scope="module")
def data():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6000, 8, generator=gen) * 4
    return logits, sampled_labels(logits, 2.0)


def test_registry_holds_the_baselines():
    assert {"Uncalibrated", "TemperatureScaling", "VectorScaling", "HistogramBinning", "BBQ",
            "EnsembleTemperatureScaling", "ConsistencyCalibrator"} <= set(CALIBRATORS.module_dict)


def test_uncalibrated_is_the_identity(data):
    logits, _ = data
    assert Uncalibrated().calibrate(logits) is logits


def test_temperature_scaling_recovers_the_true_temperature_and_the_nll_optimum(data):
    logits, labels = data
    ts = TemperatureScaling().fit(logits[:3000], labels[:3000])
    assert ts.temperature == pytest.approx(2.0, abs=0.1)
    grid = np.linspace(1.5, 2.5, 2001)  # the sheet's reference fits TS by an NLL grid search
    nll = [float(F.cross_entropy(logits[:3000].double() / t, labels[:3000])) for t in grid]
    assert ts.temperature == pytest.approx(grid[int(np.argmin(nll))], abs=1e-3)
    assert ts.fitted_values() == {"temperature": ts.temperature}
    assert torch.equal(ts.calibrate(logits), logits / ts.temperature)


def test_vector_scaling_is_at_least_as_good_as_temperature_scaling_on_its_fit_set(data):
    logits, labels = data
    gen = torch.Generator().manual_seed(1)
    skewed = logits * (1 + torch.rand(8, generator=gen))  # per-class scales: what VS can fix and TS cannot
    ts, vs = TemperatureScaling().fit(skewed, labels), VectorScaling().fit(skewed, labels)
    nll_ts = float(F.cross_entropy(ts.calibrate(skewed).double(), labels))
    nll_vs = float(F.cross_entropy(vs.calibrate(skewed).double(), labels))
    assert nll_vs < nll_ts - 1e-3
    assert vs.calibrate(skewed).shape == skewed.shape


def one_vs_all_histogram(val_probs, val_labels, test_probs, bins):
    """Zadrozny & Elkan's binning per class (equal-width bins, [lo, hi) with the last closed), then normalised."""
    k = val_probs.shape[1]
    out = np.zeros_like(test_probs)
    edges = np.linspace(0, 1, bins + 1)
    for c in range(k):
        val_bin = np.clip(np.digitize(val_probs[:, c], edges[1:-1]), 0, bins - 1)
        test_bin = np.clip(np.digitize(test_probs[:, c], edges[1:-1]), 0, bins - 1)
        freq = np.array([(val_labels[val_bin == b] == c).mean() if (val_bin == b).any() else 0.0
                         for b in range(bins)])
        out[:, c] = freq[test_bin]
    return out / out.sum(1, keepdims=True)


def test_histogram_binning_via_netcal_agrees_with_one_vs_all_binning():
    pytest.importorskip("netcal")
    gen = torch.Generator().manual_seed(2)
    logits = torch.randn(3000, 4, generator=gen) * 2
    labels = sampled_labels(logits, 1.5, seed=2)
    hb = HistogramBinning(bins=10).fit(logits[:2000], labels[:2000])
    ours = hb.calibrate(logits[2000:]).double().numpy()
    probs = torch.softmax(logits.double(), 1).numpy()
    reference = one_vs_all_histogram(probs[:2000], labels[:2000].numpy(), probs[2000:], 10)
    finite = np.isfinite(reference).all(1)
    assert finite.mean() > 0.99
    assert np.allclose(ours[finite], reference[finite], atol=1e-6)
    assert np.allclose(ours.sum(1), 1.0, atol=1e-6)


def test_bbq_and_ets_give_distributions_and_fit_sensible_parameters(data):
    pytest.importorskip("netcal")
    logits, labels = data
    for calibrator in (BBQ(), EnsembleTemperatureScaling()):
        probs = calibrator.fit(logits[:2000], labels[:2000]).calibrate(logits[2000:2500])
        assert probs.shape == (500, 8) and bool((probs >= 0).all())
        assert torch.allclose(probs.sum(1), torch.ones(500), atol=1e-5)
    ets = EnsembleTemperatureScaling().fit(logits[:3000], labels[:3000])
    weights = np.array([ets.fitted_values()[f"ets_w{i}"] for i in range(3)])
    assert weights.sum() == pytest.approx(1.0) and (weights >= -1e-9).all()
    assert 0.05 <= ets.temperature <= 5.0 and ets.temperature == pytest.approx(2.0, abs=0.3)


def test_unfitted_calibrators_say_so():
    for calibrator in (TemperatureScaling(), VectorScaling(), EnsembleTemperatureScaling()):
        with pytest.raises(RuntimeError, match="not fitted"):
            calibrator.calibrate(torch.zeros(2, 3))
