"""Non-finite values: row masks of dense and ragged columns, the per-column record and the task's check."""
import numpy as np
import pytest
import torch

from bench.finite import NonFiniteError, merge_record, nonfinite_mask, require_finite
from bench.tasks.detection import DetectionTask


def test_masks_of_dense_ragged_and_integer_columns():
    dense = torch.tensor([[1.0, 2.0], [float("inf"), 0.0], [0.0, float("nan")]])
    assert nonfinite_mask(dense).tolist() == [False, True, True]
    ragged = [torch.zeros(0, 4), np.array([[0, 0, 1, float("nan")]]), torch.ones(2, 4)]
    assert nonfinite_mask(ragged).tolist() == [False, True, False]
    assert nonfinite_mask(torch.tensor([1, 2])) is None and nonfinite_mask(["a", "b"]) is None


def test_record_counts_every_row_and_keeps_the_first_ids():
    record = merge_record({}, {"x": torch.tensor([True, False, True]), "y": torch.tensor([False] * 3)}, "abc", 3)
    merge_record(record, {"x": torch.tensor([True, True])}, ["d", "e"], 3)
    assert record == {"x": {"count": 4, "sample_ids": ["a", "c", "d"]}}


def test_detection_task_checks_boxes_and_scores_per_image():
    task = DetectionTask(metrics=[])
    table = {"sample_id": ["i1", "i2"], "image_id": torch.tensor([1, 2]),
             "det_bboxes": [torch.ones(1, 4), torch.ones(0, 4)], "det_scores": [torch.tensor([float("nan")]),
                                                                           torch.zeros(0)],
             "det_labels": [torch.tensor([0]), torch.zeros(0, dtype=torch.int64)]}
    assert task.nonfinite(table) == {"det_scores": {"count": 1, "sample_ids": ["i1"]}}


def test_require_finite_names_rows_without_sample_ids():
    with pytest.raises(NonFiniteError, match=r"M: 1 of 2 samples have non-finite \(NaN/Inf\) 'score': 1 sample\(s\) "
                                             r"\(ids 'row 1'\)"):
        require_finite({"score": torch.tensor([0.5, float("nan")])}, "score", "M")


def test_all_finite_agrees_with_the_elementwise_test_and_records_merge():
    from bench.finite import all_finite, merge_records

    x = torch.randn(50, 7)
    assert all_finite(x) and all_finite(torch.empty(0))  # the fast path: one sum
    for bad in (float("nan"), float("inf"), float("-inf")):
        y = x.clone()
        y[13, 2] = bad
        assert not all_finite(y)
    big = torch.full((4,), 3e38)  # the sum overflows to inf although every value is finite: the fallback decides
    assert all_finite(big)
    record = merge_records({}, {"logits": {"count": 2, "sample_ids": ["a", "b"]}}, shown=3)
    later = {"logits": {"count": 2, "sample_ids": ["c", "d"]}, "probs": {"count": 1, "sample_ids": ["e"]}}
    merge_records(record, later, shown=3)
    assert record == {"logits": {"count": 4, "sample_ids": ["a", "b", "c"]}, "probs": {"count": 1, "sample_ids": ["e"]}}
