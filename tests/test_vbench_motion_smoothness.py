"""VBench motion smoothness: the formula on hand-made videos (static, flashing, a video whose last odd frame has no
prediction), AMT's truncating uint8 conversion, and AMT-S reported as unavailable rather than faked."""
from __future__ import annotations

import pytest
import torch

from bench.registry import VIDEO_SCORERS
from bench.tasks.generation.video_scorers.base import ScorerUnavailableError
from bench.tasks.generation.video_scorers.motion_smoothness import (linear_interpolator, motion_smoothness,
                                                                    to_uint8_truncated)


def _flat(values, size=4):
    return torch.stack([torch.full((size, size, 3), v, dtype=torch.uint8) for v in values])


def test_static_video_is_perfectly_smooth():
    g = torch.Generator().manual_seed(0)
    frame = torch.randint(0, 256, (6, 8, 3), generator=g).to(torch.uint8)
    scorer = VIDEO_SCORERS.build(dict(type="MotionSmoothness", interpolator="linear"))
    assert scorer(frame[None].expand(7, -1, -1, -1).contiguous()) == pytest.approx(1.0, abs=1e-12)


def test_flashing_frames_give_the_derived_scores():
    # kept frames 0, 2, 4 are black: every midpoint is predicted black; the dropped frames are v: (255 - v) / 255
    assert motion_smoothness(_flat([0, 255, 0, 255, 0]), linear_interpolator) == pytest.approx(0.0, abs=1e-12)
    assert motion_smoothness(_flat([0, 100, 0, 100, 0]), linear_interpolator) == pytest.approx(155 / 255, abs=1e-12)
    # F even: kept 0, 2 predict frame 1 only; frame 3 has no prediction and does not count
    assert motion_smoothness(_flat([0, 0, 0, 200]), linear_interpolator) == pytest.approx(1.0, abs=1e-12)
    # a linear ramp 0, 10, 20, 30, 40: the average predicts each dropped frame up to AMT's truncation to uint8
    predicted = [int(linear_interpolator(_flat([a])[0], _flat([b])[0])[0, 0, 0]) for a, b in ((0, 20), (20, 40))]
    expected = (255 - (abs(10 - predicted[0]) + abs(30 - predicted[1])) / 2) / 255
    assert motion_smoothness(_flat([0, 10, 20, 30, 40]), linear_interpolator) == pytest.approx(expected, abs=1e-12)


def test_truncation_is_amts_tensor2img():
    values = torch.tensor([0.0, 0.5, 10.9 / 255, 1.2, -0.1])
    assert to_uint8_truncated(values).tolist() == [0, 127, 10, 255, 0]  # (x * 255).clip(0, 255).astype(uint8)


def test_amt_s_is_reported_unavailable_and_short_videos_are_errors(tmp_path):
    with pytest.raises(ScorerUnavailableError, match="AMT-S is not implemented here"):
        VIDEO_SCORERS.build(dict(type="MotionSmoothness", cache_dir=str(tmp_path)))
    weights = tmp_path / "amt_model" / "amt-s.pth"
    weights.parent.mkdir()
    weights.write_bytes(b"x")
    with pytest.raises(ScorerUnavailableError, match="amt-s.pth"):
        VIDEO_SCORERS.build(dict(type="MotionSmoothness", cache_dir=str(tmp_path)))
    with pytest.raises(ValueError, match="F >= 3"):
        motion_smoothness(_flat([0, 0]), linear_interpolator)
    with pytest.raises(ValueError, match="interpolator must be one of"):
        VIDEO_SCORERS.build(dict(type="MotionSmoothness", interpolator="raft"))
