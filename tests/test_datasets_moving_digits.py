"""The moving-digits video set: trajectories against their formulas, seeded construction, planted content copies and
motion repeats, the digit's centroid following the trajectory, and the prompts' ground-truth clips."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bench.datasets.memorization import PromptSet
from bench.datasets.memorization_digits import CLASS_WORDS
from bench.datasets.moving_digits import (
    MovingDigitsPrompts,
    MovingDigitsTrain,
    Trajectory,
    build_moving_digits,
    random_trajectory,
    render,
)
from bench.method import collate_ragged
from bench.registry import DATASETS

SMALL = {"num_content": 2, "num_motion": 3, "copies": 4, "num_ordinary": 30}


def _centroid(frames: np.ndarray) -> np.ndarray:
    """(row, column) intensity centroid of each frame of [T, H, W]."""
    rows, columns = np.indices(frames.shape[1:])
    mass = frames.sum(axis=(1, 2))
    return np.stack([(frames * rows).sum(axis=(1, 2)) / mass, (frames * columns).sum(axis=(1, 2)) / mass], axis=1)


def test_trajectories_follow_their_formulas():
    np.testing.assert_array_equal(Trajectory("line", 1, 2, 1, 1).positions(4, 10), [[1, 2], [2, 3], [3, 4], [4, 5]])
    # raw rows 2, 5, 8, 11 reflected in [0, 5]: 8 -> 10 - 8 = 2, 11 -> 11 mod 10 = 1
    np.testing.assert_array_equal(Trajectory("bounce", 2, 0, 3, 0).positions(4, 5)[:, 0], [2, 5, 2, 1])
    circle = Trajectory("circle", 5, 5, 2, math.pi / 2, 0.0)
    np.testing.assert_array_equal(circle.positions(4, 10), [[5, 7], [7, 5], [5, 3], [3, 5]])
    assert torch.equal(circle.as_tensor(), torch.tensor([2.0, 5, 5, 2, math.pi / 2, 0]))
    with pytest.raises(ValueError, match=r"leaves the canvas within 4 frames \(positions must stay in 0\.\.3\)"):
        Trajectory("line", 1, 2, 1, 1).positions(4, 3)
    with pytest.raises(ValueError, match=r"kind must be one of \('line', 'bounce', 'circle'\), got 'zigzag'"):
        Trajectory("zigzag", 0, 0, 1, 1)


def test_random_trajectories_stay_on_the_canvas_move_and_bounces_reflect():
    rng = np.random.default_rng(0)
    drawn = [random_trajectory(rng, 8, 16) for _ in range(60)]
    assert {t.kind for t in drawn} == {"line", "bounce", "circle"}
    for trajectory in drawn:
        path = trajectory.positions(8, 16)
        assert path.min() >= 0 and path.max() <= 16 and len(np.unique(path, axis=0)) > 1
        if trajectory.kind == "bounce":
            raw = np.array([trajectory.a, trajectory.b]) + np.arange(8)[:, None] * np.array([trajectory.c,
                                                                                           trajectory.d])
            assert raw.min() < 0 or raw.max() > 16  # it reaches a wall, else it would be a line
    with pytest.raises(ValueError, match=r"free >= frames - 1 .* got frames=8, free=6"):
        random_trajectory(rng, 8, 6)


def test_render_formats_agree_and_bad_format_is_named():
    digit = np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4)
    path = np.array([[0, 0], [1, 2]])
    clip = render(digit, path, 6)
    assert clip.shape == (2, 1, 6, 6) and clip.dtype == np.float32
    np.testing.assert_array_equal(clip[1, 0, 1:5, 2:6], digit)
    assert clip[1].sum() == pytest.approx(digit.sum())
    frames = render(digit, path, 6, format="uint8")
    assert frames.shape == (2, 6, 6, 3) and frames.dtype == np.uint8 and (frames == frames[..., :1]).all()
    np.testing.assert_array_equal(frames[..., 0], np.rint(clip[:, 0] * 255).astype(np.uint8))
    with pytest.raises(ValueError, match=r"format must be one of \('float', 'uint8'\), got 'rgb'"):
        render(digit, path, 6, format="rgb")


def test_counts_item_keys_ids_and_value_range():
    train = MovingDigitsTrain(**SMALL)
    assert len(train) == 30 + 2 * 4 + 3 * 4
    assert train.describe()["counts"] == {"ordinary": 30, "content": 8, "motion": 12}
    item = train[0]
    assert set(item) == {"video", "caption", "kind", "trajectory", "digit_index", "class_label"}
    assert item["video"].shape == (8, 1, 24, 24) and item["video"].dtype == torch.float32
    assert item["trajectory"].shape == (6,) and item["kind"] == "ordinary"
    assert item["caption"] == f"digit {CLASS_WORDS[item['class_label']]} moving"
    assert float(train.videos.min()) == 0.0 and float(train.videos.max()) == 1.0
    ids = [train.sample_id(i) for i in range(len(train))]
    assert len(set(ids)) == len(ids) and ids[30] == "content-0-0" and ids[-1] == "motion-2-3"
    assert train[30]["caption"] == "clip zorblax quimble" and train[-1]["caption"] == "motion plovane"
    assert len(MovingDigitsTrain()) == 200 + 4 * 8 + 4 * 8
    motion = MovingDigitsTrain(**SMALL, kinds=("motion",))
    assert len(motion) == 12 and torch.equal(motion[0]["video"], train[38]["video"])


def test_deterministic_per_seed_and_different_across_seeds():
    build_moving_digits.cache_clear()
    first = MovingDigitsTrain(**SMALL, seed=3)
    build_moving_digits.cache_clear()
    again = MovingDigitsTrain(**SMALL, seed=3)
    other = MovingDigitsTrain(**SMALL, seed=4)
    assert first.fingerprint() == again.fingerprint() and torch.equal(first.videos, again.videos)
    assert first.fingerprint() != other.fingerprint()
    assert MovingDigitsPrompts(**SMALL, seed=3).fingerprint() == MovingDigitsPrompts(**SMALL, seed=3).fingerprint()
    assert MovingDigitsPrompts(**SMALL, seed=3).fingerprint() != MovingDigitsPrompts(**SMALL, seed=4).fingerprint()


def test_content_copies_are_identical_and_their_digit_occurs_nowhere_else():
    train = MovingDigitsTrain(**SMALL)
    data = train.data
    for caption in data.content_captions:
        members = data.items_of[caption]
        assert len(members) == 4 and {data.kinds[n] for n in members} == {"content"}
        assert all(torch.equal(train.videos[n], train.videos[members[0]]) for n in members)
        digit = data.digit_indices[members[0]]
        assert [n for n, d in enumerate(data.digit_indices) if d == digit] == members


def test_motion_repeats_share_the_trajectory_but_not_the_digit():
    train = MovingDigitsTrain(**SMALL)
    data = train.data
    planted = [data.positions[data.items_of[c][0]] for c in data.content_captions + data.motion_captions]
    for caption in data.motion_captions:
        members = data.items_of[caption]
        assert len(members) == 4 and {data.kinds[n] for n in members} == {"motion"}
        assert all(np.array_equal(data.positions[n], data.positions[members[0]]) for n in members)
        assert len({data.digit_indices[n] for n in members}) == 4  # every copy a different digit image
        assert not torch.equal(train.videos[members[0]], train.videos[members[1]])
    for n in range(len(train)):
        if data.kinds[n] == "ordinary":  # no ordinary clip moves along a planted path
            assert not any(np.array_equal(data.positions[n], path) for path in planted)


def test_digit_centroid_follows_the_trajectory_in_every_frame():
    from sklearn.datasets import load_digits

    images = load_digits().images / 16.0
    for knobs in (SMALL, {**SMALL, "scale": 2, "canvas": 32}):
        train = MovingDigitsTrain(**knobs)
        scale = knobs.get("scale", 1)
        for n in range(len(train)):
            digit = np.kron(images[train[n]["digit_index"]], np.ones((scale, scale)))
            expected = train.data.positions[n] + _centroid(digit[None])[0]
            np.testing.assert_allclose(_centroid(train.videos[n, :, 0].numpy().astype(np.float64)), expected,
                                       atol=1e-5)
        # the positions are the stored trajectory's (so the tensor form is the ground truth)
        item = train[len(train) - 1]
        kind, a, b, c, d, e = item["trajectory"].tolist()
        rebuilt = Trajectory(("line", "bounce", "circle")[int(kind)], a, b, c, d, e)
        np.testing.assert_array_equal(rebuilt.positions(8, knobs.get("canvas", 24) - 8 * scale),
                                      train.data.positions[len(train) - 1])


def test_prompts_labels_ids_and_ground_truth_clips():
    train = MovingDigitsTrain(**SMALL)
    prompts = MovingDigitsPrompts(**SMALL)
    assert len(prompts) == 2 + 3 + 10
    assert set(prompts[0]) == set(PromptSet.KEYS) | {"memorization", "trajectory", "gt_videos"}
    assert [prompts[i]["label"] for i in range(15)] == [1] * 5 + [0] * 10
    assert [prompts[i]["memorization"] for i in range(15)] == ["content"] * 2 + ["motion"] * 3 + ["none"] * 10
    assert prompts.sample_id(14) == "moving_digits_all-14" and prompts[14]["prompt"] == "digit nine moving"
    for i in range(len(prompts)):
        item = prompts[i]
        members = train.data.items_of.get(item["prompt"], [])
        if item["memorization"] == "none":
            assert item["gt_videos"] == [] and torch.isnan(item["trajectory"]).all()
            continue
        expected = members[:1] if item["memorization"] == "content" else members
        assert len(item["gt_videos"]) == (1 if item["memorization"] == "content" else 4)
        assert torch.equal(item["trajectory"], train[members[0]]["trajectory"])
        for clip, n in zip(item["gt_videos"], expected, strict=True):
            assert clip.shape == (8, 24, 24, 3) and clip.dtype == np.uint8
            np.testing.assert_array_equal(clip[..., 0], np.rint(train.videos[n, :, 0].numpy() * 255).astype(np.uint8))
    served = prompts[0]
    served["gt_videos"][0][:] = 0
    assert prompts[0]["gt_videos"][0].any()  # items are copies
    batch = collate_ragged([prompts[2], prompts[3], prompts[5]], ("gt_images", "gt_videos", "paraphrases",
                                                                  "token_ids"))
    assert [len(v) for v in batch["gt_videos"]] == [4, 4, 0] and batch["trajectory"].shape == (3, 6)
    memorized = MovingDigitsPrompts(**SMALL, part="memorized")
    nonmemorized = MovingDigitsPrompts(**SMALL, part="nonmemorized")
    assert (len(memorized), len(nonmemorized), memorized.label, nonmemorized.label) == (5, 10, 1, 0)
    assert nonmemorized[0]["index"] == 5 and nonmemorized.sample_id(0) == "moving_digits_nonmemorized-5"
    words = {word for caption in MovingDigitsTrain().captions for word in caption.split()}
    default = DATASETS.build({"type": "MovingDigitsPrompts"})
    assert all(set(default[i]["prompt"].split()) <= words for i in range(len(default)))



def test_baseline_references_pair_class_prompts_with_planted_ones():
    plain = MovingDigitsPrompts(**SMALL)
    for kind, planted in (("content", [0, 1]), ("motion", [2, 3, 4])):
        prompts = MovingDigitsPrompts(**SMALL, baseline_references=kind)
        for k in range(10):
            item, source = prompts[5 + k], prompts[planted[k % len(planted)]]
            assert item["label"] == 0 and item["memorization"] == "none"
            assert len(item["gt_videos"]) == len(source["gt_videos"]) == (1 if kind == "content" else 4)
            for clip, expected in zip(item["gt_videos"], source["gt_videos"], strict=True):
                np.testing.assert_array_equal(clip, expected)
        for i in range(5):  # the planted prompts keep their own references
            assert len(prompts[i]["gt_videos"]) == len(plain[i]["gt_videos"])
        assert prompts.fingerprint() != plain.fingerprint() and prompts.describe()["baseline_references"] == kind
    with pytest.raises(ValueError, match=r"baseline_references must be one of \('none', 'content', 'motion'\)"):
        MovingDigitsPrompts(**SMALL, baseline_references="all")
    with pytest.raises(ValueError, match=r"baseline_references='motion' needs at least one planted prompt"):
        MovingDigitsPrompts(**{**SMALL, "num_motion": 0}, baseline_references="motion")


@pytest.mark.parametrize(("knobs", "message"), [
    ({"num_content": 13}, "num_content must be an integer in 0..12"),
    ({"num_content": 10, "num_motion": 5}, r"num_motion must be an integer in 0..4 \(2 \* num_content"),
    ({"copies": 0}, "copies must be an integer in 1..1024"),
    ({"canvas": 10}, r"canvas must be an integer in 12..256 \(the 8x8 digit needs room to move"),
    ({"frames": 12, "canvas": 16}, r"canvas=16 leaves 8 pixels of travel .* fewer than frames - 1 = 11"),
    ({"num_ordinary": 999}, r"num_ordinary must be an integer in 0..996 \(the Digits train split has 1000"),
    ({"seed": 1.5}, "seed must be an integer"),
])
def test_bad_knobs_name_the_key_and_range(knobs, message):
    with pytest.raises(ValueError, match=f"MovingDigits: {message}"):
        MovingDigitsTrain(**knobs)


def test_bad_kinds_and_part_name_the_choices():
    with pytest.raises(ValueError, match=r"kinds must be a non-empty subset of \('ordinary', 'content', 'motion'\)"):
        MovingDigitsTrain(kinds=("copied",))
    with pytest.raises(ValueError, match=r"part must be one of \('all', 'memorized', 'nonmemorized'\), got 'mem'"):
        MovingDigitsPrompts(part="mem")
