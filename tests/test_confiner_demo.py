"""The ConFiner demo: its scorers' formulas on hand-made videos (methods/confiner/scorers.py) and its summary on
fixture runs (methods/confiner/demo.py)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bench.datasets.moving_digits import render
from bench.methods.confiner.demo import CLOSE, LOW_TE, MODES, SINGLE, compare, summarize
from bench.methods.confiner.scorers import (DigitCropFeatures, DigitFrameQuality, FlowSmoothness, digit_crop,
                                            flow_smoothness)
from bench.registry import EXTRACTORS, VIDEO_SCORERS
from bench.tasks.generation.video_scorers.subject_consistency import SubjectConsistency

DIGIT = (np.arange(64, dtype=np.float32).reshape(8, 8) % 7) / 6  # an 8x8 "digit" with no empty border


def moving(positions: list[tuple[int, int]], canvas: int = 12, digit: np.ndarray = DIGIT) -> torch.Tensor:
    """uint8 [F, canvas, canvas, 3]: ``digit`` pasted at each top-left position (the moving-digits renderer)."""
    return torch.from_numpy(render(digit, np.array(positions), canvas, format="uint8"))


# -- digit crop --------------------------------------------------------------------------------------------------
def test_digit_crop_is_the_pasted_digit():
    video = moving([(0, 0), (1, 3), (4, 4), (2, 1)])
    crops = digit_crop(video)
    expected = torch.from_numpy(np.rint(DIGIT * 255).astype(np.uint8))
    for crop in crops:  # nothing lies outside the digit's box, so its window holds the most intensity
        assert torch.equal(crop[..., 0], expected)


def test_digit_crop_ties_go_to_the_window_nearest_the_centroid():
    digit = np.zeros((8, 8), np.float32)
    digit[2:6, 2:6] = 1.0  # a 4x4 blob: every window containing it holds the same mass
    crops = digit_crop(moving([(2, 2)], digit=digit))  # blob at rows/cols 4..7, centroid 5.5: window 2..9
    assert torch.equal(crops[0][..., 0], torch.from_numpy(np.rint(digit * 255).astype(np.uint8)))
    black = torch.zeros(1, 12, 12, 3, dtype=torch.uint8)
    assert digit_crop(black).shape == (1, 8, 8, 3)
    with pytest.raises(ValueError, match="smaller than"):
        digit_crop(torch.zeros(1, 6, 6, 3, dtype=torch.uint8))


def test_subject_consistency_on_digit_crops_ignores_the_motion():
    """VBench's formula: 1 for a digit that only moves (its crops are equal); on whole frames it is not."""
    video = moving([(0, 0), (0, 2), (2, 4), (4, 4)])
    crop = SubjectConsistency(extractor=dict(type="DigitCropFeatures", grey=False,
                                             extractor=dict(type="PixelCorrelationFeatures")))
    whole = SubjectConsistency(extractor=dict(type="PixelCorrelationFeatures"))
    assert crop(video) == pytest.approx(1.0, abs=1e-9)
    assert whole(video) < 0.9
    assert "DigitCropFeatures" in EXTRACTORS.module_dict or EXTRACTORS.get("DigitCropFeatures")


def test_digit_crop_features_hand_grey_crops_to_the_inner_extractor():
    seen = []

    class Recorder:
        def __call__(self, images):
            seen.append(images)
            return {"pool": images.flatten(1).float()}

    video = moving([(1, 1)])
    video[..., 1] = 0  # channels differ: the grey crop is their rounded mean
    DigitCropFeatures(Recorder())(video)
    expected = np.rint((2 * np.rint(DIGIT * 255)) / 3).astype(np.uint8)
    assert seen[0].shape == (1, 8, 8, 1) and torch.equal(seen[0][0, ..., 0], torch.from_numpy(expected))


# -- frame quality -------------------------------------------------------------------------------------------------
class FixedLogits:
    """An extractor giving per-image logits from a lookup: image k of a call gets ``logits[k]``."""

    def __init__(self, logits: torch.Tensor) -> None:
        self.logits = logits

    def to(self, device):
        return self

    def __call__(self, images):
        return {"pool": torch.zeros(len(images), 2), "logits": self.logits[:len(images)]}

    def describe(self):
        return {"name": "fixed logits"}


def test_frame_quality_is_the_mean_max_softmax():
    logits = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0], [0.0, math.log(9.0)]])  # max p: 1/2, 3/4, 9/10
    scorer = VIDEO_SCORERS.build(dict(type="DigitFrameQuality", extractor=dict(type="PixelCorrelationFeatures")))
    scorer.features = DigitCropFeatures(FixedLogits(logits))
    assert scorer(moving([(0, 0), (1, 1), (2, 2)])) == pytest.approx((0.5 + 0.75 + 0.9) / 3, abs=1e-6)
    no_logits = DigitFrameQuality(extractor=dict(type="PixelCorrelationFeatures"))
    with pytest.raises(ValueError, match="no 'logits'"):
        no_logits(moving([(0, 0), (1, 1)]))
    with pytest.raises(ValueError, match="uint8"):
        scorer(torch.zeros(3, 12, 12, 3))


# -- flow smoothness -------------------------------------------------------------------------------------------------
def flows(*vectors: tuple[float, float], size: int = 4) -> np.ndarray:
    """Uniform flow fields [T-1, 2, size, size], one (dx, dy) per pair of frames."""
    return np.stack([np.broadcast_to(np.array(v, np.float32)[:, None, None], (2, size, size)) for v in vectors])


def test_flow_smoothness_formula():
    assert flow_smoothness(flows((1, 0), (1, 0), (1, 0))) == 1.0  # uniform motion
    assert flow_smoothness(flows((0, 0), (0, 0))) == 1.0  # no motion at all: 1 by definition
    assert flow_smoothness(flows((1, 0), (-1, 0))) == pytest.approx(0.0, abs=1e-12)  # reversal every frame
    # a right turn: |(0,1) - (1,0)| = sqrt 2 per pixel against |(1,0)| + |(0,1)| = 2
    assert flow_smoothness(flows((1, 0), (0, 1))) == pytest.approx(1 - math.sqrt(2) / 2, abs=1e-12)
    # speeding up along a line: |2 - 1| / (1 + 2)
    assert flow_smoothness(flows((1, 0), (2, 0))) == pytest.approx(2 / 3, abs=1e-12)
    with pytest.raises(ValueError, match="at least 3 frames"):
        flow_smoothness(flows((1, 0)))


def test_flow_smoothness_of_videos():
    scorer = FlowSmoothness()
    still = moving([(2, 2)] * 4)
    assert scorer(still) == 1.0  # identical frames: Farneback's flow is 0 everywhere
    shaking = moving([(2, 1), (2, 3), (2, 1), (2, 3)])  # back and forth: the flow reverses every frame
    steady = moving([(2, 0), (2, 1), (2, 2), (2, 3)])  # one pixel right per frame
    assert scorer(shaking) < 0.5 < scorer(steady)
    assert scorer.describe()["flow"]["backend"] == "farneback"


# -- summary ---------------------------------------------------------------------------------------------------------
def fixture_runs(coordinated_quality: float = 0.78) -> dict[str, dict]:
    def run(stem: str, quality: float, consistency: float, smooth: float, nfe: float) -> tuple[str, dict]:
        return stem, {"name": stem, "run_dir": f"/runs/{stem}", "metrics": {
            "frame_quality": quality, "subject_consistency": consistency, "flow_smoothness": smooth,
            "motion_smoothness": 0.9, "NFE per video": nfe, "seconds per video": 0.1}}

    return dict([run(SINGLE["control"], 0.50, 0.60, 0.30, 4), run(SINGLE["spatial"], 0.85, 0.40, 0.20, 20),
                 run(SINGLE["temporal"], 0.70, 0.90, 0.50, 20), run(MODES["spatial"], 0.75, 0.55, 0.35, 9),
                 run(MODES["temporal"], 0.60, 0.70, 0.40, 9),
                 run(MODES["coordinated"], coordinated_quality, 0.91, 0.60, 19), run(LOW_TE, 0.86, 0.80, 0.30, 19)])


def test_summary_reads_the_runs_and_says_where_coordinated_does_not_win():
    summary = summarize(fixture_runs())
    assert summary.headline == {"frame quality, coordinated": 0.78, "frame quality, spatial alone": 0.85,
                                "subject consistency, coordinated": 0.91, "subject consistency, temporal alone": 0.90}
    text = summary.sentence
    assert ("does not beat the best single expert on frame quality (0.78 vs the spatial expert's 0.85; from T_e = 20 "
            "ties: 0.86)") in text
    assert ("ties the best single expert on subject consistency (0.91 vs the temporal expert's 0.90; from T_e = 20 "
            "does not beat: 0.80)") in text
    assert ("beats the best single expert on flow smoothness (0.60 vs the temporal expert's 0.50; from T_e = 20 does "
            "not beat: 0.30)") in text
    assert "coordinated 0.78 / 0.91 / 0.60 (NFE 9 / 9 / 19)" in text
    assert "not VBench's networks" in text
    assert "beats the best single expert on frame quality" in summarize(fixture_runs(0.95)).sentence


def test_compare_ties_within_close():
    assert compare(0.5 + CLOSE / 2, 0.5) == "ties" and compare(0.5 - CLOSE / 2, 0.5) == "ties"
    assert compare(0.5 + 2 * CLOSE, 0.5) == "beats" and compare(0.5 - 2 * CLOSE, 0.5) == "does not beat"


def test_summary_names_a_missing_run_or_metric():
    runs = fixture_runs()
    del runs[MODES["temporal"]]
    with pytest.raises(ValueError, match="confiner_2_temporal' is missing"):
        summarize(runs)
    runs = fixture_runs()
    del runs[SINGLE["spatial"]]["metrics"]["flow_smoothness"]
    with pytest.raises(ValueError, match="lacks 'flow_smoothness'"):
        summarize(runs)


# -- configs ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("profile", ["demo", "demo/full"])
def test_demo_configs_chain_the_trained_experts_at_equal_or_lower_nfe(profile):
    """Each refinement config reads its profile's three trained experts, and ConFiner's UNet evaluations per video
    (no CFG: 4 control + 1 or 3 per refinement step) never exceed those of an expert sampled alone."""
    from bench.config import load_config
    from bench.methods.confiner.schedules import nfe_per_video

    single = {role: load_config(f"{profile}/{stem}") for role, stem in SINGLE.items()}
    for role, cfg in single.items():
        assert cfg.method.type == "ConFinerToyExpert" and cfg.method.single == role and cfg.train
    assert single["control"].method.steps == 4
    for mode, stem in MODES.items():
        cfg = load_config(f"{profile}/{stem}")
        assert cfg.method.mode == mode
        assert {role: cfg.upstream[role].config for role in SINGLE} == {
            role: f"{profile}/{SINGLE[role]}" for role in SINGLE}
        for role, spec in cfg.method.experts.items():
            assert spec.model == f"upstream:{role}" and spec.get("guidance_scale", 1.0) == 1.0
        nfe = nfe_per_video(mode, cfg.method.control_steps, cfg.method.refine_steps)["total"]
        assert nfe <= min(single[role].method.steps for role in ("spatial", "temporal"))
