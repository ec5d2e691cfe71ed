"""Top-1 accuracy, negative log-likelihood and expected calibration error from logits."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from bench.metrics.base import Metric
from bench.registry import METRICS
from bench.store import Columns


@METRICS.register_module()
class Accuracy(Metric):
    """Top-1 accuracy over all samples (fraction in [0, 1])."""

    required = ("logits", "target")

    def compute(self, outputs: Columns) -> dict[str, float]:
        pred = outputs["logits"].argmax(dim=1)
        return {"accuracy": float((pred == outputs["target"]).double().mean())}


@METRICS.register_module()
class NLL(Metric):
    """Mean negative log-likelihood of the target class, in float64 (no log(0) from saturated softmax)."""

    required = ("logits", "target")

    def compute(self, outputs: Columns) -> dict[str, float]:
        logits = outputs["logits"].double()
        return {"nll": float(F.cross_entropy(logits, outputs["target"].long()))}


@METRICS.register_module()
class ECE(Metric):
    """Top-label expected calibration error with ``n_bins`` equal-width bins, membership lo < conf <= hi.

    The (lo, hi] convention is Guo et al.'s and focal_calibration's; torchmetrics bins [lo, hi) and puts a
    confidence of exactly 1.0 in a phantom extra bin (torchmetrics #3510), so it differs exactly when
    confidences sit on bin edges. Confidence 0 goes to the first bin. As in focal_calibration, softmax and
    bin edges use the logits' dtype (float32 logits: float32 edges), so a confidence equal to an edge in that
    dtype falls in the lower bin; the sums are float64.
    """

    required = ("logits", "target")

    def __init__(self, n_bins: int = 15) -> None:
        self.n_bins = n_bins

    def compute(self, outputs: Columns) -> dict[str, float]:
        probs = torch.softmax(outputs["logits"], dim=1)
        confidence, pred = probs.max(dim=1)
        correct = (pred == outputs["target"]).double()
        return {f"ece_{self.n_bins}": expected_calibration_error(confidence, correct, self.n_bins)}


def expected_calibration_error(confidence: torch.Tensor, correct: torch.Tensor, n_bins: int = 15) -> float:
    """sum_b |acc_b - conf_b| * n_b / N over equal-width bins with lo < conf <= hi (edges in conf's dtype)."""
    if not confidence.is_floating_point():
        confidence = confidence.double()
    inner_edges = torch.linspace(0.0, 1.0, n_bins + 1, dtype=confidence.dtype)[1:-1]
    bins = torch.bucketize(confidence.contiguous(), inner_edges, right=False)  # edges[i-1] < x <= edges[i]
    conf_sum = torch.bincount(bins, weights=confidence.double(), minlength=n_bins)
    acc_sum = torch.bincount(bins, weights=correct.double(), minlength=n_bins)
    return float((conf_sum - acc_sum).abs().sum() / confidence.numel())
