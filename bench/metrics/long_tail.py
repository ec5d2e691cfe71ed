"""Accuracy and calibration per many/medium/few-shot bucket of a long-tailed training set (ImageNet-LT)."""
from __future__ import annotations

from bench.metrics.calibration import expected_calibration_error
from bench.formats.oltr import SHOT_BUCKETS, shot_buckets
from bench.metrics.classification import ProbabilisticMetric, class_probabilities
from bench.registry import METRICS
from bench.store import Columns


@METRICS.register_module()
class ShotBucketCalibration(ProbabilisticMetric):
    """``accuracy_<bucket>`` and ``ece_<n>_<bucket>`` over the test samples whose true class is in each bucket.

    Buckets come from the OLTR training list's per-class counts (``bench.formats.oltr.shot_buckets``:
    many > 100, medium 20-100, few < 20 training images). Each bucket's ECE is normalised by that bucket's
    sample count.
    """

    def __init__(self, train_file: str, n_bins: int = 15, many_above: int = 100, few_below: int = 20,
                 prefix: str = "") -> None:
        super().__init__(prefix)
        self.train_file, self.n_bins = train_file, n_bins
        self.many_above, self.few_below = many_above, few_below

    def compute(self, outputs: Columns) -> dict[str, float]:
        probs = class_probabilities(outputs, type(self).__name__)
        target = outputs["target"].long()
        buckets = shot_buckets(self.train_file, probs.shape[1], many_above=self.many_above,
                               few_below=self.few_below)[target]
        confidence, pred = probs.max(dim=1)
        values: dict[str, float] = {}
        for code, name in enumerate(SHOT_BUCKETS):
            members = buckets == code
            if not bool(members.any()):
                continue
            correct = (pred[members] == target[members]).double()
            values[f"accuracy_{name}"] = float(correct.mean())
            values[f"ece_{self.n_bins}_{name}"] = expected_calibration_error(confidence[members], correct, self.n_bins)
        return values
