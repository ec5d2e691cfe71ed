"""VBench-Long: a short-video VBench dimension applied to a long video the way ``vbench2_beta_long`` does it (VBench++,
``Vchitect/VBench`` ``vbench2_beta_long/``): optional scene cutting, fixed-length clips, the short-video scorer on
every clip, the mean over clips, and for subject consistency the slow-fast fusion with a long-range "fast" branch.

What the official code does, and what is followed here (frames as generated, not MP4 files written and read back):

- **Scene cuts** (``VBenchLong.preprocess``): only with ``--use_semantic_splitting`` (off by default in
  ``eval_long.py``), so ``scene_detection=False`` by default. When on, PySceneDetect's ``ContentDetector`` at
  ``threshold=35.0`` (the value ``preprocess`` passes; ``split_video_into_scenes``' own default 27 is not used) cuts
  the video; PySceneDetect is not in our lock, so its rule is re-implemented in :func:`content_scores` /
  :func:`detect_cuts`: frames downscaled to a width of at least 256 (``compute_downscale_factor``, bilinear), HSV by
  OpenCV, score of frame i = mean over hue, saturation and value of the mean |difference| to frame i-1, a cut where
  the score is >= the threshold, with the MERGE flash filter of ``min_scene_len=15`` frames. No cut: one scene.
- **Clips** (``split_video_into_clips``): ``clip_frames = int(fps) * int(seconds)`` (the file's fps read back as an
  int, the duration cast with ``int``); a scene shorter than that is one clip; otherwise consecutive clips of
  ``clip_frames`` and, when frames remain, one last clip of the *last* ``clip_frames`` frames (it overlaps the one
  before). ``seconds`` per dimension from ``configs/clip_length_mix.yaml`` (the default ``--clip_length_config``):
  2.0 s for the four dimensions here (also the fixed 2 s of ``long_custom_input`` mode).
- **Reduction** (``reorganize_clips_results``): a long video's score is the mean of its clips' scores (as written, the
  official grouping key is each clip's own path, so its overall number is the mean over all clips of all videos: the
  same as the mean over videos of this per-video mean when every video has the same number of clips).
- **Subject consistency, slow-fast** (``subject_consistency.py``, ``utils.fuse_inclip_clip2clip``): the slow branch
  is the clip's short-video score (``inclip``); the fast branch (``clip2clip``) is the subject-consistency formula on
  the first frame of every clip of a scene (scenes with one clip have none), with DINOv2 ViT-B/14
  (``--sb_clip2clip_feat_extractor dinov2``); ``clip2clip`` is mapped to the in-clip scale by linear interpolation in
  ``configs/subject_mapping_table.yaml`` (keys 0.00 ... 1.00; read from the user's VBench checkout,
  :func:`load_mapping_table`), and each clip's score is
  ``w_inclip * inclip + w_clip2clip * mapped`` unless ``mapped == 0`` (no fast branch), then ``inclip``. Weights:
  ``slow_fast_params.yaml`` (0.5, 0.5) with ``--dev_flag`` (what every command of the official README passes); without
  it ``eval_long.py`` forces (1.0, 0.0), i.e. the in-clip mean.
"""
from __future__ import annotations

import math
from bisect import bisect_left
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.registry import EXTRACTORS, VIDEO_SCORERS
from bench.tasks.generation.video_scorers.base import ScorerUnavailableError, VideoScorer, as_video
from bench.tasks.generation.video_scorers.subject_consistency import subject_consistency

#: seconds per clip for each dimension, ``vbench2_beta_long/configs/clip_length_mix.yaml`` (the default config)
CLIP_SECONDS: dict[str, float] = {"subject_consistency": 2.0, "motion_smoothness": 2.0, "aesthetic_quality": 2.0,
                                  "imaging_quality": 2.0}
#: slow-fast weights of subject consistency with ``--dev_flag``, ``configs/slow_fast_params.yaml``
W_INCLIP, W_CLIP2CLIP = 0.5, 0.5
#: ``VBenchLong.preprocess``'s ContentDetector threshold, and PySceneDetect's defaults it keeps
SCENE_THRESHOLD, MIN_SCENE_LEN, DOWNSCALE_WIDTH = 35.0, 15, 256
#: where the fast branch's mapping table lives in a VBench checkout (the one ``VBenchPrompts`` reads, ``data/VBench``)
MAPPING_TABLE = "data/VBench/vbench2_beta_long/configs/subject_mapping_table.yaml"


def load_mapping_table(path: str | Path) -> tuple[float, ...]:
    """VBench-Long's ``subject_mapping_table.yaml`` (lines ``<key>: <value>``, keys 0.0, 0.01, ... 1.0): the mapped
    fast-branch score at k / 100. Read from the user's VBench checkout, not shipped here (it is VBench's data)."""
    file = Path(path)
    if not file.is_file():
        raise ScorerUnavailableError(
            f"VBenchLong subject_consistency: the slow-fast mapping table {file} does not exist; give "
            "mapping_table=<VBench checkout>/vbench2_beta_long/configs/subject_mapping_table.yaml (git clone "
            "https://github.com/Vchitect/VBench into data/VBench) or w_inclip=1.0, w_clip2clip=0.0 for the in-clip "
            "score")
    values: dict[int, float] = {}
    for number, line in enumerate(file.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, _, value = line.partition(":")
        try:
            hundredths, mapped = float(key) * 100, float(value)
        except ValueError:
            hundredths, mapped = math.nan, math.nan
        if not (math.isfinite(hundredths) and math.isfinite(mapped) and abs(hundredths - round(hundredths)) <= 1e-6):
            raise ValueError(f"{file}:{number}: expected '<key>: <value>' with keys 0.0, 0.01, ..., 1.0, got {line!r}")
        values[round(hundredths)] = mapped
    if sorted(values) != list(range(101)):
        raise ValueError(f"{file}: expected the 101 keys 0.0, 0.01, ..., 1.0, got {len(values)} keys")
    return tuple(values[k] for k in range(101))


def clip_frame_count(fps: float, seconds: float) -> int:
    """Frames per clip as ``split_video_into_clips`` counts them: ``int(fps) * int(seconds)``."""
    count = int(fps) * int(seconds)
    if count < 1:
        raise ValueError(f"VBench-Long: int(fps) * int(clip_seconds) = int({fps}) * int({seconds}) = {count} frames "
                         "per clip; the official split casts both to int (its 0.5 s config divides by zero there), so "
                         "give fps >= 1 and clip_seconds >= 1")
    return count


def split_clips(start: int, end: int, clip_frames: int) -> list[tuple[int, int]]:
    """[start, end) frame ranges of the clips of one scene (module docstring: the last clip is the last
    ``clip_frames`` frames)."""
    length = end - start
    if length < 1 or clip_frames < 1:
        raise ValueError(f"VBench-Long: cannot split frames [{start}, {end}) into clips of {clip_frames}")
    if length < clip_frames:
        return [(start, end)]
    clips = [(start + i * clip_frames, start + (i + 1) * clip_frames) for i in range(length // clip_frames)]
    if length % clip_frames:
        clips.append((end - clip_frames, end))
    return clips


def content_scores(frames: torch.Tensor) -> np.ndarray:
    """ContentDetector's score of every frame of uint8 RGB frames [F, H, W, 3] (frame 0 scores 0): the mean over H, S
    and V (OpenCV HSV, H in [0, 180)) of the mean absolute difference to the previous frame, after PySceneDetect's
    automatic downscale (factor max(H, W) / 256 when that side is >= 256, ``cv2.resize`` bilinear)."""
    import cv2

    video = as_video(frames, "VBench-Long scene detection").numpy()
    height, width = video.shape[1:3]
    factor = max(height, width) / DOWNSCALE_WIDTH if max(height, width) >= DOWNSCALE_WIDTH else 1.0
    size = (max(1, round(width / factor)), max(1, round(height / factor)))
    hsv = []
    for frame in video:
        small = cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR) if factor > 1.0 else frame
        hsv.append(cv2.cvtColor(np.ascontiguousarray(small), cv2.COLOR_RGB2HSV).astype(np.int32))
    scores = np.zeros(len(hsv))
    for i in range(1, len(hsv)):
        scores[i] = np.abs(hsv[i] - hsv[i - 1]).mean(axis=(0, 1)).mean()
    return scores


def detect_cuts(scores: np.ndarray, threshold: float = SCENE_THRESHOLD,
                min_scene_len: int = MIN_SCENE_LEN) -> list[int]:
    """Frames that start a new scene: ``score >= threshold``, filtered as PySceneDetect's ``FlashFilter`` in MERGE
    mode does (in frames: a cut needs ``min_scene_len`` frames since the last frame above the threshold, counted from
    frame 0; cuts closer than that after a first cut are merged into one at the last frame above the threshold)."""
    if min_scene_len <= 0:
        return [i for i, score in enumerate(scores) if score >= threshold]
    cuts: list[int] = []
    last_above, merge_enabled, merge_triggered, merge_start = 0, False, False, 0
    for i, score in enumerate(scores):
        above = bool(score >= threshold)
        length_met = i - last_above >= min_scene_len
        if above:
            last_above = i
        if merge_triggered:
            if length_met and not above and last_above - merge_start >= min_scene_len:
                merge_triggered = False
                cuts.append(last_above)
            continue
        if not above:
            continue
        if length_met:
            merge_enabled = True
            cuts.append(i)
        elif merge_enabled:
            merge_triggered, merge_start = True, i
    return sorted(set(cuts))


def split_scenes(num_frames: int, cuts: list[int]) -> list[tuple[int, int]]:
    """[start, end) ranges of the scenes between ``cuts`` (one scene without cuts)."""
    bounds = [0] + [cut for cut in cuts if 0 < cut < num_frames] + [num_frames]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def map_clip2clip(score: float, table: tuple[float, ...]) -> float:
    """The fast-branch score on the in-clip scale: linear interpolation in the mapping table (keys k / 100), clamped
    to its first and last values outside [0, 1] (``fuse_inclip_clip2clip``'s ``bisect_left`` lookup)."""
    keys = [k / 100 for k in range(len(table))]
    index = bisect_left(keys, score)
    if index == 0:
        return table[0]
    if index == len(keys):
        return table[-1]
    k0, k1 = keys[index - 1], keys[index]
    return table[index - 1] + (table[index] - table[index - 1]) * (score - k0) / (k1 - k0)


def fuse(inclip: float, mapped: float, w_inclip: float = W_INCLIP, w_clip2clip: float = W_CLIP2CLIP) -> float:
    """One clip's slow-fast subject consistency: ``w_inclip * inclip + w_clip2clip * mapped``, or ``inclip`` when the
    mapped fast-branch score is 0 (no fast branch)."""
    return inclip * w_inclip + mapped * w_clip2clip if mapped != 0.0 else inclip


@VIDEO_SCORERS.register_module()
class VBenchLong(VideoScorer):
    """A short-video scorer applied to long videos by VBench-Long's protocol (module docstring).

    Args:
        scorer: the VIDEO_SCORERS spec of the short-video dimension (e.g. ``dict(type="MotionSmoothness")``).
        dimension: its VBench name; picks the clip length and, for ``"subject_consistency"``, the slow-fast fusion.
        fps: the video's frame rate (ConFiner-Long: 8); clips hold ``int(fps) * int(clip_seconds)`` frames.
        clip_seconds: seconds per clip; None: :data:`CLIP_SECONDS` (``clip_length_mix.yaml``, 2.0).
        scene_detection: cut scenes first (the official ``--use_semantic_splitting``; off by default there).
        scene_threshold: ContentDetector threshold (35.0, ``VBenchLong.preprocess``).
        min_scene_len: frames between cuts (PySceneDetect's default 15).
        w_inclip: slow-branch weight (0.5, ``slow_fast_params.yaml`` with ``--dev_flag``; 1.0 without it).
        w_clip2clip: fast-branch weight (0.5 with ``--dev_flag``; 0.0 without it, which needs no extractor).
        clip2clip_extractor: EXTRACTORS spec of the fast branch's frame features (``{"pool": [F, D]}``). The
            official one is DINOv2 ViT-B/14 (``torch.hub`` ``facebookresearch/dinov2`` ``dinov2_vitb14``, Resize 256
            bicubic + CenterCrop 224), which has no extractor here: any other spec is labelled as not VBench's.
        mapping_table: the fast branch's ``subject_mapping_table.yaml`` (None: :data:`MAPPING_TABLE`, in the VBench
            checkout); only read when the fast branch is on.
    """

    def __init__(self, scorer: dict[str, Any], dimension: str, fps: float, clip_seconds: float | None = None,
                 scene_detection: bool = False, scene_threshold: float = SCENE_THRESHOLD,
                 min_scene_len: int = MIN_SCENE_LEN, w_inclip: float = W_INCLIP, w_clip2clip: float = W_CLIP2CLIP,
                 clip2clip_extractor: dict[str, Any] | None = None, mapping_table: str | None = None) -> None:
        if not isinstance(scorer, dict) or "type" not in scorer or scorer["type"] == "VBenchLong":
            raise ValueError(f"VBenchLong: scorer must be a short-video VIDEO_SCORERS spec with a 'type' (e.g. "
                             f"dict(type='MotionSmoothness')), got {scorer!r}")
        if clip_seconds is None and dimension not in CLIP_SECONDS:
            raise ValueError(f"VBenchLong: no clip length known for dimension {dimension!r} (known: "
                             f"{sorted(CLIP_SECONDS)}); give clip_seconds (clip_length_mix.yaml lists the others)")
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or fps <= 0:
            raise ValueError(f"VBenchLong: fps must be the video's positive frame rate, got {fps!r}")
        self.dimension, self.fps = dimension, float(fps)
        self.clip_seconds = float(CLIP_SECONDS[dimension] if clip_seconds is None else clip_seconds)
        self.clip_frames = clip_frame_count(self.fps, self.clip_seconds)
        self.scene_detection, self.scene_threshold = bool(scene_detection), float(scene_threshold)
        self.min_scene_len = int(min_scene_len)
        self.slow_fast = dimension == "subject_consistency"
        self.w_inclip, self.w_clip2clip = float(w_inclip), float(w_clip2clip)
        self.extractor_spec = None if clip2clip_extractor is None else dict(clip2clip_extractor)
        self.extractor: Any = None
        self.mapping: tuple[float, ...] = ()
        self.mapping_path: str | None = None
        if self.slow_fast and self.w_clip2clip != 0.0:
            if self.extractor_spec is None:
                raise ScorerUnavailableError(
                    "VBenchLong subject_consistency: the slow-fast fusion's fast branch uses DINOv2 ViT-B/14, which "
                    "has no extractor here; give clip2clip_extractor=<EXTRACTORS spec> (labelled not VBench's) or "
                    "w_inclip=1.0, w_clip2clip=0.0 (eval_long.py without --dev_flag: the in-clip score)")
            self.mapping_path = str(mapping_table or MAPPING_TABLE)
            self.mapping = load_mapping_table(self.mapping_path)
            self.extractor = EXTRACTORS.build(dict(self.extractor_spec))
        self.scorer_spec = dict(scorer)
        self.scorer = VIDEO_SCORERS.build(dict(scorer))

    def to(self, device: torch.device | str) -> VBenchLong:
        self.scorer = self.scorer.to(device)
        if self.extractor is not None:
            self.extractor = self.extractor.to(device)
        return self

    def scenes(self, frames: torch.Tensor) -> list[tuple[int, int]]:
        """[start, end) of each scene (the whole video without scene detection)."""
        if not self.scene_detection:
            return [(0, len(frames))]
        return split_scenes(len(frames), detect_cuts(content_scores(frames), self.scene_threshold,
                                                     self.min_scene_len))

    def score_clips(self, video: torch.Tensor) -> dict[str, Any]:
        """Per clip: its frame range, scene, short-video score and (subject consistency) the scene's fast-branch
        score, mapped score and fused score; ``score`` is the mean of the clip scores."""
        frames = as_video(video, "VBenchLong")
        clips: list[dict[str, Any]] = []
        for scene, (start, end) in enumerate(self.scenes(frames)):
            ranges = split_clips(start, end, self.clip_frames)
            fast = None
            if self.extractor is not None and len(ranges) > 1:
                firsts = frames[[clip_start for clip_start, _ in ranges]]
                fast = subject_consistency(self.extractor(firsts)["pool"].float().cpu())
            for clip_start, clip_end in ranges:
                inclip = float(self.scorer(frames[clip_start:clip_end]))
                entry: dict[str, Any] = {"frames": (clip_start, clip_end), "scene": scene, "inclip": inclip,
                                         "score": inclip}
                if self.slow_fast:
                    # official: a missing fast score is 0
                    mapped = 0.0 if fast is None else map_clip2clip(fast, self.mapping)
                    entry.update(clip2clip=fast, mapped=mapped,
                                 score=fuse(inclip, mapped, self.w_inclip, self.w_clip2clip))
                clips.append(entry)
        return {"clips": clips, "score": float(np.mean([clip["score"] for clip in clips]))}

    def __call__(self, video: torch.Tensor) -> float:
        return float(self.score_clips(video)["score"])

    def describe(self) -> dict[str, Any]:
        facts: dict[str, Any] = {
            "dimension": self.dimension, "protocol": "VBench-Long (vbench2_beta_long): scenes, clips of "
            "int(fps) * int(clip_seconds) frames (last clip = last frames), mean of the clip scores",
            "fps": self.fps, "clip_seconds": self.clip_seconds, "clip_frames": self.clip_frames,
            "scene_detection": {"enabled": self.scene_detection, "rule": "PySceneDetect ContentDetector "
                                "(re-implemented)", "threshold": self.scene_threshold,
                                "min_scene_len": self.min_scene_len},
            "scorer": self.scorer.describe(), "scored_frames": "as given (official: clips re-encoded as MP4)"}
        if self.slow_fast:
            facts["slow_fast"] = {"w_inclip": self.w_inclip, "w_clip2clip": self.w_clip2clip,
                                  "mapping": self.mapping_path,
                                  "clip2clip_features": None if self.extractor is None else self.extractor.describe(),
                                  "label": "in-clip only (no --dev_flag)" if self.extractor is None else
                                  f"not VBench's DINOv2: fast branch on {self.extractor_spec}"}
        return facts
