"""VBench-Long (``video_scorers/long.py``): clip splitting on hand-made videos (the last clip re-uses earlier frames),
scene cuts by the ContentDetector rule, static long videos, the slow-fast fusion of subject consistency against a
hand computation with the official weights and a mapping table in the official file format (VBench's own table is
read from the user's VBench checkout, not shipped), and the mean-over-clips reduction (tiny fake scorers)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from bench.registry import EXTRACTORS, VIDEO_SCORERS
from bench.tasks.generation.video_scorers.base import ScorerUnavailableError, VideoScorer, as_video
from bench.tasks.generation.video_scorers.long import (W_CLIP2CLIP, W_INCLIP, VBenchLong,
                                                       clip_frame_count, content_scores, detect_cuts, fuse,
                                                       load_mapping_table, map_clip2clip, split_clips, split_scenes)

RED, GREEN, BLUE, YELLOW = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)
# a monotone stand-in for subject_mapping_table.yaml: value sqrt(k / 100) at key k / 100 (0 -> 0, 1 -> 1, as VBench's)
TABLE = tuple(math.sqrt(k / 100) for k in range(101))


@pytest.fixture
def mapping_table(tmp_path) -> str:
    """The stand-in table written as the official file is: one ``<key>: <value>`` line per key 0.0, 0.01, ... 1.0."""
    path = tmp_path / "subject_mapping_table.yaml"
    path.write_text("".join(f"{k / 100}: {value!r}\n" for k, value in enumerate(TABLE)))
    return str(path)


@VIDEO_SCORERS.register_module(force=True)
class MeanPixelScorer(VideoScorer):
    """Test scorer: the mean pixel value of the clip / 255, and the clip lengths it saw."""

    def __init__(self) -> None:
        self.lengths: list[int] = []

    def __call__(self, video: torch.Tensor) -> float:
        frames = as_video(video, "MeanPixelScorer")
        self.lengths.append(len(frames))
        return float(frames.double().mean() / 255)

    def describe(self) -> dict[str, Any]:
        return {"dimension": "mean_pixel"}


@EXTRACTORS.register_module(force=True)
class MeanColourFeatures:
    """Test extractor: a frame's feature is its mean RGB colour."""

    def to(self, device: Any) -> MeanColourFeatures:
        return self

    def __call__(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"pool": frames.double().mean(dim=(1, 2))}

    def describe(self) -> dict[str, Any]:
        return {"name": "mean_colour"}


def _colours(*runs: tuple[tuple[int, int, int], int], size: int = 8) -> torch.Tensor:
    """A video of solid-colour runs: ``(colour, frames)`` each."""
    frames = [torch.tensor(colour, dtype=torch.uint8).expand(count, size, size, 3) for colour, count in runs]
    return torch.cat(frames).contiguous()


def test_clip_length_is_int_fps_times_int_seconds():
    assert clip_frame_count(8, 2.0) == 16  # ConFiner-Long at 8 fps, clip_length_mix.yaml's 2 s
    assert clip_frame_count(7.9, 2.0) == 14  # the file's fps is read back as int
    assert clip_frame_count(24, 10.0) == 240
    with pytest.raises(ValueError, match="int\\(clip_seconds\\)"):
        clip_frame_count(8, 0.5)  # the official int(0.5) = 0 divides by zero


def test_split_into_fixed_clips_with_the_last_clip_taking_the_last_frames():
    assert split_clips(0, 32, 16) == [(0, 16), (16, 32)]
    assert split_clips(0, 40, 16) == [(0, 16), (16, 32), (24, 40)]  # 8 left: the last 16 frames, overlapping
    assert split_clips(0, 17, 16) == [(0, 16), (1, 17)]
    assert split_clips(0, 10, 16) == [(0, 10)]  # shorter than a clip: the whole video
    assert split_clips(30, 60, 16) == [(30, 46), (44, 60)]  # within a scene
    scorer = VBenchLong(dict(type="MeanPixelScorer"), "motion_smoothness", fps=8)
    ranges = [clip["frames"] for clip in scorer.score_clips(torch.zeros(40, 4, 4, 3, dtype=torch.uint8))["clips"]]
    assert ranges == [(0, 16), (16, 32), (24, 40)]
    assert scorer.scorer.lengths == [16, 16, 16]


def test_mean_over_clips_for_aesthetic_and_imaging_quality():
    video = torch.arange(40, dtype=torch.uint8)[:, None, None, None].expand(40, 4, 4, 3).contiguous()
    # clips [0, 16), [16, 32), [24, 40): frame values are their indices, so clip means 7.5, 23.5, 31.5
    expected = (7.5 + 23.5 + 31.5) / 3 / 255
    for dimension in ("aesthetic_quality", "imaging_quality"):
        spec = dict(type="VBenchLong", scorer=dict(type="MeanPixelScorer"), dimension=dimension, fps=8)
        scorer = VIDEO_SCORERS.build(spec)
        result = scorer.score_clips(video)
        assert [clip["score"] for clip in result["clips"]] == pytest.approx([7.5 / 255, 23.5 / 255, 31.5 / 255])
        assert scorer(video) == pytest.approx(expected, abs=1e-12)
        assert float(scorer.score_batch(video[None])[0]) == pytest.approx(expected, abs=1e-12)
    short = torch.full((10, 4, 4, 3), 51, dtype=torch.uint8)
    assert VBenchLong(dict(type="MeanPixelScorer"), "imaging_quality", fps=8)(short) == pytest.approx(0.2)


def test_static_long_video_scores_one_on_subject_consistency_and_motion_smoothness(mapping_table):
    g = torch.Generator().manual_seed(0)
    frame = torch.randint(0, 256, (16, 16, 3), generator=g).to(torch.uint8)
    video = frame[None].expand(44, -1, -1, -1).contiguous()  # 5.5 s at 8 fps: clips 0-16, 16-32, 28-44
    pixels = dict(type="PixelCorrelationFeatures", grayscale=False)
    motion = VBenchLong(dict(type="MotionSmoothness", interpolator="linear"), "motion_smoothness", fps=8)
    assert motion(video) == pytest.approx(1.0, abs=1e-12)
    inclip = VBenchLong(dict(type="SubjectConsistency", extractor=pixels), "subject_consistency", fps=8,
                        w_inclip=1.0, w_clip2clip=0.0)
    assert inclip(video) == pytest.approx(1.0, abs=1e-12)
    fused = VBenchLong(dict(type="SubjectConsistency", extractor=pixels), "subject_consistency", fps=8,
                       clip2clip_extractor=pixels, mapping_table=mapping_table)
    result = fused.score_clips(video)
    assert all(clip["clip2clip"] == pytest.approx(1.0, abs=1e-12) for clip in result["clips"])
    assert result["score"] == pytest.approx(1.0, abs=1e-12)  # mapping(1.0) = 1.0; 0.5 * 1 + 0.5 * 1


def test_fusion_formula_with_the_official_weights_and_the_mapping_file_format(mapping_table, tmp_path):
    assert (W_INCLIP, W_CLIP2CLIP) == (0.5, 0.5)  # slow_fast_params.yaml w_inclip_sb, w_clip2clip_sb
    table = load_mapping_table(mapping_table)
    assert table == pytest.approx(TABLE, abs=1e-15) and len(table) == 101
    # 0.425 lies half-way between the table's keys 0.42 and 0.43
    mapped = TABLE[42] + (TABLE[43] - TABLE[42]) * 0.5
    assert map_clip2clip(0.425, table) == pytest.approx(mapped, abs=1e-15)
    assert fuse(0.9, map_clip2clip(0.425, table)) == pytest.approx(0.5 * 0.9 + 0.5 * mapped, abs=1e-15)
    assert map_clip2clip(0.42, table) == pytest.approx(TABLE[42], abs=1e-15)  # on a key: that key's value
    assert map_clip2clip(0.005, table) == pytest.approx(0.5 * TABLE[1], abs=1e-15)
    assert map_clip2clip(1.0, table) == 1.0 and map_clip2clip(1.3, table) == 1.0 and map_clip2clip(-0.2, table) == 0.0
    assert fuse(0.9, 0.0) == 0.9  # no fast branch (mapped 0): the in-clip score unweighted
    assert fuse(0.9, 0.8, 1.0, 0.0) == 0.9  # eval_long.py without --dev_flag
    with pytest.raises(ScorerUnavailableError, match="subject_mapping_table.yaml"):
        load_mapping_table(tmp_path / "missing.yaml")
    short = tmp_path / "short.yaml"
    short.write_text("0.0: 0.0\n0.5: 0.9\n")
    with pytest.raises(ValueError, match="101 keys"):
        load_mapping_table(short)
    bad = tmp_path / "bad.yaml"
    bad.write_text("0.0: 0.0\nzero point one: 0.6\n")
    with pytest.raises(ValueError, match="bad.yaml:2"):
        load_mapping_table(bad)


def test_slow_fast_subject_consistency_end_to_end_against_a_hand_computation(mapping_table):
    video = _colours((RED, 20), (YELLOW, 20))  # clips [0, 16), [16, 32), [24, 40)
    features = dict(type="MeanColourFeatures")
    scorer = VBenchLong(dict(type="SubjectConsistency", extractor=features), "subject_consistency", fps=8,
                        clip2clip_extractor=features, mapping_table=mapping_table)
    result = scorer.score_clips(video)
    c = 1 / math.sqrt(2)  # cos(red, yellow) of the mean colours (255, 0, 0) and (255, 255, 0)
    # clip [16, 32): frames 16-19 red, 20-31 yellow; frame i >= 1 of the clip: (cos to previous + cos to first) / 2
    middle = (3 * 1 + (c + c) / 2 + 11 * (1 + c) / 2) / 15
    inclips = [1.0, middle, 1.0]
    assert [clip["inclip"] for clip in result["clips"]] == pytest.approx(inclips, abs=1e-12)
    fast = (1 + c) / 2  # first frames 0, 16 (red), 24 (yellow): i = 1 gives 1, i = 2 gives c
    assert result["clips"][0]["clip2clip"] == pytest.approx(fast, abs=1e-12)
    t = (fast - 0.85) / 0.01
    mapped = TABLE[85] + (TABLE[86] - TABLE[85]) * t
    expected = np.mean([0.5 * inclip + 0.5 * mapped for inclip in inclips])
    assert result["score"] == pytest.approx(expected, abs=1e-12)
    assert scorer.describe()["slow_fast"]["label"].startswith("not VBench's DINOv2")


def test_one_clip_has_no_fast_branch_and_the_default_needs_dinov2(mapping_table):
    features = dict(type="MeanColourFeatures")
    scorer = VBenchLong(dict(type="SubjectConsistency", extractor=features), "subject_consistency", fps=8,
                        clip2clip_extractor=features, mapping_table=mapping_table)
    result = scorer.score_clips(_colours((RED, 10), (YELLOW, 2)))  # 12 frames < 16: one clip, no fast branch
    assert result["clips"][0]["clip2clip"] is None and result["score"] == result["clips"][0]["inclip"]
    with pytest.raises(ScorerUnavailableError, match="DINOv2"):
        VBenchLong(dict(type="SubjectConsistency", extractor=features), "subject_consistency", fps=8)


def test_content_score_is_the_mean_hsv_difference():
    # OpenCV HSV: red H 0, green H 60, blue H 120 (degrees / 2); S = V = 255 for all three
    scores = content_scores(_colours((RED, 2), (GREEN, 1), (BLUE, 1)))
    assert scores.tolist() == pytest.approx([0.0, 0.0, 60 / 3, 60 / 3], abs=1e-12)
    assert content_scores(_colours((RED, 1), (BLUE, 1)))[1] == pytest.approx(40.0, abs=1e-12)
    big = content_scores(_colours((RED, 1), (BLUE, 1), size=300))  # downscaled by 300 / 256 first
    assert big[1] == pytest.approx(40.0, abs=1e-12)


def test_cut_filter_keeps_min_scene_len_from_frame_zero_and_merges_flashes():
    scores = np.zeros(60)
    assert detect_cuts(scores) == []
    scores[5] = 50.0  # within 15 frames of frame 0: dropped
    assert detect_cuts(scores) == []
    scores[20] = 50.0
    assert detect_cuts(scores) == [20]
    scores[25] = 50.0  # 5 frames after a cut: merged away
    assert detect_cuts(scores) == [20]
    scores[25], scores[40] = 0.0, 35.0  # exactly the threshold counts
    assert detect_cuts(scores) == [20, 40]
    assert detect_cuts(scores, threshold=35.5) == [20]
    assert split_scenes(60, [20, 40]) == [(0, 20), (20, 40), (40, 60)]
    assert split_scenes(60, []) == [(0, 60)]


def test_hard_scene_cut_splits_the_video_there():
    video = _colours((RED, 24), (BLUE, 24), size=32)  # red -> blue scores 40 >= 35 at frame 24
    spec = dict(type="MeanPixelScorer")
    cut = VBenchLong(spec, "aesthetic_quality", fps=8, scene_detection=True)
    assert cut.scenes(video) == [(0, 24), (24, 48)]
    result = cut.score_clips(video)
    assert [clip["frames"] for clip in result["clips"]] == [(0, 16), (8, 24), (24, 40), (32, 48)]
    assert [clip["scene"] for clip in result["clips"]] == [0, 0, 1, 1]
    uncut = VBenchLong(spec, "aesthetic_quality", fps=8)
    assert [clip["frames"] for clip in uncut.score_clips(video)["clips"]] == [(0, 16), (16, 32), (32, 48)]
    soft = _colours((RED, 24), (GREEN, 24), size=32)  # red -> green scores 20 < 35: one scene
    assert cut.scenes(soft) == [(0, 48)]
    assert VBenchLong(spec, "aesthetic_quality", fps=8, scene_detection=True, scene_threshold=20.0).scenes(soft) \
        == [(0, 24), (24, 48)]


def test_bad_specs_are_clear_errors():
    with pytest.raises(ValueError, match="no clip length known"):
        VBenchLong(dict(type="MeanPixelScorer"), "dynamic_degree", fps=8)
    assert VBenchLong(dict(type="MeanPixelScorer"), "dynamic_degree", fps=8, clip_seconds=2.0).clip_frames == 16
    with pytest.raises(ValueError, match="fps"):
        VBenchLong(dict(type="MeanPixelScorer"), "imaging_quality", fps=0)
    with pytest.raises(ValueError, match="short-video VIDEO_SCORERS spec"):
        VBenchLong(dict(type="VBenchLong"), "imaging_quality", fps=8)
    facts = VBenchLong(dict(type="MeanPixelScorer"), "imaging_quality", fps=8).describe()
    assert facts["clip_frames"] == 16 and facts["scene_detection"]["threshold"] == 35.0


def test_the_video_task_scores_long_videos_and_skips_the_fast_branch_it_cannot_build():
    from bench.tasks.generation.video import VideoGenerationTask

    dimensions = {
        "aesthetic_quality": dict(type="VBenchLong", scorer=dict(type="MeanPixelScorer"),
                                  dimension="aesthetic_quality", fps=8),
        "subject_consistency": dict(type="VBenchLong", scorer=dict(type="SubjectConsistency"),
                                    dimension="subject_consistency", fps=8)}
    task = VideoGenerationTask(dimensions=dimensions, on_unavailable="skip", export=None)
    task.prepare("cpu")
    assert "DINOv2" in task.not_configured["subject_consistency"]
    videos = torch.stack([torch.arange(40, dtype=torch.uint8)[:, None, None, None].expand(40, 4, 4, 3),
                          torch.full((40, 4, 4, 3), 51, dtype=torch.uint8)])
    column = task.featurize({"video": videos})["aesthetic_quality"]
    assert column.dtype == torch.float64
    assert column.tolist() == pytest.approx([(7.5 + 23.5 + 31.5) / 3 / 255, 0.2], abs=1e-12)
    assert task.describe()["dimensions"]["aesthetic_quality"]["clip_frames"] == 16
