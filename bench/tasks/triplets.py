"""Surgical action-triplet recognition scored with CAMMA's AP protocol."""
from __future__ import annotations

from bench.registry import TASKS
from bench.tasks.base import EvalTask

@TASKS.register_module(name="triplet_recognition")
class TripletRecognitionTask(EvalTask):
    """Surgical action-triplet recognition: per-video frame scores ``triplet_scores`` and 0/1 ``triplet_target``
    [T, 100], scored with CAMMA's AP protocol (``TripletRecognitionAP``: video-wise and global AP for i, v, t, iv,
    it, ivt)."""

    required_outputs = ("triplet_scores", "triplet_target")
    finite_outputs = ("triplet_scores", "encoder_triplet_scores", "unguided_triplet_scores")
    default_metrics = ({"type": "TripletRecognitionAP"},)
