"""Calibration throughput, as ratios against a peer measured in the same run (fastest of interleaved rounds).

- CC: the vectorised, chunked ``ConsistencyCalibrator.calibrate`` against the plain per-sample loop (one
  sample at a time, its T copies at once) on the same logits, seeds and T. Target: >= 2x.
- ECE-15 on 1M samples: ours (float64 ``bucketize`` + ``bincount``) against torchmetrics'
  ``multiclass_calibration_error`` on the same probabilities. Target: >= 0.5x (not slower than half).
"""
from __future__ import annotations

import pytest
import torch

from bench.methods.consistency_calibration.calibrator import default_seeds
from bench.methods.consistency_calibration.consistency import ConsistencyCalibrator
from bench.metrics.calibration import ECE

CC_TARGET, ECE_TARGET = 2.0, 0.5


@pytest.mark.benchmark(group="calibration")
def test_cc_vectorised_vs_per_sample_loop(benchmark, interleaved):
    n, k, t = 1000, 10, 1000
    gen = torch.Generator().manual_seed(0)
    logits, seeds = torch.randn(n, k, generator=gen) * 3, default_seeds(n)
    cc = ConsistencyCalibrator(noise="gaussian", eps=1.5, num_samples=t)

    def per_sample() -> torch.Tensor:
        return torch.cat([cc.calibrate(logits[i:i + 1], seeds[i:i + 1]) for i in range(n)])

    assert torch.equal(cc.calibrate(logits, seeds), per_sample())  # same numbers, only the schedule differs
    best = interleaved({"vectorised": lambda: cc.calibrate(logits, seeds), "per_sample": per_sample}, rounds=5)
    ratio = best["per_sample"] / best["vectorised"]
    benchmark.extra_info.update(samples=n, classes=k, T=t, vectorised_s=best["vectorised"],
                                per_sample_s=best["per_sample"], ratio=ratio,
                                draws_per_s=n * k * t / best["vectorised"])
    print(f"\nCC {n}x{k}, T={t}: vectorised {best['vectorised']:.3f} s, per-sample loop {best['per_sample']:.3f} s, "
          f"ratio {ratio:.1f}x")
    assert ratio >= CC_TARGET


@pytest.mark.benchmark(group="calibration")
def test_ece_vs_torchmetrics_on_1m_samples(benchmark, interleaved):
    tm = pytest.importorskip("torchmetrics.functional.classification")
    n, k = 1_000_000, 10
    gen = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(n, k, generator=gen) * 3, 1)
    target = torch.randint(0, k, (n,), generator=gen)
    ours = ECE(15)

    def ours_fn() -> float:
        return ours.compute({"probs": probs, "target": target})["ece_15"]

    def theirs_fn() -> float:
        return float(tm.multiclass_calibration_error(probs, target, num_classes=k, n_bins=15, norm="l1"))

    assert ours_fn() == pytest.approx(theirs_fn(), abs=1e-5)  # no confidences on edges here: conventions agree
    best = interleaved({"ours": ours_fn, "torchmetrics": theirs_fn})
    ratio = best["torchmetrics"] / best["ours"]
    benchmark.extra_info.update(samples=n, ours_s=best["ours"], torchmetrics_s=best["torchmetrics"], ratio=ratio)
    print(f"\nECE-15 on {n} samples: ours {best['ours']:.3f} s, torchmetrics {best['torchmetrics']:.3f} s, "
          f"ratio {ratio:.2f}x")
    assert ratio >= ECE_TARGET
