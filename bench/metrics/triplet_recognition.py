"""Surgical action triplet recognition AP (CholecT45 / CholecT50) with CAMMA's ``ivtmetrics`` protocol.

Frames accumulate per video in ``ivtmetrics.Recognition``; components (i, v, t, iv, it) are the max of the triplet
scores over ivtmetrics' built-in triplet map. Per class, AP is sklearn's ``average_precision_score``; a class with
no positive frame is NaN and skipped by the ``nanmean``s (per video then over videos for the video-wise mAP, the
main protocol; over all frames for the global mAP). ivtmetrics 0.1.5 finds those classes only as sklearn's -0.0
(``resolve_nan``); scikit-learn >= 1.6 returns 0.0 there, so its ``compute_video_AP`` counts them as AP 0. We
mark them NaN from the targets themselves, which gives the protocol's numbers under any sklearn version.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.finite import NonFiniteError
from bench.formats.cholec import MAPPING_COLUMNS, NUM_TRIPLETS, official_mapping, read_mapping
from bench.metrics.base import Metric
from bench.registry import METRICS
from bench.store import Columns

COMPONENTS = MAPPING_COLUMNS  # the column order of ivtmetrics' map (``Disentangle.bank``)
ABSENT_CLASS_RULE = ("NaN, skipped (ivtmetrics' protocol; applied explicitly because scikit-learn>=1.6 returns 0.0 "
                     "where ivtmetrics expects -0.0)")


def provenance() -> dict[str, str]:
    """Versions of the libraries behind the numbers, and how classes without positives were counted."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return {"ivtmetrics": installed("ivtmetrics"), "scikit-learn": installed("scikit-learn"),
            "absent_class_rule": ABSENT_CLASS_RULE}


def extract_component(x: np.ndarray, component: str, bank: np.ndarray) -> np.ndarray:
    """``Disentangle.extract`` vectorised: per frame, the max of ``x`` [T, 100] over the triplets of each id of
    ``component``'s map column, ids in increasing order (so [T, number of distinct ids]); ``ivt`` is ``x`` itself.

    The same rule and map as ivtmetrics (tests check equality with ``Recognition.extract``), whose per-frame Python
    loop takes about 35 s for ``it`` on a CholecT45-sized fold (9 videos of 2000 frames); this takes milliseconds.
    """
    if component == "ivt":
        return x
    ids = bank[:, COMPONENTS.index(component)]
    order = np.argsort(ids, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(ids[order]) != 0])
    return np.maximum.reduceat(x[:, order], starts, axis=1)


def classwise_ap(targets: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per-class AP (sklearn ``average_precision_score``) of [N, C] targets and scores; NaN for a class without a
    positive (the rule ivtmetrics' ``resolve_nan`` implements through the sign of sklearn's zero)."""
    from sklearn.metrics import average_precision_score

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No positive class found in y_true")
        ap = np.asarray(average_precision_score(targets, scores, average=None), dtype=np.float64)
    ap[~targets.any(axis=0)] = np.nan
    return ap


def _nanmean(values: np.ndarray, axis: int | None = None) -> np.ndarray:
    """``np.nanmean`` with NaN, silently, where every value is NaN."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Mean of empty slice", category=RuntimeWarning)
        return np.nanmean(values, axis=axis)


def _as_array(value: Any, dtype: type) -> np.ndarray:
    """A numpy array of ``dtype`` from a numpy array, nested list or (any device, any dtype) torch tensor."""
    if hasattr(value, "detach"):
        value = value.detach().cpu()
        value = value.double() if value.is_floating_point() else value
        value = value.numpy()
    return np.asarray(value, dtype=dtype)


def _videos(scores: Sequence, targets: Sequence) -> list[tuple[np.ndarray, np.ndarray]]:
    """Checked (targets int [T, 100] in {0, 1}, scores float [T, 100] finite) per video."""
    if len(scores) != len(targets):
        raise ValueError(f"{len(scores)} predicted videos for {len(targets)} target videos")
    if not len(scores):
        raise ValueError("no videos to score")
    videos = []
    for position, (score, target) in enumerate(zip(scores, targets, strict=True)):
        s, t = _as_array(score, np.float64), _as_array(target, np.float64)
        for name, array in (("scores", s), ("targets", t)):
            if array.ndim != 2 or array.shape[1] != NUM_TRIPLETS:
                raise ValueError(f"video {position}: {name} must be [frames, {NUM_TRIPLETS}], got {array.shape}")
        if s.shape[0] != t.shape[0]:
            raise ValueError(f"video {position}: scores have {s.shape[0]} frames, targets have {t.shape[0]}")
        if s.shape[0] == 0:
            raise ValueError(f"video {position} has no frames")
        if not np.isin(t, (0, 1)).all():
            raise ValueError(f"video {position}: targets must be 0 or 1, got {np.unique(t[~np.isin(t, (0, 1))])[:5]}")
        if not np.isfinite(s).all():
            raise NonFiniteError(f"video {position}: {int((~np.isfinite(s)).sum())} scores are not finite")
        videos.append((t.astype(np.int64), s))
    return videos


@METRICS.register_module()
class TripletRecognitionAP(Metric):
    """Video-wise (``AP_I`` ... ``AP_IVT``) and global (``global_AP_*``) triplet mAP as fractions in [0, 1].

    ``prediction_key`` and ``target_key`` hold one [frames, 100] array per video (scores, 0/1 targets). A component
    none of whose classes has a positive frame gets NaN. ``mapping_file`` is the dataset's ``maps.txt``: it must
    equal ivtmetrics' built-in map, which ivtmetrics 0.1.5 always uses for the components. ``prefix`` goes before
    every name (applied by the task).
    """

    def __init__(self, prediction_key: str = "triplet_scores", target_key: str = "triplet_target",
                 components: Sequence[str] = ("i", "v", "t", "iv", "it", "ivt"), prefix: str = "",
                 global_ap: bool = True, mapping_file: str | None = None) -> None:
        super().__init__(prefix)
        self.required = (prediction_key, target_key)
        self.prediction_key, self.target_key = prediction_key, target_key
        self.global_ap = global_ap
        self.components = [components] if isinstance(components, str) else list(components)
        unknown = [c for c in self.components if c not in COMPONENTS]
        if unknown:
            raise ValueError(f"unknown triplet component(s) {unknown}; choose from {list(COMPONENTS)}")
        self.mapping_file = mapping_file
        if mapping_file is not None:
            bank, builtin = read_mapping(mapping_file), official_mapping()
            if not np.array_equal(bank, builtin):
                row = int(np.flatnonzero((bank != builtin).any(axis=1))[0])
                raise ValueError(f"{mapping_file} differs from ivtmetrics' built-in triplet map (first at row {row}: "
                                 f"{bank[row].tolist()} vs {builtin[row].tolist()}); ivtmetrics disentangles with "
                                 "its built-in map, so the component APs would be wrong")

    def recognizer(self, outputs: Columns) -> Any:
        """An ``ivtmetrics.Recognition`` holding every video's frames (``update`` then ``video_end`` per video)."""
        from ivtmetrics import Recognition

        with np.errstate():  # Recognition() sets numpy's divide/invalid errors to 'ignore' process-wide
            recognizer = Recognition(num_class=NUM_TRIPLETS)
        for targets, scores in _videos(outputs[self.prediction_key], outputs[self.target_key]):
            recognizer.update(targets, scores)
            recognizer.video_end()
        return recognizer

    @staticmethod
    def _classwise(recognizer: Any, component: str, protocol: str) -> np.ndarray:
        if component not in COMPONENTS:
            raise ValueError(f"unknown triplet component {component!r}; choose from {list(COMPONENTS)}")
        bank = np.asarray(recognizer.bank, dtype=np.int64)
        parts = [(extract_component(t, component, bank), extract_component(s, component, bank))
                 for t, s in zip(recognizer.global_targets, recognizer.global_predictions, strict=True)]
        if protocol == "video":
            return _nanmean(np.stack([classwise_ap(t, s) for t, s in parts]), axis=0)
        if protocol == "global":
            return classwise_ap(np.concatenate([t for t, _ in parts]), np.concatenate([s for _, s in parts]))
        raise ValueError(f"protocol must be 'video' or 'global', got {protocol!r}")

    def classwise(self, outputs: Columns, component: str = "ivt", protocol: str = "video") -> np.ndarray:
        """Per-class AP of ``component`` (one entry per distinct id in its map column, NaN where the class has no
        positive frame): the mean over the videos containing the class (``video``) or on all frames (``global``)."""
        return self._classwise(self.recognizer(outputs), component, protocol)

    def compute(self, outputs: Columns) -> dict[str, float]:
        recognizer = self.recognizer(outputs)
        protocols = {"": "video", "global_": "global"} if self.global_ap else {"": "video"}
        return {f"{name}AP_{component.upper()}":
                float(_nanmean(self._classwise(recognizer, component, protocol)))
                for name, protocol in protocols.items() for component in self.components}
