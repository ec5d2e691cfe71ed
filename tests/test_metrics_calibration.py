"""Calibration errors: hand-computed cases, the reference library's loops, torchmetrics and netcal."""
import numpy as np
import pytest
import torch

from bench.finite import NonFiniteError
from bench.metrics.calibration import (ECE, AdaECE, ClasswiseECE, adaptive_calibration_error,
                                       classwise_calibration_error, equal_mass_edges, expected_calibration_error)


# --- literal per-bin loops in the style of the calibrator library (Component/metrics), the reference protocol ---
def loop_ece(probs: torch.Tensor, labels: torch.Tensor, n_bins: int = 15) -> float:
    probs, labels = probs.numpy(), labels.numpy()
    edges = np.linspace(0, 1, n_bins + 1)
    conf, acc = probs.max(1), probs.argmax(1) == labels
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        in_bin = (conf > lo) & (conf <= hi)
        if in_bin.mean() > 0:
            ece += abs(conf[in_bin].mean() - acc[in_bin].mean()) * in_bin.mean()
    return float(ece)


def loop_adaece(probs: torch.Tensor, labels: torch.Tensor, n_bins: int = 15) -> float:
    conf, pred = probs.max(1)
    acc = pred.eq(labels)
    x = conf.numpy()
    edges = np.interp(np.linspace(0, len(x), n_bins + 1), np.arange(len(x)), np.sort(x))
    ece = torch.zeros(1, dtype=torch.float64)
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        in_bin = conf.gt(lo.item()) * conf.le(hi.item())
        if in_bin.float().mean() > 0:
            ece += (conf[in_bin].double().mean() - acc[in_bin].double().mean()).abs() * in_bin.double().mean()
    return float(ece)


def loop_cece(probs: torch.Tensor, labels: torch.Tensor, n_bins: int = 15) -> float:
    edges = torch.linspace(0, 1, n_bins + 1)
    per_class = []
    for k in range(int(labels.max()) + 1):
        p, hit = probs[:, k], labels.eq(k)
        sce = 0.0
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            in_bin = p.gt(lo.item()) * p.le(hi.item())
            if in_bin.float().mean() > 0:
                sce += float((p[in_bin].double().mean() - hit[in_bin].double().mean()).abs() * in_bin.double().mean())
        per_class.append(sce)
    return float(np.mean(per_class))


def random_outputs(n=3000, k=10, seed=0, scale=3.0):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, k, generator=gen) * scale
    return torch.softmax(logits, 1), torch.randint(0, k, (n,), generator=gen)


def vote_fractions(n=2000, k=10, t=50, seed=0):
    """CC-like outputs: multiples of 1/T, many exact zeros and ones, many ties on bin edges."""
    gen = torch.Generator().manual_seed(seed)
    counts = torch.distributions.Multinomial(t, logits=torch.randn(n, k, generator=gen) * 2).sample()
    return (counts / t).float(), torch.randint(0, k, (n,), generator=gen)


# --- hand-computed cases ---
def test_ece_three_bins():
    # bins (0,1/3], (1/3,2/3], (2/3,1]: 0.3 wrong | 0.6 right, 0.5 wrong | 0.9 right -> (0.3 + 2*0.05 + 0.1) / 4
    conf = torch.tensor([0.3, 0.6, 0.5, 0.9], dtype=torch.float64)
    assert expected_calibration_error(conf, torch.tensor([0.0, 1, 0, 1]), 3) == pytest.approx(0.5 / 4)


def test_ece_edges_are_lower_open_upper_closed():
    # 0.5 sits on the edge of n_bins=2 and belongs to (0, 0.5] with 0.2; 1.0 belongs to the last bin
    conf = torch.tensor([0.2, 0.5, 1.0], dtype=torch.float64)
    assert expected_calibration_error(conf, torch.ones(3), 2) == pytest.approx(0.65 * 2 / 3)


def test_ece_zero_confidence_is_in_no_bin_but_counts_in_n():
    conf = torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64)
    # 0.0 -> no bin (would add |0 - 1| = 1 if it were binned); 1.0 twice -> last bin |0.5 - 1| * 2; 13 empty bins
    assert expected_calibration_error(conf, torch.tensor([1.0, 1.0, 0.0]), 15) == pytest.approx(1.0 / 3)


def test_ece_float32_confidence_on_a_decimal_edge_is_compared_in_float64():
    # float32(0.6) = 0.6000000238 > the float64 edge 0.6 of n_bins=5, so it joins 0.7 in (0.6, 0.8]
    conf = torch.tensor([0.6, 0.7], dtype=torch.float32)
    assert expected_calibration_error(conf, torch.tensor([1.0, 0.0]), 5) == pytest.approx(abs(0.5 - 0.65), abs=1e-7)


def test_adaece_excludes_the_lowest_confidence_and_uses_order_statistics():
    conf = torch.tensor([0.9, 0.2, 0.6, 0.4, 0.8, 0.5], dtype=torch.float64)
    correct = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0, 1.0])
    # sorted 0.2 .4 .5 .6 .8 .9; edges interp(0, 2, 4, 6) -> 0.2, 0.5, 0.8, 0.9 (clamped)
    assert equal_mass_edges(conf, 3).tolist() == [0.2, 0.5, 0.8, 0.9]
    # (0.2, 0.5]: 0.4 wrong, 0.5 right -> |0.45 - 0.5| * 2; (0.5, 0.8]: 0.6 right, 0.8 wrong -> |0.7 - 0.5| * 2;
    # (0.8, 0.9]: 0.9 right -> 0.1; 0.2 is on the first edge and in no bin
    expected = (0.05 * 2 + 0.2 * 2 + 0.1) / 6
    assert adaptive_calibration_error(conf, correct, 3) == pytest.approx(expected)


def test_adaece_with_all_confidences_tied_has_no_non_empty_bin():
    conf = torch.full((10,), 0.7)
    assert adaptive_calibration_error(conf, torch.zeros(10), 15) == 0.0


def test_classwise_ece_skips_zero_probabilities_and_counts_classes_up_to_the_max_label():
    probs = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.0, 0.25, 0.75]])
    target = torch.tensor([0, 1, 1])  # max label 1 -> classes 0 and 1 only (class 2 is not averaged)
    # class 0: values 1.0 (hit), 0.5 (miss); 0.0 is in no bin -> (|1-1| + |0.5-0|) / 3
    # class 1: 0.5 (hit), 0.25 (hit) in different bins of 4 -> (|0.5-1| + |0.25-1|) / 3
    assert classwise_calibration_error(probs, target, 4) == pytest.approx(((0.5) / 3 + (0.5 + 0.75) / 3) / 2)


# --- parity with the reference loops, on softmax outputs and on CC-like vote fractions ---
@pytest.mark.parametrize("make", [random_outputs, vote_fractions])
def test_vectorised_metrics_equal_the_reference_loops(make):
    probs, target = make()
    outputs = {"probs": probs, "target": target}
    assert ECE(15).compute(outputs)["ece_15"] == pytest.approx(loop_ece(probs, target), abs=1e-6)
    assert AdaECE(15).compute(outputs)["adaece_15"] == pytest.approx(loop_adaece(probs, target), abs=1e-6)
    assert ClasswiseECE(15).compute(outputs)["cece_15"] == pytest.approx(loop_cece(probs, target), abs=1e-6)


# --- parity with torchmetrics and netcal where the conventions agree, and where they differ ---
def test_ece_agrees_with_torchmetrics_and_netcal_off_the_edges():
    tm = pytest.importorskip("torchmetrics.functional.classification")
    netcal = pytest.importorskip("netcal.metrics")
    probs, target = random_outputs(seed=3)
    ours = ECE(15).compute({"probs": probs, "target": target})["ece_15"]
    theirs_tm = float(tm.multiclass_calibration_error(probs, target, num_classes=10, n_bins=15, norm="l1"))
    theirs_nc = netcal.ECE(bins=15).measure(probs.double().numpy(), target.numpy())
    assert ours == pytest.approx(theirs_tm, abs=1e-6)
    assert ours == pytest.approx(theirs_nc, abs=1e-6)


def test_ece_differs_from_torchmetrics_and_netcal_on_edges():
    tm = pytest.importorskip("torchmetrics.functional.classification")
    netcal = pytest.importorskip("netcal.metrics")
    # n_bins=5: confidence 0.4 sits on an edge. (lo, hi] puts it in (0.2, 0.4] and 0.5 in (0.4, 0.6]; a third
    # sample (0.9, right) is alone in the top bin under both: (|1 - 0.4| + |0 - 0.5| + |1 - 0.9|) / 3 = 0.4.
    # [lo, hi) (torchmetrics, netcal) joins 0.4 and 0.5 in [0.4, 0.6): (2 * |0.5 - 0.45| + 0.1) / 3.
    probs = torch.tensor([[0.4, 0.3, 0.3], [0.5, 0.25, 0.25], [0.05, 0.05, 0.9]], dtype=torch.float64)
    target = torch.tensor([0, 1, 2])
    assert ECE(5).compute({"probs": probs, "target": target})["ece_5"] == pytest.approx(0.4)
    assert float(tm.multiclass_calibration_error(probs, target, 3, n_bins=5)) == pytest.approx(0.2 / 3)
    assert netcal.ECE(bins=5).measure(probs.numpy(), target.numpy()) == pytest.approx(0.2 / 3)


def test_confidence_one_lands_in_torchmetrics_phantom_bin():
    tm = pytest.importorskip("torchmetrics.functional.classification")
    # a confidently wrong 1.0 and an under-confident right 0.95 share (14/15, 1] here: |0.975 - 0.5| = 0.475;
    # torchmetrics puts 1.0 in an extra bin of its own (torchmetrics #3510): (|1 - 0| + |0.95 - 1|) / 2 = 0.525
    probs = torch.tensor([[1.0, 0.0], [0.95, 0.05]], dtype=torch.float64)
    target = torch.tensor([1, 0])
    assert ECE(15).compute({"probs": probs, "target": target})["ece_15"] == pytest.approx(0.475)
    assert float(tm.multiclass_calibration_error(probs, target, 2, n_bins=15)) == pytest.approx(0.525)


def test_shot_bucket_calibration_splits_by_training_counts(tmp_path):
    from bench.metrics.long_tail import ShotBucketCalibration

    # class 0: 150 training images (many), class 1: 50 (medium), class 2: 5 (few)
    lines = [f"train/c{c}/{i}.JPEG {c}" for c, n in ((0, 150), (1, 50), (2, 5)) for i in range(n)]
    (tmp_path / "ImageNet_LT_train.txt").write_text("\n".join(lines) + "\n")
    probs = torch.tensor([[0.9, 0.05, 0.05], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]], dtype=torch.float64)
    target = torch.tensor([0, 0, 1, 1])  # no test sample of the few class: its keys are absent
    values = ShotBucketCalibration(str(tmp_path / "ImageNet_LT_train.txt")).compute({"probs": probs, "target": target})
    assert values["accuracy_many"] == 1.0 and values["accuracy_medium"] == 0.5
    assert values["ece_15_many"] == pytest.approx((0.1 + 0.4) / 2)  # two bins: |1 - .9|, |1 - .6|
    assert values["ece_15_medium"] == pytest.approx((0.3 + 0.8) / 2)
    assert "accuracy_few" not in values


@pytest.mark.parametrize("metric", [ECE(), AdaECE(), ClasswiseECE()], ids=["ECE", "AdaECE", "ClasswiseECE"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_calibration_metrics_refuse_nonfinite_logits_naming_the_samples(metric, bad):
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 0.5], [0.3, 0.2]])
    logits[1, 0] = logits[3, 1] = bad
    outputs = {"sample_id": ["a", "b", "c", "d"], "logits": logits, "target": torch.tensor([0, 1, 0, 1])}
    with pytest.raises(NonFiniteError, match=rf"{type(metric).__name__}: 2 of 4 samples have non-finite "
                                             r"\(NaN/Inf\) 'logits': 2 sample\(s\) \(ids 'b', 'd'\)"):
        metric.compute(outputs)


@pytest.mark.parametrize("error", [expected_calibration_error, adaptive_calibration_error])
def test_top_label_errors_refuse_nan_confidences_instead_of_dropping_them(error):
    # before: ECE dropped the NaN row but divided by N; AdaECE came out 0.0
    confidence = torch.tensor([0.9, float("nan"), 0.7, 0.6])
    with pytest.raises(NonFiniteError, match=r"1 of 4 values are NaN or infinite"):
        error(confidence, torch.tensor([1.0, 0.0, 1.0, 0.0]), 15)
    with pytest.raises(NonFiniteError, match=r"classwise ECE probabilities: 1 of 4 values"):
        classwise_calibration_error(torch.tensor([[0.5, float("inf")], [0.2, 0.8]]), torch.tensor([0, 1]), 15)
