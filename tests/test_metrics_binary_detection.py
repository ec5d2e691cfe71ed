import math

import pytest
import torch

from bench.metrics.binary_detection import FrameAccuracy, FrameAUC, VideoAUC
from bench.registry import TASKS


def frames(scores: list[float], targets: list[int], videos: list[str] | None = None) -> dict:
    """Outputs as the store holds them: float32 scores, int64 targets, a list of video ids."""
    out = {"score": torch.tensor(scores, dtype=torch.float32), "target": torch.tensor(targets)}
    if videos is not None:
        out["video_id"] = videos
    return out


def test_frame_auc_by_hand_with_one_swapped_pair():
    # fake 0.9, 0.4 against real 0.2, 0.6: of the 4 (fake, real) pairs only (0.4, 0.6) is ranked wrongly
    assert FrameAUC().compute(frames([0.9, 0.2, 0.4, 0.6], [1, 0, 1, 0]))["frame AUC"] == pytest.approx(0.75)


def test_frame_auc_counts_a_tie_as_half_a_pair():
    # fake 0.5, 0.8 against real 0.5, 0.1: pairs 1/2 + 1 + 1 + 1 of 4
    assert FrameAUC().compute(frames([0.5, 0.8, 0.5, 0.1], [1, 1, 0, 0]))["frame AUC"] == pytest.approx(0.875)


def test_frame_auc_matches_sklearn_on_random_data_with_ties():
    from sklearn.metrics import roc_auc_score

    gen = torch.Generator().manual_seed(0)
    target = torch.randint(0, 2, (500,), generator=gen)
    score = (torch.rand(500, generator=gen) * 0.5 + 0.3 * target).round(decimals=1)  # few distinct values: ties
    assert len(torch.unique(score)) < 12
    ours = FrameAUC().compute({"score": score, "target": target})["frame AUC"]
    assert ours == roc_auc_score(target.numpy(), score.double().numpy())


def test_frame_auc_names_the_class_counts_when_one_class_is_missing():
    with pytest.raises(ValueError, match=r"3 negative \(real\) and 0 positive \(fake\) frames"):
        FrameAUC().compute(frames([0.1, 0.7, 0.4], [0, 0, 0]))


def test_targets_must_be_zero_or_one():
    with pytest.raises(ValueError, match=r"0/1 targets.*\[0.0, 1.0, 2.0\]"):
        FrameAUC().compute(frames([0.1, 0.7, 0.4], [0, 1, 2]))


def test_frame_accuracy_counts_a_score_at_the_threshold_as_fake():
    out = frames([0.5, 0.49, 0.2, 0.8, 0.5], [1, 1, 0, 0, 0])
    values = FrameAccuracy().compute(out)
    # predicted fake: 0.5, 0.8, 0.5 -> correct: yes, no, yes, no, no
    assert values == pytest.approx({"frame ACC": 2 / 5, "real ACC": 1 / 3, "fake ACC": 1 / 2})
    assert FrameAccuracy(threshold=0.45).compute(out)["fake ACC"] == 1.0


def test_frame_accuracy_of_an_absent_class_is_nan_and_names_are_configurable():
    values = FrameAccuracy(class_names=("member", "non-member")).compute(frames([0.9, 0.1], [1, 1]))
    assert values["frame ACC"] == 0.5 and values["non-member ACC"] == 0.5 and math.isnan(values["member ACC"])


# Videos (frames interleaved): a fake [0.9, 0.5] -> mean 0.7, b fake [0.3, 0.3, 0.85] -> 0.4833, c real [0.2, 0.8]
# -> 0.5, d real [0.1] -> 0.1. Mean AUC: a > c, a > d, b < c, b > d -> 3/4. Max: a 0.9, b 0.85, c 0.8, d 0.1 -> 1.
VIDEO_FRAMES = [("a", 0.9, 1), ("c", 0.2, 0), ("b", 0.3, 1), ("d", 0.1, 0), ("b", 0.3, 1), ("a", 0.5, 1),
                ("c", 0.8, 0), ("b", 0.85, 1)]


def video_outputs(order: list[int] | None = None) -> dict:
    rows = [VIDEO_FRAMES[i] for i in (order or range(len(VIDEO_FRAMES)))]
    return frames([s for _, s, _ in rows], [t for _, _, t in rows], [v for v, _, _ in rows])


def test_video_auc_averages_frame_scores_per_video_by_hand():
    values = VideoAUC().compute(video_outputs())
    assert values == {"video AUC": pytest.approx(0.75), "videos": 4.0}
    names, score, target = VideoAUC().video_scores(video_outputs())
    assert names == ["a", "b", "c", "d"]
    assert score.tolist() == pytest.approx([0.7, (0.3 + 0.3 + 0.85) / 3, 0.5, 0.1])
    assert target.tolist() == [1.0, 1.0, 0.0, 0.0]
    assert VideoAUC(aggregate="max").compute(video_outputs())["video AUC"] == 1.0


def test_video_auc_does_not_depend_on_frame_order_or_id_type():
    shuffled = VideoAUC().video_scores(video_outputs([7, 3, 1, 5, 0, 2, 6, 4]))
    assert shuffled[0] == ["a", "b", "c", "d"]
    assert shuffled[1].tolist() == pytest.approx(VideoAUC().video_scores(video_outputs())[1].tolist())
    out = video_outputs()
    out["video_id"] = torch.tensor([ord(v) for v in out["video_id"]])  # integer ids work too
    assert VideoAUC().compute(out)["video AUC"] == pytest.approx(0.75)


def test_video_auc_names_a_video_whose_frames_disagree_on_the_label():
    out = frames([0.1, 0.2, 0.3, 0.4], [0, 1, 1, 0], ["x", "y", "y", "x0"])
    assert VideoAUC().compute(out)["videos"] == 3.0
    out["target"] = torch.tensor([0, 1, 0, 0])
    with pytest.raises(ValueError, match=r"video 'y' disagree on the label \(1 real, 1 fake\)"):
        VideoAUC().compute(out)


def test_video_auc_needs_two_classes_of_videos_and_a_known_aggregate():
    with pytest.raises(ValueError, match=r"0 negative \(real\) and 2 positive \(fake\) videos"):
        VideoAUC().compute(frames([0.1, 0.9, 0.4], [1, 1, 1], ["a", "b", "a"]))
    with pytest.raises(ValueError, match="aggregate must be one of"):
        VideoAUC(aggregate="median")


def test_task_builds_from_the_registry_and_reports_the_three_metrics():
    task = TASKS.build({"type": "binary_detection"})
    values = task.evaluate(video_outputs())
    assert {"frame ACC", "frame AUC", "video AUC"} <= set(values)
    assert values["video AUC"] == pytest.approx(0.75)
    # frame pairs: fakes 0.9, 0.3, 0.3, 0.5, 0.85 against reals 0.2, 0.1, 0.8 -> 12 of 15 ranked right
    assert values["frame AUC"] == pytest.approx(12 / 15)


def test_task_names_missing_columns():
    task = TASKS.build({"type": "binary_detection"})
    with pytest.raises(KeyError, match=r"needs output column\(s\) \['score'\]"):
        task.check_outputs({"target": torch.tensor([0, 1]), "video_id": ["a", "b"]})
    with pytest.raises(KeyError, match="VideoAUC needs output column"):
        task.check_outputs(frames([0.1, 0.9], [0, 1]))
    frame_only = TASKS.build({"type": "binary_detection", "metrics": [{"type": "FrameAccuracy"}, {"type": "FrameAUC"}]})
    assert frame_only.evaluate(frames([0.1, 0.9], [0, 1]))["frame AUC"] == 1.0


def test_model_cost_reports_the_stored_params_and_macs():
    task = TASKS.build({"type": "binary_detection", "metrics": [{"type": "FrameAUC"}, {"type": "ModelCost"}]})
    out = frames([0.1, 0.9, 0.6], [0, 1, 0])
    out["params"] = torch.full((3,), 4_000_000)
    out["macs"] = torch.full((3,), 2_500_000_000)
    values = task.evaluate(out)
    assert values == {"frame AUC": 1.0, "params (M)": 4.0, "GMACs per image": 2.5}
