"""Detection tasks: COCO object detection / instance segmentation, and binary (forgery) detection."""
from __future__ import annotations

from bench.registry import TASKS
from bench.tasks.base import EvalTask

@TASKS.register_module(name="detection")
class DetectionTask(EvalTask):
    """Object detection / instance segmentation: per-image detections scored with COCO mAP (``COCOMeanAP``,
    whose ``ann_file`` the config names)."""

    required_outputs = ("image_id", "det_bboxes", "det_scores", "det_labels")
    finite_outputs = ("det_bboxes", "det_scores")


@TASKS.register_module(name="binary_detection")
class BinaryDetectionTask(EvalTask):
    """Binary detection (face forgery now, membership inference later): per-frame ``score`` (probability of the
    positive class, "fake", in [0, 1]) and 0/1 ``target``, plus ``video_id`` for the video-level AUC.

    The defaults score frame ACC, frame AUC and video AUC; a config whose frames have no ``video_id`` lists its
    metrics without ``VideoAUC``. ``ModelCost`` (constant ``params``/``macs`` columns) is not a default because
    not every method stores those columns; configs of methods that do add ``{"type": "ModelCost"}``.
    """

    required_outputs = ("score", "target")
    finite_outputs = ("score",)
    default_metrics = ({"type": "FrameAccuracy", "threshold": 0.5}, {"type": "FrameAUC"},
                       {"type": "VideoAUC", "aggregate": "mean"})
