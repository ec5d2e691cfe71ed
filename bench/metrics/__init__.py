"""Metrics computed from stored per-sample outputs, so ``bench score`` can recompute them."""
from bench.metrics.base import Metric
from bench.metrics.classification import ECE, NLL, Accuracy

__all__ = ["Metric", "Accuracy", "NLL", "ECE"]
