"""Temporal action segmentation scores (Acc, Edit, F1@k) as the MS-TCN / ASFormer / DiffAct ``utils.func_eval``.

Each video is a frame-wise label sequence; its segments are runs of equal labels. Acc pools all frames of all
videos; Edit is one minus the normalised Levenshtein distance between segment label sequences, averaged per
video; F1@k matches predicted to ground-truth segments greedily by temporal IoU and accumulates TP/FP/FN over
all videos before computing precision and recall (micro). Segments whose label is a background class are left
out of Edit and F1 (not of Acc). The official loops are vectorised over videos; results are the same numbers,
reported as fractions (the official reports percentages).
"""
from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from bench.formats.mstcn import read_mapping
from bench.metrics.base import Metric
from bench.registry import METRICS
from bench.store import Columns

IGNORE_LABEL = -100  # target frames whose label is not in the mapping; never equal to a prediction
_CHUNK_CELLS = 1 << 20  # padded (video x predicted x target) segment pairs per vectorised chunk, at most


class _Segments(NamedTuple):
    """Segments of a chunk of videos, padded to the longest: ``label``/``start``/``end`` [V, K], ``count`` [V]."""

    label: np.ndarray
    start: np.ndarray
    end: np.ndarray
    count: np.ndarray  # type: ignore[assignment]  # a field named like tuple.count, which it shadows on purpose


def _flat_segments(frames: np.ndarray, offsets: np.ndarray, background: Collection) -> dict[str, np.ndarray]:
    """Non-background segments of videos concatenated in ``frames`` (video v is ``offsets[v]:offsets[v + 1]``),
    sorted by video, with starts and ends counted from each video's first frame.

    As ``get_labels_start_end_time``, a segment ends at the index where the label changes, except each video's
    last segment, which ends at ``len - 1`` (the official loop variable's last value), not ``len``.
    """
    first = np.zeros(len(frames), dtype=bool)
    first[offsets[:-1][offsets[:-1] < len(frames)]] = True
    first[1:] |= frames[1:] != frames[:-1]
    starts = np.flatnonzero(first)
    video = np.searchsorted(offsets, starts, side="right") - 1
    ends = np.append(starts[1:], len(frames))[:len(starts)]
    last = np.append(video[1:] != video[:-1], True)[:len(starts)]
    ends[last] = offsets[video[last] + 1] - 1
    background = list(background)
    keep = ~np.isin(frames[starts], background) if background else np.ones(len(starts), dtype=bool)
    return {"video": video[keep], "label": frames[starts[keep]], "start": starts[keep] - offsets[video[keep]],
            "end": ends[keep] - offsets[video[keep]]}


def _segment_index(flat: dict[str, np.ndarray], num_videos: int) -> tuple[np.ndarray, np.ndarray]:
    """Each video's first segment position in the flat arrays and its number of segments."""
    count = np.bincount(flat["video"], minlength=num_videos)
    return np.concatenate([[0], np.cumsum(count)[:-1]]), count


def _padded(flat: dict[str, np.ndarray], first: np.ndarray, count: np.ndarray, videos: np.ndarray,
            fill: Any) -> _Segments:
    """The segments of ``videos`` as padded [len(videos), K] arrays; padding holds ``fill`` labels."""
    width = int(count[videos].max(initial=0))
    slots = np.arange(width)
    valid = slots < count[videos, None]
    index = np.where(valid, first[videos, None] + slots, 0)

    def take(values: np.ndarray, pad: Any) -> np.ndarray:
        return np.where(valid, values[index], pad) if len(values) else np.full(valid.shape, pad, dtype=values.dtype)

    return _Segments(take(flat["label"], fill), take(flat["start"], 0), take(flat["end"], 0), count[videos])


def _chunks(pred_count: np.ndarray, target_count: np.ndarray) -> Iterator[np.ndarray]:
    """Video indices in chunks of similar segment counts, each chunk's padded pair table at most ``_CHUNK_CELLS``
    (one video with thousands of flickering segments must not pad all the others)."""
    cells = _CHUNK_CELLS
    size = np.maximum(np.maximum(pred_count, target_count), 1)
    chunk: list[int] = []
    for video in np.argsort(size, kind="stable").tolist():
        if chunk and (len(chunk) + 1) * int(size[video]) ** 2 > cells:
            yield np.asarray(chunk)
            chunk = []
        chunk.append(video)
    if chunk:
        yield np.asarray(chunk)


def _levenshtein_rows(pred: _Segments, target: _Segments) -> np.ndarray:
    """Levenshtein distance between each video's predicted and target segment labels (int64 [V]).

    Row by row over the prediction, all videos and target columns at once: the insertion chain along a row is a
    running minimum (``min_k c_k + j - k``). Equal labels give ``D[i-1, j-1]`` as in the official loop, which is
    never more than the other two candidates, so the distances are the same.
    """
    num, width = target.label.shape
    cols = np.arange(width + 1)
    row = np.broadcast_to(cols, (num, width + 1)).copy()
    distance = row[np.arange(num), target.count].copy()
    for i in range(1, pred.label.shape[1] + 1):
        step = np.empty_like(row)
        step[:, 0] = i
        mismatch = pred.label[:, i - 1, None] != target.label
        step[:, 1:] = np.minimum(row[:, 1:] + 1, row[:, :-1] + mismatch)
        row = np.minimum.accumulate(step - cols, axis=1) + cols
        done = np.flatnonzero(pred.count == i)
        distance[done] = row[done, target.count[done]]
    return distance


def _true_positives(pred: _Segments, target: _Segments, overlaps: Sequence[float]) -> np.ndarray:
    """Greedy segment matches per overlap threshold, summed over the chunk's videos (int64 [len(overlaps)]).

    As ``f_score``: each predicted segment takes the target segment of highest IoU (zeroed where the labels
    differ; numpy's argmax, so the first of equals, and a NaN from the 0/0 of two zero-length final segments
    wins and is a miss); it is a hit if that IoU reaches the threshold and the target segment is not hit yet.
    So the hits are the distinct best targets among the predicted segments that reach the threshold.
    """
    if target.label.shape[1] == 0 or pred.label.shape[1] == 0:
        return np.zeros(len(overlaps), dtype=np.int64)
    p = {name: getattr(pred, name)[:, :, None] for name in ("label", "start", "end")}
    t = {name: getattr(target, name)[:, None, :] for name in ("label", "start", "end")}
    intersection = np.minimum(p["end"], t["end"]) - np.maximum(p["start"], t["start"])
    union = np.maximum(p["end"], t["end"]) - np.minimum(p["start"], t["start"])
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = 1.0 * intersection / union * (p["label"] == t["label"])
    is_target = np.arange(iou.shape[2]) < target.count[:, None]
    iou = np.where(is_target[:, None, :], iou, -np.inf)  # padding is never the best match
    best = iou.argmax(axis=2)
    best_iou = np.take_along_axis(iou, best[:, :, None], axis=2)[:, :, 0]
    is_pred = np.arange(best.shape[1]) < pred.count[:, None]
    video = np.broadcast_to(np.arange(best.shape[0])[:, None], best.shape)
    tp = np.zeros(len(overlaps), dtype=np.int64)
    for k, overlap in enumerate(overlaps):
        hit = is_pred & (best_iou >= overlap)
        matched = np.zeros(target.label.shape, dtype=bool)
        matched[video[hit], best[hit]] = True
        tp[k] = matched.sum()
    return tp


def _as_labels(values: Sequence) -> np.ndarray:
    """A 1-D label array from a list, numpy array or CPU tensor (strings or integers); a string is its characters."""
    array = np.asarray(values.numpy() if hasattr(values, "numpy") else list(values) if isinstance(values, str)
                       else values)
    if array.ndim != 1:
        raise ValueError(f"a label sequence must be 1-D, got shape {array.shape}")
    return array


def _single(pred: Sequence, target: Sequence, background: Collection) -> tuple[_Segments, _Segments]:
    """Padded segments of one video's prediction and target (a chunk of one)."""
    p, t = _as_labels(pred), _as_labels(target)
    frames = np.concatenate([p, t])
    offsets = np.array([0, len(p), len(p) + len(t)])
    flat = _flat_segments(frames, offsets, background)
    first, count = _segment_index(flat, 2)
    fill = frames[:0].dtype.type()
    return _padded(flat, first, count, np.array([0]), fill), _padded(flat, first, count, np.array([1]), fill)


def label_segments(labels: Sequence, background: Collection = ()) -> tuple[list, list[int], list[int]]:
    """Labels, starts and ends of the non-background segments of one frame-wise label sequence.

    ``get_labels_start_end_time``'s semantics: a segment ends where the next one starts, except the last one,
    which ends at ``len(labels) - 1``; background segments are dropped (the official fails on an empty sequence,
    this returns three empty lists).
    """
    array = _as_labels(labels)
    flat = _flat_segments(array, np.array([0, len(array)]), background)
    return flat["label"].tolist(), flat["start"].tolist(), flat["end"].tolist()


def levenshtein(a: Sequence, b: Sequence) -> int:
    """Levenshtein (insert / delete / substitute, unit cost) distance between two label sequences."""
    def row(labels: Sequence) -> _Segments:
        array = _as_labels(labels)[None]
        return _Segments(array, np.zeros(array.shape, int), np.zeros(array.shape, int), np.array([array.shape[1]]))

    return int(_levenshtein_rows(row(a), row(b))[0])


def edit_score(pred: Sequence, target: Sequence, background: Collection = ()) -> float:
    """``1 - levenshtein(P, Y) / max(len P, len Y)`` over the non-background segment labels P, Y of one video.

    NaN when neither has a non-background segment: the official computes 0/0 in numpy float64 there (a NaN with
    a RuntimeWarning), which then makes the dataset's mean Edit NaN; we keep that rather than invent a value.
    """
    p, t = _single(pred, target, background)
    return float(_edit_fractions(_levenshtein_rows(p, t), p.count, t.count)[0])


def _edit_fractions(distance: np.ndarray, pred_count: np.ndarray, target_count: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1 - distance / np.maximum(pred_count, target_count).astype(np.float64)


def segment_counts(pred: Sequence, target: Sequence, overlap: float,
                   background: Collection = ()) -> tuple[int, int, int]:
    """True positives, false positives and false negatives of one video at IoU threshold ``overlap``.

    A video without target segments counts every predicted segment as a false positive (the official's argmax
    of an empty array raises there).
    """
    p, t = _single(pred, target, background)
    tp = int(_true_positives(p, t, [overlap])[0])
    return tp, int(p.count[0]) - tp, int(t.count[0]) - tp


def f1_from_counts(tp: int, fp: int, fn: int) -> float:
    """F1 from micro counts, 0 where precision or recall is undefined (the official's ``nan_to_num``)."""
    if tp == 0:
        return 0.0
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return 2.0 * (precision * recall) / (precision + recall)


def resolve_class_names(class_names: Sequence[str] | str | Path | None) -> list[str] | None:
    """A list of class names from a list, the path of an MS-TCN ``mapping.txt``, or None."""
    if class_names is None:
        return None
    if isinstance(class_names, (str, Path)):
        return read_mapping(class_names)
    return list(class_names)


def _check_videos(preds: Sequence[np.ndarray], targets: Sequence[np.ndarray]) -> None:
    """Equal numbers of videos, equal frame counts per video, no empty video (the official asserts the same)."""
    if len(preds) != len(targets):
        raise ValueError(f"{len(preds)} predicted videos for {len(targets)} target videos")
    if not preds:
        raise ValueError("no videos to score")
    for position, (p, t) in enumerate(zip(preds, targets, strict=True)):
        if len(p) != len(t):
            raise ValueError(f"video {position}: prediction has {len(p)} frames, target has {len(t)}")
        if len(p) == 0:
            raise ValueError(f"video {position} has no frames")


@METRICS.register_module()
class ActionSegmentationScores(Metric):
    """Acc, Edit and F1@{10,25,50} (fractions in [0, 1]) of per-video frame labels, as DiffAct's ``func_eval``.

    ``prediction`` and ``target`` hold one 1-D integer sequence per video, of equal lengths; a target of -100
    (label not in the mapping) never matches and forms its own segments. ``background`` names (``bg_class``,
    matched exactly, so 50Salads' ``action_start`` stays) are looked up in ``class_names`` (a list or a
    ``mapping.txt`` path); without class names nothing is excluded. Edit is NaN if some video has no
    non-background segment in either sequence, as in the official code; a video without target segments counts
    its predicted segments as false positives (where the official raises).

    ``prediction_key`` scores another column (DiffAct's ``encoder_prediction``), with ``prefix`` on every name
    (applied by the task).
    """

    def __init__(self, class_names: list[str] | str | None = None, background: Sequence[str] = ("background",),
                 overlaps: Sequence[float] = (0.1, 0.25, 0.5), prediction_key: str = "prediction",
                 prefix: str = "") -> None:
        super().__init__(prefix)
        self.required = (prediction_key, "target")
        self.prediction_key = prediction_key
        self.class_names = resolve_class_names(class_names)
        background = [background] if isinstance(background, str) else list(background)
        names = self.class_names or []
        self.background_ids = [index for index, name in enumerate(names) if name in background]
        self.overlaps = [float(o) for o in overlaps]

    def compute(self, outputs: Columns) -> dict[str, float]:
        preds = [_as_labels(p).astype(np.int64, copy=False) for p in outputs[self.prediction_key]]
        targets = [_as_labels(t).astype(np.int64, copy=False) for t in outputs["target"]]
        _check_videos(preds, targets)
        num = len(preds)
        lengths = np.array([len(p) for p in preds])
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        frames = {"pred": np.concatenate(preds), "target": np.concatenate(targets)}
        flat = {k: _flat_segments(v, offsets, self.background_ids) for k, v in frames.items()}
        index = {k: _segment_index(v, num) for k, v in flat.items()}
        distance, tp = np.zeros(num, dtype=np.int64), np.zeros(len(self.overlaps), dtype=np.int64)
        for videos in _chunks(index["pred"][1], index["target"][1]):
            p = _padded(flat["pred"], *index["pred"], videos, fill=IGNORE_LABEL - 1)
            t = _padded(flat["target"], *index["target"], videos, fill=IGNORE_LABEL - 2)
            distance[videos] = _levenshtein_rows(p, t)
            tp += _true_positives(p, t, self.overlaps)
        edit = 0.0
        for value in _edit_fractions(distance, index["pred"][1], index["target"][1]).tolist():
            edit += value  # summed in video order, as the official loop does
        scores = {"Acc": int((frames["pred"] == frames["target"]).sum()) / int(offsets[-1]), "Edit": edit / num}
        n_pred, n_target = len(flat["pred"]["label"]), len(flat["target"]["label"])
        for overlap, hits in zip(self.overlaps, tp.tolist(), strict=True):
            scores[f"F1@{100 * overlap:g}"] = f1_from_counts(hits, n_pred - hits, n_target - hits)
        return scores

