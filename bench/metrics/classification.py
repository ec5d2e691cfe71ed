"""Top-1 accuracy, negative log-likelihood and Brier score from stored logits or probabilities.

A method stores either ``logits`` (classifiers, temperature or vector scaling) or ``probs`` (calibrators
whose outputs are not a softmax, e.g. Consistency Calibration's vote fractions); every classification metric
accepts both through :func:`class_probabilities`. Each refuses scores holding NaN/Inf
(:class:`bench.finite.NonFiniteError`, counting and naming the samples) rather than report a number.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from bench.finite import require_finite
from bench.metrics.base import Metric
from bench.registry import METRICS
from bench.store import Columns

# Added to probabilities before the log, as the calibrator library's NLL does, so that a calibrator that
# puts exactly zero mass on the true class (CC's vote fractions) gives a finite NLL of -log(1e-12) = 27.6.
NLL_EPSILON = 1e-12


def scores(outputs: Columns, who: str = "classification metric") -> torch.Tensor:
    """The stored ``probs``, else ``logits`` [N, C], refused (naming ``who``) when any value is NaN or infinite."""
    column = "probs" if "probs" in outputs else "logits"
    require_finite(outputs, column, who)
    return outputs[column]


def class_probabilities(outputs: Columns, who: str = "classification metric") -> torch.Tensor:
    """Per-class probabilities [N, C]: the stored ``probs``, else softmax of ``logits`` in the logits' dtype."""
    values = scores(outputs, who)
    return values if "probs" in outputs else torch.softmax(values, dim=1)


def top_label(outputs: Columns, who: str = "classification metric") -> tuple[torch.Tensor, torch.Tensor]:
    """Top-label confidence and correctness (1.0/0.0); ties go to the lowest class index, as ``argmax`` does."""
    confidence, pred = class_probabilities(outputs, who).max(dim=1)
    return confidence, (pred == outputs["target"]).double()


class ProbabilisticMetric(Metric):
    """A metric of ``target`` and either ``logits`` or ``probs``."""

    required = ("target",)
    optional = ("logits", "probs")

    def check(self, outputs: Columns) -> None:
        if "target" not in outputs or not ({"logits", "probs"} & set(outputs)):
            raise KeyError(f"{type(self).__name__} needs 'target' and one of 'logits'/'probs'; the method produced "
                           f"{sorted(outputs)}")


@METRICS.register_module()
class Accuracy(ProbabilisticMetric):
    """Top-1 accuracy over all samples (fraction in [0, 1])."""

    def compute(self, outputs: Columns) -> dict[str, float]:
        _, correct = top_label(outputs, type(self).__name__)
        return {"accuracy": float(correct.mean())}


@METRICS.register_module()
class NLL(ProbabilisticMetric):
    """Mean negative log-likelihood of the target class, in float64.

    From logits: exact log-softmax (no log(0) from a saturated softmax). From probabilities: -log(p + 1e-12),
    the calibrator library's convention for outputs that can be exactly zero.
    """

    def compute(self, outputs: Columns) -> dict[str, float]:
        target = outputs["target"].long()
        scores(outputs, type(self).__name__)
        if "probs" in outputs:
            p_true = outputs["probs"].double().gather(1, target[:, None]).squeeze(1)
            return {"nll": float(-(p_true + NLL_EPSILON).log().mean())}
        return {"nll": float(F.cross_entropy(outputs["logits"].double(), target))}


@METRICS.register_module()
class Brier(ProbabilisticMetric):
    """Multi-class Brier score: mean over samples of sum_k (p_k - 1[k = y])^2, in [0, 2].

    This is Brier's (1950) definition and scikit-learn's; the calibrator library's ``BrierLoss`` halves it by
    default (``scale_by_half=True``), so its numbers are half of ours.
    """

    def compute(self, outputs: Columns) -> dict[str, float]:
        probs = class_probabilities(outputs, type(self).__name__).double()
        onehot = F.one_hot(outputs["target"].long(), probs.shape[1]).double()
        return {"brier": float(((probs - onehot) ** 2).sum(dim=1).mean())}


@METRICS.register_module()
class TopKAccuracy(ProbabilisticMetric):
    """Fraction of samples whose target is among the ``k`` highest-scoring classes, key ``top<k>``."""

    def __init__(self, k: int = 5, prefix: str = "") -> None:
        super().__init__(prefix)
        self.k = k

    def compute(self, outputs: Columns) -> dict[str, float]:
        values = outputs["logits"] if "logits" in outputs else outputs["probs"]
        require_finite(outputs, "logits" if "logits" in outputs else "probs", type(self).__name__)
        top = values.topk(min(self.k, values.shape[1]), dim=1).indices
        hit = (top == outputs["target"].long()[:, None]).any(dim=1)
        return {f"top{self.k}": float(hit.double().mean())}
