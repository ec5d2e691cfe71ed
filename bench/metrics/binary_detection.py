"""Binary detection metrics (face-forgery detection, memorization detection) from per-sample ``score`` and
``target`` columns.

``score`` [N] is the probability of the positive class (label 1, "fake"), ``target`` [N] the 0/1 label and
``video_id`` (a list of str, or an integer tensor) names each frame's video. Everything is computed in float64;
AUC is scikit-learn's ``roc_auc_score``, the protocol's reference (two_in_one_kd sheet, section 6). The ROC
operating-point metrics (TPR at a fixed FPR, accuracy at the best threshold) follow Wen et al.'s detection evaluation
(``YuxinWenRick/diffusion_memorization``, ``examples/det_mem_viz.ipynb``), which Bright Ending reuses.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from bench.finite import require_finite
from bench.metrics.base import Metric
from bench.registry import METRICS
from bench.store import Columns


def binary_columns(outputs: Columns) -> tuple[torch.Tensor, torch.Tensor]:
    """``score`` and ``target`` as float64 vectors, after checking shapes, that every score is finite (a NaN score is
    neither above nor below a threshold) and that every label is 0 or 1."""
    require_finite(outputs, "score", "binary detection metric")
    score, target = torch.as_tensor(outputs["score"]).double(), torch.as_tensor(outputs["target"]).double()
    if score.ndim != 1 or score.shape != target.shape:
        raise ValueError(f"binary detection needs 'score' and 'target' of shape [N]; got {tuple(score.shape)} and "
                         f"{tuple(target.shape)}")
    labels = torch.unique(target)
    if not bool(((labels == 0) | (labels == 1)).all()):
        raise ValueError(f"binary detection needs 0/1 targets (1 = positive, 'fake'); got labels {labels.tolist()}")
    return score, target


def binary_auc(target: torch.Tensor, score: torch.Tensor, unit: str) -> float:
    """ROC AUC of ``score`` against 0/1 ``target`` (sklearn), with an error naming both class counts when one
    class is absent (sklearn's own message does not say how many of each there were)."""
    from sklearn.metrics import roc_auc_score

    positives = int(target.sum())
    negatives = len(target) - positives
    if positives == 0 or negatives == 0:
        raise ValueError(f"AUC is undefined with a single class: {negatives} negative (real) and {positives} "
                         f"positive (fake) {unit}")
    return float(roc_auc_score(target.numpy(), score.numpy()))


@METRICS.register_module()
class FrameAccuracy(Metric):
    """Frame accuracy at ``threshold``: a frame is predicted positive ("fake") when ``score >= threshold``.

    Also the accuracy within each class (``"<class_names[0]> ACC"``, ``"<class_names[1]> ACC"``; NaN for a class
    with no frame), which the overall accuracy hides under an imbalanced split such as FF++'s 1 real : 4 fake.
    """

    required = ("score", "target")

    def __init__(self, threshold: float = 0.5, class_names: Sequence[str] = ("real", "fake"), prefix: str = "") -> None:
        super().__init__(prefix)
        if len(class_names) != 2:
            raise ValueError(f"FrameAccuracy: class_names must name the negative and positive class, got "
                             f"{list(class_names)}")
        self.threshold = threshold
        self.class_names = tuple(class_names)

    def compute(self, outputs: Columns) -> dict[str, float]:
        score, target = binary_columns(outputs)
        correct = ((score >= self.threshold).double() == target).double()
        values = {"frame ACC": float(correct.mean())}
        for label, name in enumerate(self.class_names):
            in_class = correct[target == label]
            values[f"{name} ACC"] = float(in_class.mean()) if len(in_class) else float("nan")
        return values


@METRICS.register_module()
class FrameAUC(Metric):
    """ROC AUC over all frames (``roc_auc_score(target, score)``)."""

    required = ("score", "target")

    def compute(self, outputs: Columns) -> dict[str, float]:
        score, target = binary_columns(outputs)
        return {"frame AUC": binary_auc(target, score, "frames")}


@METRICS.register_module()
class VideoAUC(Metric):
    """ROC AUC over videos, each scored by the ``aggregate`` ("mean", the protocol's, or "max") of its frames'
    scores and labelled by its frames' common label; also the number of videos, which shows at once whether
    ``video_id`` grouped the frames at all (one video per frame would make this the frame AUC)."""

    required = ("score", "target", "video_id")
    AGGREGATES = {"mean": "mean", "max": "amax"}

    def __init__(self, aggregate: str = "mean", prefix: str = "") -> None:
        super().__init__(prefix)
        if aggregate not in self.AGGREGATES:
            raise ValueError(f"VideoAUC: aggregate must be one of {sorted(self.AGGREGATES)}, got {aggregate!r}")
        self.aggregate = aggregate

    def video_scores(self, outputs: Columns) -> tuple[list[str], torch.Tensor, torch.Tensor]:
        """Video ids (sorted, so the order never depends on sharding), aggregated scores and labels."""
        score, target = binary_columns(outputs)
        ids = outputs["video_id"]
        ids = [str(v) for v in (ids.tolist() if isinstance(ids, torch.Tensor) else ids)]
        if len(ids) != len(score):
            raise ValueError(f"VideoAUC: {len(ids)} video ids for {len(score)} frames")
        names, positions = np.unique(np.asarray(ids), return_inverse=True)
        inverse = torch.from_numpy(positions.reshape(-1)).long()
        empty = torch.zeros(len(names), dtype=torch.float64)
        video_score = empty.scatter_reduce(0, inverse, score, self.AGGREGATES[self.aggregate], include_self=False)
        label_min = empty.scatter_reduce(0, inverse, target, "amin", include_self=False)
        label_max = empty.scatter_reduce(0, inverse, target, "amax", include_self=False)
        mixed = (label_min != label_max).nonzero().flatten()
        if len(mixed):
            frames = target[inverse == mixed[0]]
            raise ValueError(f"VideoAUC: the frames of video {str(names[mixed[0]])!r} disagree on the label "
                             f"({int((frames == 0).sum())} real, {int(frames.sum())} fake); "
                             f"{len(mixed)} video(s) are mixed")
        return names.tolist(), video_score, label_max

    def compute(self, outputs: Columns) -> dict[str, float]:
        names, score, target = self.video_scores(outputs)
        return {"video AUC": binary_auc(target, score, "videos"), "videos": float(len(names))}


def roc_points(target: torch.Tensor, score: torch.Tensor, unit: str) -> tuple[np.ndarray, np.ndarray]:
    """``fpr`` and ``tpr`` of sklearn's ``roc_curve(target, score, pos_label=1)`` with its defaults
    (``drop_intermediate=True``, as Wen's notebook calls it; the first point is (0, 0) at threshold +inf), after
    refusing a single-class input as :func:`binary_auc` does."""
    from sklearn.metrics import roc_curve

    positives = int(target.sum())
    negatives = len(target) - positives
    if positives == 0 or negatives == 0:
        raise ValueError(f"a ROC curve is undefined with a single class: {negatives} negative and {positives} "
                         f"positive {unit}")
    fpr, tpr, _ = roc_curve(target.numpy(), score.numpy(), pos_label=1)
    return fpr, tpr


def tpr_at_fpr(target: torch.Tensor, score: torch.Tensor, max_fpr: float = 0.01, unit: str = "samples") -> float:
    """TPR of the last ROC point whose FPR is strictly below ``max_fpr``: Wen's
    ``tpr[np.where(fpr < .01)[0][-1]]``. No interpolation between points, and strict: with 100 negatives one false
    positive is FPR 0.01, not below 0.01, so "TPR@1%FPR" is then the TPR at zero false positives."""
    fpr, tpr = roc_points(target, score, unit)
    return float(tpr[np.where(fpr < max_fpr)[0][-1]])  # (0, 0) is always a point, so the index exists


def best_balanced_accuracy(target: torch.Tensor, score: torch.Tensor, unit: str = "samples") -> float:
    """Wen's "ACC": ``max(1 - (fpr + (1 - tpr)) / 2)`` over the ROC points, i.e. the best (TPR + TNR) / 2 over the
    thresholds of ``roc_curve``; balanced accuracy, not the plain fraction correct (they agree on balanced classes)."""
    fpr, tpr = roc_points(target, score, unit)
    return float(np.max(1 - (fpr + (1 - tpr)) / 2))


@METRICS.register_module()
class DetectionAUC(Metric):
    """ROC AUC over samples (``roc_auc_score(target, score)``; equals Wen's ``metrics.auc(fpr, tpr)``), named
    ``AUC``: the per-sample counterpart of ``FrameAUC`` for tasks whose samples are not frames (prompts)."""

    required = ("score", "target")

    def compute(self, outputs: Columns) -> dict[str, float]:
        score, target = binary_columns(outputs)
        return {"AUC": binary_auc(target, score, "samples")}


@METRICS.register_module()
class TPRAtFPR(Metric):
    """True-positive rate at a false-positive rate below ``max_fpr`` (default 0.01), named ``TPR@1%FPR``: the TPR
    of the last sklearn ``roc_curve`` point with FPR < ``max_fpr`` (strictly, no interpolation), as Wen's code
    computes it (:func:`tpr_at_fpr`)."""

    required = ("score", "target")

    def __init__(self, max_fpr: float = 0.01, prefix: str = "") -> None:
        super().__init__(prefix)
        if isinstance(max_fpr, bool) or not isinstance(max_fpr, (int, float)) or not 0 < max_fpr <= 1:
            raise ValueError(f"TPRAtFPR: max_fpr must be a number in (0, 1], got {max_fpr!r} (0.01 is 1% FPR)")
        self.max_fpr = float(max_fpr)

    @property
    def name(self) -> str:
        return f"TPR@{self.max_fpr * 100:g}%FPR"

    def compute(self, outputs: Columns) -> dict[str, float]:
        score, target = binary_columns(outputs)
        return {self.name: tpr_at_fpr(target, score, self.max_fpr)}


@METRICS.register_module()
class BestBalancedAccuracy(Metric):
    """Accuracy at the best threshold as Wen's code computes its "ACC" (:func:`best_balanced_accuracy`): the
    maximum over sklearn ``roc_curve`` thresholds of (TPR + TNR) / 2, named ``balanced ACC`` (a fraction). The
    threshold is chosen on the scored samples themselves, so it is an optimistic operating point."""

    required = ("score", "target")

    def compute(self, outputs: Columns) -> dict[str, float]:
        score, target = binary_columns(outputs)
        return {"balanced ACC": best_balanced_accuracy(target, score)}
