"""Action segmentation Acc / Edit / F1@k: hand-computed values, the official quirks, parity with a plain port of
MS-TCN / DiffAct ``utils.py`` (``get_labels_start_end_time``, ``levenstein``, ``f_score``, ``func_eval``)."""
import math

import numpy as np
import pytest
import torch

from action_segmentation_reference import reference_counts, reference_edit, reference_scores, reference_segments
from bench.metrics.action_segmentation import (
    ActionSegmentationScores,
    edit_score,
    label_segments,
    levenshtein,
    segment_counts,
)
from bench.registry import METRICS, TASKS
from bench.tasks.action_segmentation import ActionSegmentationTask

NAMES = ["background", "a", "b", "c"]
BG = ("background",)


def reference_scores_of_ids(predictions, targets, class_names, background=BG):
    """The reference port on label names (target -100 becomes a name no prediction has)."""
    pred = [[class_names[i] for i in p.tolist()] for p in predictions]
    target = [[class_names[i] if i != -100 else None for i in t.tolist()] for t in targets]
    return reference_scores(pred, target, background)


def same(x: float, y: float) -> bool:
    return x == y or (math.isnan(x) and math.isnan(y))


def ids(*names_):
    return torch.tensor([NAMES.index(n) for n in names_], dtype=torch.int64)


# --- segments ---------------------------------------------------------------------------------------------------

def test_final_segment_ends_at_len_minus_one():
    assert label_segments(["a", "a", "b", "b", "b"]) == (["a", "b"], [0, 2], [2, 4])  # not [2, 5]
    assert label_segments(["bg", "a", "a", "bg", "b"], ["bg"]) == (["a", "b"], [1, 4], [3, 4])
    assert label_segments(torch.tensor([3, 3, 1])) == ([3, 1], [0, 2], [2, 2])
    assert label_segments([]) == ([], [], [])


def test_final_segment_end_changes_iou():
    # pred a[0,3] b[3,5]; target a[0,4] b[4,5]  (ends of the last segments are len - 1 = 5, not 6)
    # a: (3 - 0) / (4 - 0) = 0.75 -> hit at 0.6;  b: (5 - 4) / (5 - 3) = 0.5 -> miss at 0.6 (with end 6: 2/3, a hit)
    pred, target = list("aaabbb"), list("aaaabb")
    assert segment_counts(pred, target, 0.6) == (1, 1, 1)
    assert segment_counts(pred, target, 0.5) == (2, 0, 0)


def test_one_frame_final_segments_never_match():
    # both end in b[2,2]: intersection 0, union 0 -> NaN IoU, which numpy's argmax picks and ">=" rejects
    assert segment_counts(list("aab"), list("aab"), 0.1) == (1, 1, 1)
    assert edit_score(list("aab"), list("aab")) == 1.0


def test_levenshtein_and_edit():
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein([], [1, 2]) == 2 and levenshtein([1], []) == 1 and levenshtein([], []) == 0
    # segments [a, b, c] vs [a, c]: one deletion, 1 - 1/3
    assert edit_score(list("aabbbc"), list("aaaccc")) == pytest.approx(2 / 3, abs=1e-15)


def test_edit_is_nan_when_both_have_only_background():
    # max(0, 0) = 0: the official divides 0 by 0 in numpy float64 -> NaN, and so does the dataset mean
    assert math.isnan(edit_score(["background"] * 3, ["background"] * 3, BG))
    metric = ActionSegmentationScores(NAMES)
    scores = metric.compute({"prediction": [ids("background", "a"), ids("background", "background")],
                             "target": [ids("a", "a"), ids("background", "background")]})
    assert math.isnan(scores["Edit"]) and scores["Acc"] == 0.75


def test_video_without_target_segments_counts_false_positives():
    assert segment_counts(["a", "b", "background"], ["background"] * 3, 0.1, BG) == (0, 2, 0)


# --- the metric -------------------------------------------------------------------------------------------------

def two_videos():
    # video 1 (T=10): target a a a a a b b b b b -> a[0,5] b[5,9];  prediction a x10 -> a[0,9]
    # video 2 (T=10): target _ _ c c c c c c _ _ -> c[2,8] (background dropped)
    #                 prediction c c c c b b c c b b -> c[0,4] b[4,6] c[6,8] b[8,9]
    target = [ids(*"aaaaabbbbb"), ids("background", "background", *"cccccc", "background", "background")]
    prediction = [ids(*"aaaaaaaaaa"), ids(*"ccccbbccbb")]
    return {"prediction": prediction, "target": target}


def test_hand_computed_two_videos():
    scores = ActionSegmentationScores(NAMES).compute(two_videos())
    # Acc pooled: video 1 has 5 of 10 frames right, video 2 frames 2, 3, 6, 7 -> (5 + 4) / 20
    assert scores["Acc"] == 0.45
    # Edit per video: [a] vs [a, b] -> 1 - 1/2;  [c, b, c, b] vs [c] -> 1 - 3/4;  mean (0.5 + 0.25) / 2
    assert scores["Edit"] == 0.375
    # video 1: a[0,9] vs a[0,5]: IoU 5/9 -> tp 1, fp 0, fn 1 at every threshold
    # video 2: c[0,4] vs c[2,8]: IoU 2/8 = 0.25; c[6,8] vs c[2,8]: 2/6, same target already hit; b's: other label
    #   @10 and @25 (0.25 >= 0.25): tp 1, fp 3, fn 0;  @50: tp 0, fp 4, fn 1
    # micro @10/@25: tp 2, fp 3, fn 1 -> P 2/5, R 2/3, F1 = (8/15) / (16/15) = 0.5
    # micro @50: tp 1, fp 4, fn 2 -> P 1/5, R 1/3, F1 = (2/15) / (8/15) = 0.25
    assert scores["F1@10"] == pytest.approx(0.5, abs=1e-15)
    assert scores["F1@25"] == pytest.approx(0.5, abs=1e-15)
    assert scores["F1@50"] == pytest.approx(0.25, abs=1e-15)
    assert set(scores) == {"Acc", "Edit", "F1@10", "F1@25", "F1@50"}


def test_micro_f1_is_not_the_mean_of_per_video_f1():
    outputs = two_videos()
    metric = ActionSegmentationScores(NAMES)
    per_video = [metric.compute({k: [v[i]] for k, v in outputs.items()})["F1@10"] for i in range(2)]
    # video 1: P 1, R 1/2 -> 2/3;  video 2: P 1/4, R 1 -> 0.4;  their mean 8/15, the micro value 0.5
    assert per_video == pytest.approx([2 / 3, 0.4], abs=1e-15)
    assert sum(per_video) / 2 == pytest.approx(8 / 15, abs=1e-15)
    assert metric.compute(outputs)["F1@10"] == pytest.approx(0.5, abs=1e-15)


def test_background_is_excluded_by_exact_name():
    names = ["background", "action_start", "a"]
    outputs = {"prediction": [torch.tensor([2, 2, 2, 2, 0, 0])],  # a[0,4]; background dropped
               "target": [torch.tensor([1, 1, 2, 2, 0, 0])]}  # action_start[0,2] a[2,4]; background dropped
    scores = ActionSegmentationScores(names).compute(outputs)
    # [a] vs [action_start, a] -> 1 - 1/2 (1.0 if action_start were dropped, 2/3 if background were kept)
    assert scores["Edit"] == 0.5
    # a[0,4] vs a[2,4]: IoU 2/4 -> tp 1, fn 1 (action_start) -> P 1, R 1/2, F1 2/3 at every threshold
    assert scores["F1@50"] == pytest.approx(2 / 3, abs=1e-15)
    kept = ActionSegmentationScores(names, background=("not_a_class",)).compute(outputs)
    assert kept["Edit"] == pytest.approx(2 / 3, abs=1e-15)  # [a, background] vs [action_start, a, background]
    assert ActionSegmentationScores(None).compute(outputs)["Edit"] == pytest.approx(2 / 3, abs=1e-15)


def test_unmapped_target_frames():
    outputs = {"prediction": [torch.tensor([0, 0, 0, 1, 1, 1])], "target": [torch.tensor([0, 0, -100, -100, 1, 1])]}
    scores = ActionSegmentationScores(["a", "b"]).compute(outputs)
    # frames 2 and 3 never match -> 4/6; segments P [a, b], Y [a, -100, b] -> 1 - 1/3
    assert scores["Acc"] == 4 / 6
    assert scores["Edit"] == pytest.approx(2 / 3, abs=1e-15)
    # a[0,3] vs a[0,2]: 2/3; b[3,5] vs b[4,5]: 1/2 -> tp 2, fp 0, fn 1 (the -100 segment) -> F1 = (4/3) / (5/3)
    assert scores["F1@50"] == pytest.approx(0.8, abs=1e-15)


def test_class_names_from_a_mapping_file(tmp_path):
    mapping = tmp_path / "mapping.txt"
    mapping.write_text("".join(f"{i} {name}\n" for i, name in enumerate(NAMES)))
    from_file = METRICS.build({"type": "ActionSegmentationScores", "class_names": str(mapping)})
    assert from_file.class_names == NAMES
    assert from_file.compute(two_videos()) == ActionSegmentationScores(NAMES).compute(two_videos())
    mapping.write_text("0 a\n1\n")
    with pytest.raises(ValueError, match="mapping.txt, line 2"):
        ActionSegmentationScores(str(mapping))


def test_length_mismatch_names_the_video():
    outputs = two_videos()
    outputs["prediction"][1] = outputs["prediction"][1][:7]
    with pytest.raises(ValueError, match="video 1: prediction has 7 frames, target has 10"):
        ActionSegmentationScores(NAMES).compute(outputs)
    with pytest.raises(ValueError, match="2 predicted videos for 1 target"):
        ActionSegmentationScores(NAMES).compute({"prediction": outputs["prediction"], "target": outputs["target"][:1]})


# --- parity with the reference port ----------------------------------------------------------------------------

def random_video(rng, length, num_classes, max_segments):
    """Frame labels of ``length`` frames in 1..max_segments runs of random classes (neighbours may repeat)."""
    count = int(rng.integers(1, min(length, max_segments) + 1))
    cuts = np.sort(rng.choice(np.arange(1, length), size=count - 1, replace=False))
    sizes = np.diff(np.concatenate([[0], cuts, [length]]))
    return np.repeat(rng.integers(0, num_classes, size=count), sizes)


def random_outputs(seed, videos, num_classes):
    rng = np.random.default_rng(seed)
    prediction, target = [], []
    for _ in range(videos):
        length = int(rng.integers(1, 60))
        prediction.append(torch.from_numpy(random_video(rng, length, num_classes, 12)))
        labels = random_video(rng, length, num_classes, 8)
        labels[rng.random(length) < 0.05] = -100
        target.append(torch.from_numpy(labels))
    return {"prediction": prediction, "target": target}


def test_parity_with_the_reference_port_on_random_videos():
    names = ["background", "action_start", "a", "b", "c"]  # class 0 is excluded, class 1 is not
    outputs = random_outputs(0, 50, len(names))
    ours = ActionSegmentationScores(names).compute(outputs)
    theirs = reference_scores_of_ids(outputs["prediction"], outputs["target"], names)
    assert all(same(ours[k], theirs[k]) for k in theirs), (ours, theirs)
    for pred_ids, target_ids in zip(outputs["prediction"], outputs["target"], strict=True):
        pred = [names[i] for i in pred_ids.tolist()]
        target = [names[i] if i >= 0 else "unmapped" for i in target_ids.tolist()]
        assert label_segments(target, BG) == reference_segments(target, BG)
        assert same(edit_score(pred, target, BG), reference_edit(pred, target, BG))
        for overlap in (0.1, 0.25, 0.5):
            assert segment_counts(pred, target, overlap, BG) == reference_counts(pred, target, overlap, BG)


def test_parity_holds_across_chunks(monkeypatch):
    import bench.metrics.action_segmentation as module

    outputs = random_outputs(2, 40, 4)  # seed 2: no video with only background, so Edit is a number
    whole = ActionSegmentationScores(NAMES).compute(outputs)
    chunks = []
    rows = module._levenshtein_rows
    monkeypatch.setattr(module, "_levenshtein_rows", lambda p, t: chunks.append(len(p.count)) or rows(p, t))
    monkeypatch.setattr(module, "_CHUNK_CELLS", 16)  # many small chunks of similar segment counts
    chunked = ActionSegmentationScores(NAMES).compute(outputs)
    assert len(chunks) > 5 and sum(chunks) == 40
    theirs = reference_scores_of_ids(outputs["prediction"], outputs["target"], NAMES)
    assert whole == chunked == theirs


# --- the task ---------------------------------------------------------------------------------------------------

def test_task_scores_and_draws_a_barcode(tmp_path):
    mapping = tmp_path / "mapping.txt"
    mapping.write_text("".join(f"{i} {name}\n" for i, name in enumerate(NAMES)))
    task = TASKS.build({"type": "action_segmentation", "class_names": str(mapping)})
    assert isinstance(task, ActionSegmentationTask)
    outputs = two_videos()
    outputs["target"][0][3] = -100
    assert task.evaluate(outputs)["Edit"] == ActionSegmentationScores(NAMES).compute(outputs)["Edit"]
    assert task.num_classes(outputs) == 4
    figures = task.write_figures(outputs, tmp_path / "figures", title="video 0")
    path = figures["barcode"]
    assert path == tmp_path / "figures" / "barcode.png" and path.stat().st_size > 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_task_without_class_names_excludes_nothing_and_infers_classes():
    task = ActionSegmentationTask()
    outputs = {"prediction": [torch.tensor([0, 0, 5])], "target": [torch.tensor([0, 0, -100])]}
    assert task.metrics[0].background_ids == []
    assert task.num_classes(outputs) == 6


def test_prediction_key_and_prefix_score_another_column():
    outputs = two_videos()
    plain = ActionSegmentationScores(NAMES).compute(outputs)
    encoder = ActionSegmentationScores(NAMES, prediction_key="encoder_prediction", prefix="encoder_")
    assert encoder.required == ("encoder_prediction", "target") and encoder.prefix == "encoder_"
    # compute returns bare names; the task puts the prefix before each
    assert encoder.compute({"encoder_prediction": outputs["prediction"], "target": outputs["target"]}) == plain
    task = ActionSegmentationTask(metrics=[{"type": "ActionSegmentationScores"}, {
        "type": "ActionSegmentationScores", "prediction_key": "encoder_prediction", "prefix": "encoder_"}],
        class_names=NAMES)
    scores = task.evaluate({**outputs, "encoder_prediction": outputs["prediction"]})
    assert scores == {**plain, **{f"encoder_{name}": value for name, value in plain.items()}}
