import math

import pytest
import torch

from bench.finite import NonFiniteError
from bench.metrics.binary_detection import (BestBalancedAccuracy, DetectionAUC, FrameAccuracy, FrameAUC, TPRAtFPR,
                                            VideoAUC)
from bench.registry import METRICS, TASKS


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


# memorization-detection operating points (Wen's det_mem_viz.ipynb): positives = memorized prompts

def test_tpr_at_fpr_and_balanced_accuracy_by_hand():
    # positives 0.9, 0.8, 0.3; negatives 0.7, 0.2, 0.1. roc_curve keeps (fpr, tpr) = (0, 0), (0, 2/3), (1/3, 2/3),
    # (1/3, 1), (1, 1) (the collinear (0, 1/3) and (2/3, 1) are dropped). Last point with fpr < 0.01: (0, 2/3).
    # With max_fpr 0.5: (1/3, 1). (TPR + TNR) / 2 per point: 0.5, 5/6, 2/3, 5/6, 0.5 -> 5/6.
    out = frames([0.9, 0.8, 0.3, 0.7, 0.2, 0.1], [1, 1, 1, 0, 0, 0])
    assert TPRAtFPR().compute(out) == {"TPR@1%FPR": pytest.approx(2 / 3)}
    assert TPRAtFPR(max_fpr=0.5).compute(out) == {"TPR@50%FPR": 1.0}
    assert BestBalancedAccuracy().compute(out) == {"balanced ACC": pytest.approx(5 / 6)}
    # 8 of the 9 (positive, negative) pairs are ranked right (0.3 < 0.7)
    assert DetectionAUC().compute(out) == {"AUC": pytest.approx(8 / 9)}


def test_balanced_accuracy_is_wens_acc_not_the_plain_fraction_correct():
    # positives 0.9, 0.5; negatives 0.6, 0.4, 0.3, 0.2. At threshold 0.5: TPR 1, TNR 3/4 -> (1 + 3/4) / 2 = 0.875,
    # the maximum (0.9: (1/2 + 1) / 2 = 0.75; 0.6: (1/2 + 3/4) / 2 = 0.625). The best plain accuracy is 5/6
    # (5 of 6 right at 0.9 or at 0.5), which this metric does not report.
    out = frames([0.9, 0.5, 0.6, 0.4, 0.3, 0.2], [1, 1, 0, 0, 0, 0])
    assert BestBalancedAccuracy().compute(out)["balanced ACC"] == pytest.approx(0.875)


def test_tpr_at_fpr_is_strictly_below_the_target_fpr():
    # 100 negatives, one of them (0.99) above every positive: its point is FPR 1/100 = 0.01, which is not < 0.01, so
    # TPR@1%FPR is the TPR at zero false positives: 0 (a "<=" rule would give the 8/10 reached at FPR 0.01)
    negatives = [0.99] + [i / 250 for i in range(99)]
    positives = [0.91 + i / 100 for i in range(8)] + [0.1, 0.2]
    out = frames(positives + negatives, [1] * 10 + [0] * 100)
    assert TPRAtFPR().compute(out)["TPR@1%FPR"] == 0.0
    assert TPRAtFPR(max_fpr=0.0101).compute(out)["TPR@1.01%FPR"] == pytest.approx(0.8)


def test_tpr_at_fpr_uses_roc_curve_with_its_dropped_intermediate_points_as_wen():
    # 300 negatives; (positive, negative) ties at 0.99, 0.98 and 0.97 give the counts (1,1), (2,2), (3,3): the middle
    # point (FPR 2/300, TPR 0.2) is collinear and roc_curve drops it (drop_intermediate=True, Wen's call); (3,3) is
    # FPR 0.01, not below. So the last point below 1% FPR is (1/300, 0.1): TPR 0.1, not the 0.2 of the full curve.
    positives = [0.99, 0.98, 0.97] + [0.5] * 7
    negatives = [0.99, 0.98, 0.97] + [0.1] * 297
    out = frames(positives + negatives, [1] * 10 + [0] * 300)
    assert TPRAtFPR().compute(out)["TPR@1%FPR"] == pytest.approx(0.1)


def test_operating_points_match_wens_notebook_code_on_random_data():
    from sklearn import metrics
    import numpy as np

    gen = torch.Generator().manual_seed(1)
    target = torch.cat([torch.ones(300), torch.zeros(500)]).long()
    score = (torch.randn(800, generator=gen) + 2.5 * target).round(decimals=1)  # ties, heavy overlap in the tails
    fpr, tpr, _ = metrics.roc_curve(target.tolist(), score.double().tolist(), pos_label=1)  # the notebook's lines
    wen_auc, wen_acc = metrics.auc(fpr, tpr), np.max(1 - (fpr + (1 - tpr)) / 2)
    wen_low = tpr[np.where(fpr < .01)[0][-1]]
    out = {"score": score, "target": target}
    assert 0.0 < wen_low < 1.0 and 0.5 < wen_acc < 1.0
    assert TPRAtFPR().compute(out)["TPR@1%FPR"] == wen_low
    assert BestBalancedAccuracy().compute(out)["balanced ACC"] == wen_acc
    assert DetectionAUC().compute(out)["AUC"] == pytest.approx(wen_auc, abs=1e-12)


def test_operating_point_metrics_refuse_bad_input_and_build_with_a_prefix():
    with pytest.raises(ValueError, match=r"single class: 0 negative and 3 positive samples"):
        TPRAtFPR().compute(frames([0.1, 0.5, 0.9], [1, 1, 1]))
    with pytest.raises(ValueError, match=r"single class: 2 negative and 0 positive samples"):
        BestBalancedAccuracy().compute(frames([0.1, 0.5], [0, 0]))
    with pytest.raises(NonFiniteError, match=r"1 of 3 samples have non-finite"):
        TPRAtFPR().compute(frames([0.1, float("nan"), 0.9], [0, 1, 1]))
    for bad in (0, 1.5, "0.01", True):
        with pytest.raises(ValueError, match=r"max_fpr must be a number in \(0, 1\]"):
            TPRAtFPR(max_fpr=bad)
    metric = METRICS.build({"type": "TPRAtFPR", "max_fpr": 0.001, "prefix": "wen_"})
    assert metric.prefix == "wen_" and metric.name == "TPR@0.1%FPR"
    task = TASKS.build({"type": "binary_detection", "metrics": [{"type": "DetectionAUC"}, {"type": "TPRAtFPR"},
                                                                 {"type": "BestBalancedAccuracy", "prefix": "wen "}]})
    values = task.evaluate(frames([0.9, 0.8, 0.3, 0.7, 0.2, 0.1], [1, 1, 1, 0, 0, 0]))
    assert values == {"AUC": pytest.approx(8 / 9), "TPR@1%FPR": pytest.approx(2 / 3),
                      "wen balanced ACC": pytest.approx(5 / 6)}
