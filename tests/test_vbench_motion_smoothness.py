"""VBench motion smoothness: the formula on hand-made videos (static, flashing, a video whose last odd frame has no
prediction), AMT's truncating uint8 conversion, and AMT-S against golden values of VBench's own AMT-S code."""
from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
import torch

from bench.registry import VIDEO_SCORERS
from bench.tasks.generation.video_scorers.amt import AMTS, interpolate_middle, pad_amounts, vbench_scale
from bench.tasks.generation.video_scorers.motion_smoothness import (linear_interpolator, motion_smoothness,
                                                                    to_uint8_truncated)

#: sha256 of the sorted "name:shape" lines of VBench's AMT-S state dict (vbench 0.1.5 third_party/amt
#: networks/AMT-S.py Model(corr_radius=3, corr_lvls=4, num_flows=3)): the entries amt-s.pth holds
AMT_S_KEYS = (213, "33cf12947e4a304c584794db0df92f7a8a1aea576fc9900bf691b81401ef674e")
#: VBench's AMT-S with the weights of _filled_state_dict on _frames(): the middle frame as its motion_score makes it
#: (img2tensor, InputPadder(16), embt 1/2, tensor2img), torch 2.15 CPU
GOLDEN_PRED_SUM, GOLDEN_MEAN_DIFF = 7699953, 107.52634684244792


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


def _filled_state_dict(state: dict) -> dict:
    """Weights by a fixed rule (sorted names, one generator), the rule the golden values were made with."""
    g = torch.Generator().manual_seed(0)
    filled = {}
    for k, v in sorted(state.items()):
        if v.ndim >= 2:
            fan_in = v[0].numel() if "decoder" not in k or not k.endswith(".2.weight") else v.shape[0] * v[0, 0].numel()
            filled[k] = torch.randn(v.shape, generator=g) / math.sqrt(fan_in)
        elif k.endswith("bias"):
            filled[k] = torch.zeros(v.shape)
        else:
            filled[k] = torch.full(v.shape, 0.25)
    return filled


def _frames() -> list[np.ndarray]:
    y, x = np.mgrid[0:128, 0:128]
    frames = [((np.sin((x - 4 * t) / 6.0) * 0.5 + 0.5) * 200 + 20 + (y % 16)).astype(np.uint8) for t in range(3)]
    return [np.stack([f, np.roll(f, 5, 0), 255 - f], -1) for f in frames]


def test_amt_s_has_vbenchs_entries_and_reproduces_its_middle_frame(tmp_path):
    model = AMTS()
    lines = "\n".join(f"{k}:{tuple(v.shape)}" for k, v in sorted(model.state_dict().items()))
    assert (len(model.state_dict()), hashlib.sha256(lines.encode()).hexdigest()) == AMT_S_KEYS
    path = tmp_path / "amt_model" / "amt-s.pth"
    path.parent.mkdir()
    torch.save({"state_dict": _filled_state_dict(model.state_dict())}, path)  # the checkpoint's format
    scorer = VIDEO_SCORERS.build(dict(type="MotionSmoothness", cache_dir=str(tmp_path)))
    frames = [torch.from_numpy(f) for f in _frames()]
    predicted = interpolate_middle(scorer.model, frames[0], frames[2])
    # float reordering on another CPU can flip a truncation: each pixel may move by one grey level
    assert abs(int(predicted.long().sum()) - GOLDEN_PRED_SUM) <= predicted.numel()
    mean_diff = float((frames[1].double() - predicted.double()).abs().mean())
    assert mean_diff == pytest.approx(GOLDEN_MEAN_DIFF, abs=1.0)
    assert scorer(torch.stack(frames)) == pytest.approx((255 - mean_diff) / 255, abs=1e-12)
    assert scorer.describe()["label"] == "VBench (AMT-S)" and scorer.describe()["weights"]["file"] == str(path)


def test_amt_s_scale_padding_and_errors(tmp_path):
    assert vbench_scale(512, 512, torch.device("cpu")) == 1.0  # VBench does not resize on the CPU
    assert pad_amounts(130, 200, 16) == [4, 4, 7, 7]  # to 144 x 208, split as InputPadder does
    with pytest.raises(FileNotFoundError, match="amt-s.pth"):
        VIDEO_SCORERS.build(dict(type="MotionSmoothness", cache_dir=str(tmp_path)))
    weights = tmp_path / "amt_model" / "amt-s.pth"
    weights.parent.mkdir()
    torch.save({"state_dict": {"conv.weight": torch.zeros(1)}}, weights)
    with pytest.raises(ValueError, match="not AMT-S's checkpoint"):
        VIDEO_SCORERS.build(dict(type="MotionSmoothness", cache_dir=str(tmp_path)))
    small = torch.zeros(64, 64, 3, dtype=torch.uint8)
    with pytest.raises(ValueError, match="at least 128 px"):
        interpolate_middle(AMTS().eval(), small, small)
    with pytest.raises(ValueError, match="F >= 3"):
        motion_smoothness(_flat([0, 0]), linear_interpolator)
    with pytest.raises(ValueError, match="interpolator must be one of"):
        VIDEO_SCORERS.build(dict(type="MotionSmoothness", interpolator="raft"))
