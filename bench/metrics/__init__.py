"""Metrics computed from stored per-sample outputs, so ``bench score`` can recompute them."""
from bench.metrics.base import Metric
from bench.metrics.calibration import ECE, AdaECE, ClasswiseECE
from bench.metrics.classification import NLL, Accuracy, Brier

__all__ = ["Metric", "Accuracy", "NLL", "Brier", "ECE", "AdaECE", "ClasswiseECE"]
