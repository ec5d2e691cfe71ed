"""Calibration errors (ECE, AdaECE, classwise ECE) with the binning of the calibrator library, pinned.

Every bin is lower-open, upper-closed: a value v falls in bin b when edge[b] < v <= edge[b + 1], so a
confidence of exactly 1.0 is in the last bin and a value of exactly 0.0 is in no bin (it still counts in N).
Each error is sum_b |sum of values in b - sum of hits in b| / N. The edges, and the dtype the comparison is
made in, follow the reference implementation of each metric (Linwei94/calibrator, ``Component/metrics``):

- ECE: ``np.linspace(0, 1, n + 1)`` in float64, compared with float64 confidences (NumPy >= 2 promotes the
  float32 confidences to the float64 edge), so a float32 0.6 (0.6000000238) is above the edge 0.6.
- AdaECE: equal-mass edges ``np.interp(linspace(0, N, n + 1), arange(N), sort(conf))``, compared in the
  confidences' dtype (torch compares a float32 tensor with a Python float in float32). The lowest edge is the
  smallest confidence, so that sample lies on the edge and is in no bin: the torrvision/focal_calibration quirk.
- Classwise ECE: ``torch.linspace(0, 1, n + 1)`` float32 edges, compared in the probabilities' dtype, per
  class, averaged over classes 0..max(target) (the reference counts classes as ``max(labels) + 1``). Class
  probabilities of exactly 0 are in no bin, which matters for CC's vote fractions.

torchmetrics bins [lo, hi) and puts confidence 1.0 in a phantom extra bin (torchmetrics #3510); netcal clips
confidences to (eps, 1 - eps) and bins [lo, hi). They agree with ours except for values on bin edges.

NaN or infinite inputs are refused (:class:`bench.finite.NonFiniteError`): a NaN confidence falls in no bin, so it
would be dropped from the sums yet counted in N, and AdaECE's edges would be computed from a NaN order statistic.
"""
from __future__ import annotations

import numpy as np
import torch

from bench.finite import require_finite_values
from bench.metrics.classification import ProbabilisticMetric, class_probabilities, top_label
from bench.registry import METRICS
from bench.store import Columns


def bin_index(values: torch.Tensor, edges: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Bin b of each value with edges[b] < value <= edges[b + 1], and the mask of values inside (edges[0], edges[-1]].

    ``edges`` must be non-decreasing and in the dtype the comparison is to be made in.
    """
    compared = values.to(edges.dtype).contiguous()
    bins = torch.bucketize(compared, edges, right=False) - 1  # smallest b with compared <= edges[b + 1]
    return bins, (bins >= 0) & (compared <= edges[-1])


def binned_gap(values: torch.Tensor, hits: torch.Tensor, edges: torch.Tensor) -> float:
    """sum_b |sum(values in b) - sum(hits in b)| / N over the bins of :func:`bin_index`; sums are float64."""
    bins, inside = bin_index(values, edges)
    n_bins = len(edges) - 1
    bins = bins[inside]
    value_sum = torch.bincount(bins, weights=values[inside].double(), minlength=n_bins)
    hit_sum = torch.bincount(bins, weights=hits[inside].double(), minlength=n_bins)
    return float((value_sum - hit_sum).abs().sum() / values.numel())


def equal_width_edges(n_bins: int) -> torch.Tensor:
    """``np.linspace(0, 1, n_bins + 1)`` as float64: the ECE reference's edges."""
    return torch.from_numpy(np.linspace(0.0, 1.0, n_bins + 1))


def equal_mass_edges(confidence: torch.Tensor, n_bins: int) -> torch.Tensor:
    """AdaECE edges: interpolated order statistics, rounded to the confidences' dtype (see module docstring)."""
    ordered = np.sort(confidence.detach().cpu().numpy().astype(np.float64))
    n = len(ordered)
    edges = np.interp(np.linspace(0, n, n_bins + 1), np.arange(n), ordered)
    dtype = confidence.dtype if confidence.is_floating_point() else torch.float64
    return torch.from_numpy(edges).to(dtype)


def expected_calibration_error(confidence: torch.Tensor, correct: torch.Tensor, n_bins: int = 15) -> float:
    """Top-label ECE with equal-width float64 bins, lo < conf <= hi."""
    require_finite_values(confidence, "ECE confidences")
    return binned_gap(confidence, correct, equal_width_edges(n_bins))


def adaptive_calibration_error(confidence: torch.Tensor, correct: torch.Tensor, n_bins: int = 15) -> float:
    """Top-label AdaECE with equal-mass bins (the lowest confidence sits on the first edge and is excluded)."""
    require_finite_values(confidence, "AdaECE confidences")
    return binned_gap(confidence, correct, equal_mass_edges(confidence, n_bins))


def classwise_calibration_error(probs: torch.Tensor, target: torch.Tensor, n_bins: int = 15) -> float:
    """Mean over classes 0..max(target) of the per-class ECE of p_k against 1[y = k] (float32 edges)."""
    require_finite_values(probs, "classwise ECE probabilities")
    edges = torch.linspace(0.0, 1.0, n_bins + 1, dtype=torch.float32).to(probs.dtype)
    num_classes = int(target.max()) + 1
    errors = [binned_gap(probs[:, k], (target == k).double(), edges) for k in range(num_classes)]
    return float(np.mean(errors))


class TopLabelCalibrationError(ProbabilisticMetric):
    """A binned top-label calibration error with ``n_bins`` bins, reported as ``<key>_<n_bins>``."""

    key = ""

    def __init__(self, n_bins: int = 15, prefix: str = "") -> None:
        super().__init__(prefix)
        self.n_bins = n_bins

    @staticmethod
    def error(confidence: torch.Tensor, correct: torch.Tensor, n_bins: int) -> float:
        raise NotImplementedError

    def compute(self, outputs: Columns) -> dict[str, float]:
        confidence, correct = top_label(outputs, type(self).__name__)
        return {f"{self.key}_{self.n_bins}": self.error(confidence, correct, self.n_bins)}


@METRICS.register_module()
class ECE(TopLabelCalibrationError):
    """Top-label expected calibration error, equal-width bins (Guo et al. 2017), key ``ece_<n>``."""

    key = "ece"
    error = staticmethod(expected_calibration_error)


@METRICS.register_module()
class AdaECE(TopLabelCalibrationError):
    """Adaptive ECE, equal-mass bins (Nguyen & O'Connor 2015; Mukhoti et al. 2020), key ``adaece_<n>``."""

    key = "adaece"
    error = staticmethod(adaptive_calibration_error)


@METRICS.register_module()
class ClasswiseECE(ProbabilisticMetric):
    """Classwise ECE (Kull et al. 2019 / Nixon et al. 2019's SCE), ``n_bins`` per class, key ``cece_<n>``."""

    def __init__(self, n_bins: int = 15, prefix: str = "") -> None:
        super().__init__(prefix)
        self.n_bins = n_bins

    def compute(self, outputs: Columns) -> dict[str, float]:
        probs = class_probabilities(outputs, type(self).__name__)
        return {f"cece_{self.n_bins}": classwise_calibration_error(probs, outputs["target"].long(), self.n_bins)}
