"""Binary detection metrics (face-forgery detection; later membership inference) from per-frame ``score`` and
``target`` columns.

``score`` [N] is the probability of the positive class (label 1, "fake"), ``target`` [N] the 0/1 label and
``video_id`` (a list of str, or an integer tensor) names each frame's video. Everything is computed in float64;
AUC is scikit-learn's ``roc_auc_score``, the protocol's reference (two_in_one_kd sheet, section 6).
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
