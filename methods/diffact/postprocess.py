"""From per-offset class probabilities to a full-frame-rate label sequence (official ``test_single_video``).

Temporal sub-sampling with rate s gives s offset views of a video; ``decoder-agg`` averages their probabilities
(truncated to the shortest view), an optional median filter smooths them, the argmax is upsampled back to every
frame by nearest neighbour, and ``purge`` or ``mode`` post-processing cleans the labels.
"""
from __future__ import annotations

import numpy as np
from scipy.interpolate import interp1d
from scipy.ndimage import generic_filter, median_filter

from bench.metrics.action_segmentation import label_segments

POSTPROCESS_TYPES = (None, "median", "mode", "purge")


def offset_views(num_frames: int, sample_rate: int, temporal_aug: bool = True) -> list[slice]:
    """Frame slices of the sub-sampled views: every offset with ``temporal_aug``, else offset 0 only."""
    if sample_rate < 1:
        raise ValueError(f"sample_rate must be >= 1, got {sample_rate}")
    return [slice(offset, num_frames, sample_rate) for offset in (range(sample_rate) if temporal_aug else [0])]


def average_views(probs: list[np.ndarray]) -> np.ndarray:
    """Mean [C, T'] of per-view probabilities [C, T_i], each truncated to the shortest view."""
    length = min(p.shape[-1] for p in probs)
    return np.mean(np.stack([p[:, :length] for p in probs]), axis=0)


def median_smooth(probs: np.ndarray, size: int) -> np.ndarray:
    """Per-class median filter along time (scipy's default 'reflect' border), renormalised to sum 1 per frame."""
    smoothed = np.stack([median_filter(channel, size=size) for channel in probs])
    return smoothed / smoothed.sum(0, keepdims=True)


def restore_full_sequence(labels: np.ndarray, full_len: int, left_offset: int, right_offset: int,
                          sample_rate: int) -> np.ndarray:
    """Nearest-neighbour upsampling of labels at frames ``left_offset, left_offset + s, ...`` to ``full_len``
    frames; frames before the first / after the last tick copy the end values."""
    ticks = np.arange(left_offset, full_len - right_offset, sample_rate)
    if len(ticks) != len(labels):
        raise ValueError(f"{len(labels)} sub-sampled labels do not fit {len(ticks)} ticks of a {full_len}-frame "
                         f"video at rate {sample_rate} (offsets {left_offset}/{right_offset})")
    out = np.zeros(full_len)
    out[:ticks[0]] = labels[0]
    if len(ticks) == 1:
        out[ticks[0]] = labels[0]
    else:
        out[ticks[0]:ticks[-1] + 1] = interp1d(ticks, labels, kind="nearest")(np.arange(ticks[0], ticks[-1] + 1))
    out[ticks[-1] + 1:] = labels[-1]
    return out


def purge(labels: np.ndarray, max_length: int) -> np.ndarray:
    """Give segments of at most ``max_length`` frames to their neighbours: the first and last wholly to the
    next / previous segment, inner ones split at their middle. Segment ends follow the official convention
    (the last segment ends at T-1, so its final frame is never reassigned)."""
    labels = np.array(labels, copy=True)
    names, starts, ends = label_segments(labels.tolist())
    if len(names) < 2:
        return labels
    for e in range(len(names)):
        duration = ends[e] - starts[e]
        if duration > max_length:
            continue
        if e == 0:
            labels[starts[e]:ends[e]] = names[e + 1]
        elif e == len(names) - 1:
            labels[starts[e]:ends[e]] = names[e - 1]
        else:
            mid = starts[e] + duration // 2
            labels[starts[e]:mid] = names[e - 1]
            labels[mid:ends[e]] = names[e + 1]
    return labels


def _modal(window: np.ndarray) -> float:
    """Most frequent value of a window, the smallest on ties (``scipy.stats.mode``'s rule)."""
    values, counts = np.unique(window, return_counts=True)
    return values[np.argmax(counts)]


def mode_filter(labels: np.ndarray, size: int) -> np.ndarray:
    """Sliding-window mode of the labels (scipy ``generic_filter``, 'reflect' border)."""
    return generic_filter(np.asarray(labels, dtype=np.float64), _modal, size)


def postprocess(probs: np.ndarray, full_len: int, sample_rate: int, right_offset: int,
                kind: str | None = None, value: int | None = None) -> np.ndarray:
    """Labels [full_len] (int64) from aggregated probabilities [C, T'] (official order: median before
    upsampling, mode and purge after)."""
    if kind not in POSTPROCESS_TYPES:
        raise ValueError(f"postprocess type {kind!r}; choose from {POSTPROCESS_TYPES}")
    if kind is not None and not value:
        raise ValueError(f"postprocess {kind!r} needs a positive 'value'")
    if kind == "median":
        probs = median_smooth(probs, int(value))
    labels = restore_full_sequence(np.argmax(probs, 0), full_len, sample_rate // 2, right_offset, sample_rate)
    if kind == "mode":
        labels = mode_filter(labels, int(value))
    elif kind == "purge":
        labels = purge(labels, int(value))
    return labels.astype(np.int64)
